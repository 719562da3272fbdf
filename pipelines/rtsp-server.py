#!/usr/bin/python3
"""Serve a video file or a live source over RTSP, upscaled x2 by `superres` (H.264).

  pipelines/rtsp-server.py in.mp4                  # rtsp://127.0.0.1:8554/superres
  pipelines/rtsp-server.py --live "v4l2src"        # a camera (any live source description)
  pipelines/rtsp-server.py --live "videotestsrc is-live=true ! video/x-raw,width=640,height=360"
  options: --address 0.0.0.0 --port 8554 (0: any free port) --mount /superres
           --props "n-threads=2" (superres properties) --bitrate 4000 (kbit/s)

Watch it with `gst-play-1.0 rtsp://127.0.0.1:8554/superres` (or VLC, ffplay). A file is
played from its start for each client, in real time: the machine must keep up with it
(decode, superres, H.264 encode), else frames arrive late and clients (rtspsrc) end the
stream at the file's duration, before its last frames. A live source is shared by all
clients and sits behind a leaky queue, so it never waits for the upscaler (frames the
upscaler cannot take in time are dropped before it, not queued). Prints "serving URL"
once it listens.
Uses GstRtspServer (Debian: gir1.2-gst-rtsp-server-1.0) and openh264enc (plugins-bad).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gsttools import Gst  # noqa: E402

import gi  # noqa: E402
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, GstRtspServer  # noqa: E402


def launch_description(args):
    """The media pipeline: source, superres, H.264, RTP payloader `pay0`."""
    if args.live:
        source = '%s ! queue leaky=downstream max-size-buffers=1 max-size-time=0 max-size-bytes=0' % args.live
    else:
        uri = args.input if '://' in args.input else Gst.filename_to_uri(os.path.abspath(args.input))
        source = 'uridecodebin uri="%s"' % uri  # other streams (audio) stay unlinked
    return ('( %s ! videoconvert ! video/x-raw,format=I420 ! superres %s ! '
            'openh264enc bitrate=%d complexity=low ! h264parse ! '
            'rtph264pay name=pay0 pt=96 config-interval=-1 )'
            % (source, args.props, args.bitrate * 1000))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('input', nargs='?', help='a video file or URI')
    ap.add_argument('--live', help='a live source (gst-launch description) instead of a file')
    ap.add_argument('--address', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=8554)
    ap.add_argument('--mount', default='/superres')
    ap.add_argument('--props', default='', help='superres properties, e.g. "n-threads=2"')
    ap.add_argument('--bitrate', type=int, default=4000, help='H.264 kbit/s')
    args = ap.parse_args()
    if bool(args.input) == bool(args.live):
        ap.error('give a file or --live SOURCE')
    Gst.init(None)
    for element in ('superres', 'openh264enc', 'h264parse', 'rtph264pay'):
        if not Gst.ElementFactory.find(element):
            sys.exit('missing element %s (see the docstring for packages; superres uninstalled: '
                     'meson devenv -C builddir)' % element)

    server = GstRtspServer.RTSPServer(address=args.address, service=str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(args))
    factory.set_shared(bool(args.live))
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        sys.exit('cannot listen on %s:%d' % (args.address, args.port))
    print('serving rtsp://%s:%d%s' % (args.address, server.get_bound_port(), args.mount), flush=True)
    try:
        GLib.MainLoop().run()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
