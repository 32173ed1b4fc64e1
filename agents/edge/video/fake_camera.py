"""``guardian-fake-camera``: a real RTSP camera stand-in serving real footage with GStreamer's RTSP server.

It loops an H.264 MP4 like a live camera: the file's H.264 is passed through (no re-encode), the loop is
gapless (a non-flushing segment seek at the end keeps the running time, so RTP timestamps keep rising
as they do from a real camera), and one pipeline per mount is shared by all its clients.

Like a real camera it cannot be seeked: the pipeline answers the server's SEEKING query with "no", so the
``Range`` of a client's PLAY (FFmpeg always sends ``npt=0.000-``) is ignored. Otherwise a client joining
a shared stream would make the server seek the pipeline back to 0 with a plain flushing seek: the other
clients' video would jump, and that seek replaces the segment seek, so at the end of that loop the file
would end with EOS, every client's stream would close and they would have to reconnect (a gap of
seconds in their recordings).

This module needs only the standard library and Debian's ``gi`` bindings (``python3-gi``,
``gir1.2-gst-rtsp-server-1.0``), which exist for the system Python, not for the project's venv. Run it
as ``/usr/bin/python3 -m agents.edge.video.fake_camera`` or ``/usr/bin/python3 path/to/fake_camera.py``;
the ``guardian-fake-camera`` console script re-executes itself with ``/usr/bin/python3`` when the
Python that started it cannot import ``gi``. Nothing here may import the rest of the project.

Once serving it prints one JSON line on stdout, ``{"event": "ready", "port": N, "mounts": [...]}``, so
a caller that asked for port 0 learns the port. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
DEFAULT_FOOTAGE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian")) / "vtest.mp4"


def _gst():
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    return GLib, Gst, GstRtspServer


def _launch_line(footage: Path) -> str:
    location = str(footage).replace('"', '\\"')
    # config-interval=-1: SPS/PPS with every keyframe, as cameras do, so a client joining mid-stream
    # can start decoding at the next keyframe.
    return (
        f'( filesrc location="{location}" ! qtdemux name=demux demux.video_0 ! queue '
        "! h264parse name=parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def build_server(footage: Path, address: str, port: int, mounts: Sequence[str], user: str | None,
                 password: str | None):
    GLib, Gst, GstRtspServer = _gst()

    def loop_on_end(media) -> None:
        pipeline = media.get_element()
        demux = pipeline.get_by_name("demux")
        parse = pipeline.get_by_name("parse")

        def seek(flags) -> None:
            demux.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1)

        def on_prepared(_media) -> None:
            # A segment seek makes the demuxer announce the end with SEGMENT_DONE instead of EOS. Done
            # here, before the handler returns: run from a thread, its flush could meet a second client's
            # PLAY, and gst-rtsp-server then aborts in gst_rtsp_media_get_rates (a stream without rates).
            seek(Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT)
            # The flush also takes the stream's segment away until the demuxer's new one reaches it; a
            # PLAY answered in between aborts the same way (tests/edge/live saw it). Wait for it, bounded.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not all(
                    media.get_stream(i).get_rates()[0] for i in range(media.n_streams())):
                time.sleep(0.005)

        def probe(_pad, info):
            event = info.get_event()
            if event is not None and event.type == Gst.EventType.SEGMENT_DONE:
                # Non-flushing: the new segment's base is the running time reached, so timestamps go on.
                # From another thread: the streaming thread that carries the event cannot seek itself.
                threading.Thread(target=seek, args=(Gst.SeekFlags.SEGMENT,), daemon=True).start()
            return Gst.PadProbeReturn.OK

        def unseekable(_pad, info):
            query = info.get_query()
            if query is not None and query.type == Gst.QueryType.SEEKING:
                # Answered as it comes: a new SEEKING query already says "not seekable". (Setting it
                # from Python fails anyway: the wrapper holds a second reference, so it is not writable.)
                return Gst.PadProbeReturn.HANDLED
            return Gst.PadProbeReturn.OK

        parse.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, probe)
        # Upstream of the payloader: the server's SEEKING query (check_seekable) reaches the source here.
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, unseekable)
        media.connect("prepared", on_prepared)

    server = GstRtspServer.RTSPServer()
    server.set_address(address)
    server.set_service(str(port))
    if user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password or ""), token)
        server.set_auth(auth)
    for mount in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_launch_line(footage))
        factory.set_shared(True)
        factory.connect("media-configure", lambda _f, media: loop_on_end(media))
        if user is not None:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role_from_structure(Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
            factory.set_permissions(permissions)
        server.get_mount_points().add_factory(mount, factory)
    return GLib, server


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="guardian-fake-camera", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FOOTAGE, help="H.264 MP4 to loop (default: %(default)s)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--mount", action="append", dest="mounts", help="mount path, repeatable (default: /cam)")
    parser.add_argument("--count", type=int, default=0, metavar="N", help="also serve /cam0 … /cam{N-1}")
    parser.add_argument("--user", help="require RTSP basic authentication with this user")
    parser.add_argument("--password", default=os.environ.get("FAKE_CAMERA_PASSWORD"),
                        help="password for --user (or $FAKE_CAMERA_PASSWORD)")
    args = parser.parse_args(argv)
    mounts = list(args.mounts or [])
    mounts += [f"/cam{i}" for i in range(args.count)]
    args.mounts = mounts or ["/cam"]
    return args


def serve(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.file.is_file():
        print(f"fake-camera: footage not found: {args.file} (run scripts/setup.sh)", file=sys.stderr)
        return 66  # EX_NOINPUT
    GLib, server = build_server(args.file, args.address, args.port, args.mounts, args.user, args.password)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"fake-camera: cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 69  # EX_UNAVAILABLE
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, lambda *_: (loop.quit(), False)[1])
    print(json.dumps({"event": "ready", "address": args.address, "port": server.get_bound_port(),
                      "mounts": args.mounts}), flush=True)
    loop.run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        import gi  # noqa: F401
    except ImportError:
        # The venv's Python has no `gi`; Debian's system Python does. Re-run this file with it.
        if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.path.exists(SYSTEM_PYTHON):
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__), *(argv if argv is not None else sys.argv[1:])])
        print("fake-camera: needs python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh)", file=sys.stderr)
        return 69
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main())
