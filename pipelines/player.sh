#!/bin/sh
# Play a file (or URI) with x2 super-resolution in playbin's video-filter slot.
#   pipelines/player.sh /path/to/video.mp4
# playbin converts to a format superres takes; superres runs between decoder and sink.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 FILE-or-URI" >&2; exit 2; }
case "$1" in
  *://*) uri=$1 ;;
  *) uri="file://$(realpath "$1")" ;;
esac
exec gst-launch-1.0 playbin uri="$uri" \
  video-filter="videoconvert ! video/x-raw,format=I420 ! superres"
