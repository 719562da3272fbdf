#!/bin/sh
# Set up (Debian packages, build), then run every test suite: core, gst, quality.
set -eu
cd "$(dirname "$0")"
tests/setup-debian.sh
# the GPU backends run on lavapipe and PoCL here: a missing one is a failure, not a skip
export SR_REQUIRE_BACKENDS="${SR_REQUIRE_BACKENDS-vulkan,opencl}"
meson test -C builddir --print-errorlogs "$@"
