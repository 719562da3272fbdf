#!/usr/bin/env python3
"""PyTorch running our own model file on the same frame, the anchor for the GPU backends'
speed (cuDNN on the GPU machine; the CPU elsewhere, so the script can be checked anywhere).

  torch_gpu.py --model models/superres-x2.safetensors --frame tests/data/flowers-360p-frame30.pgm
               [--frames 1000] [--half] [--json out.json]

Times batch-1 forward passes with CUDA events after a warm-up (cudnn.benchmark on); a
ghost-exit model runs at full depth (PyTorch has no per-tile exit). Prints one JSON object."""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'models', 'train'))
import modelfile  # noqa: E402


def read_pgm(path):
    with open(path, 'rb') as f:
        data = f.read()
    fields = data.split(maxsplit=4)
    assert fields[0] == b'P5', path
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(fields[4][:w * h], np.uint8).reshape(h, w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True)
    ap.add_argument('--frame', required=True, help='8-bit PGM luma frame')
    ap.add_argument('--frames', type=int, default=1000)
    ap.add_argument('--half', action='store_true', help='fp16 weights and activations')
    ap.add_argument('--json')
    args = ap.parse_args()

    cuda = torch.cuda.is_available()
    dev = torch.device('cuda' if cuda else 'cpu')
    torch.backends.cudnn.benchmark = True
    model, _, meta = modelfile.load(args.model)
    model = model.to(dev).eval()
    y = read_pgm(args.frame)
    x = torch.from_numpy(y.astype(np.float32) / 255.0)[None, None].to(dev)
    half = args.half and cuda  # the CPU has no fp16 convs in PyTorch
    if half:
        model, x = model.half(), x.half()
    frames = args.frames if cuda else min(args.frames, 10)
    with torch.no_grad():
        for _ in range(10):
            out = model(x)
        if cuda:
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        t0 = time.perf_counter()
        for _ in range(frames):
            out = model(x)
        if cuda:
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000
        else:
            seconds = time.perf_counter() - t0
    result = {
        'runner': 'pytorch', 'device': torch.cuda.get_device_name() if cuda else 'cpu',
        'torch': torch.__version__, 'model': meta.get('name'), 'half': half,
        'width': y.shape[1], 'height': y.shape[0], 'frames': frames,
        'fps': frames / seconds, 'ms_per_frame': 1000 * seconds / frames,
        'output_mean': float(out.float().mean()),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
