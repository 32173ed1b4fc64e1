"""Edge video: RTSP ingest, recording by remux, segments, clips, snapshots, retention, the test camera.

Modules by role:

- :mod:`.service`    the recording service (``guardian-edge recorder run``): cameras, recorders, retention
- :mod:`.ingest`     opening RTSP streams, classifying failures, reconnect with backoff (shared machinery)
- :mod:`.frames`     decoded frames at a chosen rate for detection (:class:`~.frames.FrameReader`)
- :mod:`.decode_path` which decoder the detection stream goes through (software, Quick Sync, VAAPI) and why
- :mod:`.recording`  the per-camera recorder: packets copied into fixed-length segments
- :mod:`.segments`   the footage index (segments, clips) in the edge database; crash recovery of segment files
- :mod:`.cameras`    the camera table (config, status)
- :mod:`.status`     per-camera status (connecting / streaming / failed with a reason)
- :mod:`.clips`      :func:`~.clips.assemble_clip`: one faststart MP4 out of segments
- :mod:`.mp4`        reading MP4 files back (span, codec) and cutting them back to whole fragments
- :mod:`.snapshots`  :func:`~.snapshots.write_snapshot`: a JPEG and a thumbnail of a frame
- :mod:`.retention`  age per class and a disk watermark
- :mod:`.fake_camera` the RTSP test camera (system Python + GStreamer; imports nothing from here)

This package's ``__init__`` imports nothing so that ``fake_camera`` runs without the venv's packages.
"""
