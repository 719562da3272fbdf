#!/bin/bash
# The GPU machine's one run (docs/benchmarks.md, "GPU rows"): correctness of the Vulkan and
# OpenCL backends on the real drivers, then their speed at 640x360 -> 1280x720 next to the
# CPU backend and PyTorch (cuDNN) on the same frame. Prepared and built here; there:
#   bash tests/bench/device-check.sh BUILD        (carry: BUILD, .device-debs, .gl)
# Results go to $OUT (JSON lines and logs); a summary is printed.
set -u
BUILD=${1:-build-device}
OUT=${OUT:-/tmp/device-check}
GPU_FRAMES=${GPU_FRAMES:-2000} PIPE_FRAMES=${PIPE_FRAMES:-3000}  # small numbers to try it here
PYTHON=${PYTHON:-python3}  # one with torch and numpy
mkdir -p "$OUT"
cd "$(dirname "$0")/../.."

# the Vulkan loader and GStreamer runtime travel as Debian packages (../shared/docs/DEVICE.md)
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -d .device-debs ] && source .device-debs/gst-env.sh
export SR_TEST_DATA_DIR=$PWD/tests/data SR_TEST_MODEL_DIR=$PWD/models SR_MODEL_PATH=$PWD/models/superres-x2.safetensors
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"

echo "== correctness: every backend against the CPU (the NVIDIA drivers, not lavapipe/PoCL)"
SR_REQUIRE_BACKENDS=vulkan,opencl timeout 300 "$BUILD/tests/test-backends" --tap >"$OUT/test-backends.txt" 2>&1
echo "test-backends exit $?"; grep -E "^(not )?ok|pixels off|on " "$OUT/test-backends.txt" | grep -v DEBUG | head -40

echo "== speed: sr-core alone (device timestamps), 640x360"
FRAME=/tmp/frame.raw
tail -c $((640 * 360)) tests/data/flowers-360p-frame30.pgm >"$FRAME"
for model in superres-x2 superres-x2-ghost; do
  for backend in vulkan opencl cpu; do
    frames=$GPU_FRAMES; [ $backend = cpu ] && frames=$((GPU_FRAMES < 60 ? GPU_FRAMES : 60))
    "$BUILD/tests/bench/sr-bench" --backend $backend --model models/$model.safetensors \
      --input "$FRAME" --width 640 --height 360 --frames $frames | tee -a "$OUT/sr-bench.jsonl"
  done
done

echo "== speed: the element in a pipeline (wall clock, fakesink, no sync)"
export GST_PLUGIN_PATH=$PWD/$BUILD/gst
for backend in vulkan opencl; do
  t0=$(date +%s.%N)
  gst-launch-1.0 -q videotestsrc num-buffers=$PIPE_FRAMES pattern=smpte ! \
    video/x-raw,format=I420,width=640,height=360 ! superres backend=$backend ! fakesink sync=false \
    >"$OUT/pipeline-$backend.txt" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  echo "{\"runner\": \"pipeline\", \"backend\": \"$backend\", \"exit\": $rc, \"frames\": $PIPE_FRAMES, \"fps\": $("$PYTHON" -c "print($PIPE_FRAMES / ($t1 - $t0))")}" |
    tee -a "$OUT/pipeline.jsonl"
done

echo "== PyTorch (cuDNN) on the same frame and weights"
for model in superres-x2 superres-x2-ghost; do
  for half in "" --half; do
    "$PYTHON" tests/bench/torch_gpu.py --model models/$model.safetensors \
      --frame tests/data/flowers-360p-frame30.pgm --frames $GPU_FRAMES $half | tee -a "$OUT/torch.jsonl"
  done
done
