#!/bin/sh
# Install the Debian 12 packages gst-superres needs (only those missing; clang and libFuzzer
# for tests/fuzz) and build it into builddir/. Used by ./demo.sh and ./test.sh; run as root
# or with sudo available.
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential pkg-config meson ninja-build
  libglib2.0-dev libjson-glib-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav
  python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 python3-numpy python3-pil
  libvulkan-dev glslc mesa-vulkan-drivers ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd
  debhelper fakeroot gir1.2-gst-rtsp-server-1.0
  clang libclang-rt-14-dev"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

[ -f builddir/build.ninja ] || meson setup builddir
ninja -C builddir
