"""Live view on the edge (#18): the camera's H.264 to a viewer's browser over WebRTC, never decoded.

- :mod:`~agents.edge.live.hub` — :class:`LiveHub`: takes a viewer's SDP offer for a camera and returns the
  answer; shares one camera read among all viewers of a stream and stops it when the last one leaves.
- :mod:`~agents.edge.live.reader` — one camera stream demuxed with PyAV in a thread (the recorder's
  reconnect machinery), packets fanned out to the viewers' tracks.
- :mod:`~agents.edge.live.gop` — the packets since the camera's last keyframe, so a viewer joining a read
  already running starts at once instead of at the next keyframe.
- :mod:`~agents.edge.live.track` — a viewer's track: starts at a keyframe, drops a backlog rather than
  delaying; aiortc packetises its ``av.Packet``\\ s as they are (no decode, no re-encode).
- :mod:`~agents.edge.live.session` — one aiortc peer connection per viewer, ICE through the relay's TURN
  only, with a time-limited credential; ends on viewer close, deadline or request.
- :mod:`~agents.edge.live.h264` — NAL units, SPS, and answering with the camera's own H.264 profile.

Signalling (offer in, answer out, over the relay) and tokens are the caller's job, not this package's.
"""
