#!/bin/sh
# Set up (Debian packages, build), then run every test suite: core, gst, quality.
set -eu
cd "$(dirname "$0")"
tests/setup-debian.sh
meson test -C builddir --print-errorlogs "$@"
