#!/bin/sh
# The Debian package end to end: build it (dpkg-buildpackage -b -us -uc) from a copy of the
# source, install it system-wide (dpkg -i), run gst-inspect-1.0 and a pipeline with no
# environment variables set, build and run a program against the installed sr-core-1.0,
# then remove the packages again, also when a step fails.
#   tests/test-debian-package.sh SOURCE_DIR WORK_DIR
# Exit 77 (skipped) when this machine cannot do it: build dependencies missing (install
# them with tests/setup-debian.sh), not root (and no password-less sudo), or the package
# already installed here (it is left alone).
set -eu
src=$(realpath "$1")
work=$2
PKGS="gstreamer1.0-superres gst-superres-models libsr-core-1.0-0 libsr-core-1.0-dev"

skip() { echo "SKIP: $*"; exit 77; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  sudo -n true 2>/dev/null || skip "installing a package needs root or password-less sudo"
  SUDO="sudo -n"
fi
for p in $PKGS; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    skip "$p is already installed on this machine; not touching it"
  fi
done
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage missing (dpkg-dev)"

# a copy of the source as git sees it (tracked and untracked, not ignored), else all of it
rm -rf "$work"
mkdir -p "$work/src"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' - |
    xargs -0 cp -P --parents -t "$work/src")
else
  tar -C "$src" --exclude=./builddir --exclude=./.git -cf - . | tar -C "$work/src" -xf -
fi
cd "$work/src"
missing=$(dpkg-checkbuilddeps 2>&1) || skip "build dependencies missing: ${missing#*: }"

echo "== dpkg-buildpackage -b -us -uc"
DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" dpkg-buildpackage -b -us -uc > ../build.log 2>&1 ||
  { tail -40 ../build.log; echo "FAIL: dpkg-buildpackage (log: $work/build.log)"; exit 1; }
cd "$work"
ls -1 ./*.deb

# one installer at a time on this machine; the packages go away whatever happens below
exec 9>/tmp/gst-superres-deb-test.lock
flock 9
remove() {
  status=$?
  $SUDO dpkg --purge $PKGS > remove.log 2>&1 || { cat remove.log; status=1; }
  left=""
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" && left="$left $p"
  done
  if [ -n "$left" ]; then echo "FAIL: still installed:$left"; status=1; else echo "removed: $PKGS"; fi
  exit $status
}
trap remove EXIT
trap 'exit 1' INT TERM HUP
echo "== dpkg -i"
debs=""
for p in $PKGS; do debs="$debs $(ls ./${p}_*.deb)"; done
$SUDO dpkg -i $debs

clean_env() { env -i "$@"; }
echo "== gst-inspect-1.0 superres (empty environment)"
clean_env /usr/bin/gst-inspect-1.0 superres > inspect.txt
grep -E "Filename|Version" inspect.txt
grep -q "/gstreamer-1.0/libgstsuperres.so" inspect.txt
# GStreamer's own plugin directory, not a prefix it does not search
plugin=$(pkg-config --variable=pluginsdir gstreamer-1.0)/libgstsuperres.so
[ -f "$plugin" ] || { echo "FAIL: $plugin not installed"; exit 1; }

# docs (dh_compress gzips the larger ones) and the licence
for f in copyright README.md element-superres.md; do
  ls /usr/share/doc/gstreamer1.0-superres/$f /usr/share/doc/gstreamer1.0-superres/$f.gz \
    2>/dev/null | grep -q . || { echo "FAIL: /usr/share/doc/gstreamer1.0-superres/$f not installed"; exit 1; }
done

echo "== a pipeline (empty environment): 64x48 -> 128x96, the installed model"
clean_env /usr/bin/gst-launch-1.0 -q videotestsrc num-buffers=5 ! \
  video/x-raw,format=I420,width=64,height=48 ! superres ! \
  video/x-raw,width=128,height=96 ! fakesink
# the plugin carries sr-core (no libsr-core at run time) and no path into a source tree
if ldd "$plugin" | grep -q sr-core; then echo "FAIL: the plugin needs libsr-core"; exit 1; fi
for f in "$plugin" /usr/lib/*/libsr-core-1.0.so.0; do
  if grep -qF "$src" "$f"; then echo "FAIL: $f names the source tree $src"; exit 1; fi
done

echo "== an application against sr-core-1.0 (pkg-config; the installed model)"
pc_requires=$(pkg-config --print-requires --print-requires-private sr-core-1.0)
[ "$pc_requires" = "glib-2.0" ] || { echo "FAIL: sr-core-1.0.pc requires: $pc_requires"; exit 1; }
cat > app.c <<'APP'
#include <sr-core/sr-core.h>
#include <stdio.h>
int main (void) {
  char *path = sr_model_find_default ();
  GError *error = NULL;
  SrModel *model = path ? sr_model_load (path, &error) : NULL;
  if (!model) { fprintf (stderr, "no model: %s\n", error ? error->message : "none found"); return 1; }
  SrEngineConfig config;
  sr_engine_config_init (&config);
  config.backend = SR_BACKEND_CPU;
  SrEngine *engine = sr_engine_new (model, &config, &error);
  guint8 in[16 * 16], out[32 * 32];
  for (int i = 0; i < 16 * 16; i++) in[i] = (guint8) (i * 7);
  SrPlane src = { in, 16, 16, 16, 1 }, dst = { out, 32, 32, 32, 1 };
  if (!engine || !sr_engine_upscale_luma (engine, &src, &dst, &error)) {
    fprintf (stderr, "%s\n", error->message); return 1;
  }
  printf ("sr-core %s (headers %s), %s, model %s\n", sr_core_get_version (NULL, NULL, NULL),
      SR_CORE_VERSION_STRING, sr_engine_get_device_name (engine), path);
  sr_engine_free (engine); sr_model_free (model); g_free (path);
  return SR_CORE_CHECK_VERSION (0, 1, 0) ? 0 : 1;
}
APP
cc -o app app.c $(pkg-config --cflags --libs sr-core-1.0)
clean_env ./app
echo "PASS"
