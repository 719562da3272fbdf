#!/bin/sh
# Set up (Debian packages, build), then upscale the bundled 360p clip x2 with `superres`,
# print fps and PSNR against the 720p original, and write the upscaled video.
set -eu
cd "$(dirname "$0")"
tests/setup-debian.sh
mkdir -p builddir/demo
GST_PLUGIN_PATH="$PWD/builddir/gst" /usr/bin/python3 pipelines/upscale_clip.py \
  tests/data/clips/flowers-360p.mkv \
  --reference tests/data/clips/flowers-720p.h264 \
  --out builddir/demo/flowers-720p-superres.mkv \
  --json builddir/demo/report.json "$@"
