#!/bin/sh
# The plugin carries sr-core (linked statically) and exports only its plugin descriptor:
# it needs no libsr-core at run time (no LD_LIBRARY_PATH or rpath under any prefix) and
# cannot bind to, or be bound by, another sr-core loaded in the same process.
#   tests/test-plugin-linkage.sh PLUGIN.so
set -eu
plugin=$1
needed=$(readelf -d "$plugin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
echo "NEEDED: $needed"
case "$needed" in *sr-core*) echo "FAIL: the plugin needs a shared sr-core"; exit 1 ;; esac
if readelf -d "$plugin" | grep -qE "\((RPATH|RUNPATH)\)"; then
  echo "FAIL: the plugin has an rpath"; exit 1
fi
exports=$(nm -D --defined-only "$plugin" | awk '{print $3}' | sort | tr '\n' ' ')
echo "exports: $exports"
[ "$exports" = "gst_plugin_superres_get_desc gst_plugin_superres_register " ] ||
  { echo "FAIL: the plugin exports more than its descriptor"; exit 1; }
echo PASS
