#!/bin/sh
# Builds the libFuzzer harnesses (clang, ASan + UBSan) into builddir-fuzz/ and runs each for
# SECONDS (default 60), seeded from the shipped models; the corpora grow in
# builddir-fuzz/corpus-*/ from run to run. Any crash, leak, UB report or input slower than
# 10 s fails it (the input is saved as builddir-fuzz/crash-* etc.). docs/reliability.md.
#   tests/fuzz/run.sh [SECONDS] [extra libFuzzer flags, e.g. -jobs=2 -workers=2]
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
build=builddir-fuzz
if [ ! -f $build/build.ninja ]; then
  CC=clang meson setup $build -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dgst=disabled -Dvulkan=disabled -Dopencl=disabled -Dbuildtype=debugoptimized
fi
ninja -C $build tests/fuzz/fuzz-model tests/fuzz/fuzz-frame
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
for h in model frame; do
  mkdir -p $build/corpus-$h
  seeds=""
  [ $h = model ] && seeds=models
  echo "fuzz-$h: $seconds s"
  $build/tests/fuzz/fuzz-$h -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix=$build/ -print_final_stats=1 "$@" $build/corpus-$h $seeds 2>&1 |
    grep -E "^(stat::|Done|INFO: Seed|==|SUMMARY)|ERROR|runtime error" || true
  # grep hides the exit status: a finding leaves an artifact
  if ls $build/crash-* $build/leak-* $build/timeout-* $build/oom-* 2>/dev/null; then
    echo "fuzz-$h: FAILED (artifacts above)"
    exit 1
  fi
done
