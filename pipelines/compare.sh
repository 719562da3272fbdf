#!/bin/sh
# superres vs bicubic on any clip (its frames are the ground truth; the LR is made by 2x
# bicubic downscaling): prints PSNR/SSIM and fps. See pipelines/compare.py --help.
#   pipelines/compare.sh clip.mp4 [--frames 60] [--props "n-threads=2"]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 CLIP [compare.py options]" >&2; exit 2; }
# uninstalled: use the build tree's plugin
[ -d "$here/../builddir/gst" ] && export GST_PLUGIN_PATH="$here/../builddir/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec /usr/bin/python3 "$here/compare.py" "$@"
