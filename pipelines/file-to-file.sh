#!/bin/sh
# Upscale any video file x2 into a Matroska file (MJPEG, quality 95; audio dropped).
#   pipelines/file-to-file.sh in.mp4 out.mkv [superres properties...]
# Run from a build tree with GST_PLUGIN_PATH=builddir/gst, or after `meson install`.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 IN OUT.mkv [superres properties...]" >&2; exit 2; }
in=$1 out=$2
shift 2
exec gst-launch-1.0 -e filesrc location="$in" ! decodebin ! videoconvert ! \
  video/x-raw,format=I420 ! superres "$@" ! videoconvert ! jpegenc quality=95 ! \
  matroskamux ! filesink location="$out"
