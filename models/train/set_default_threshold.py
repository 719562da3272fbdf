#!/usr/bin/python3
"""Set a model file's default exit threshold (what `superres` uses with exit-threshold=-1),
with the reason, after measuring on sets and clips what export.py chose on training pictures.

  models/train/set_default_threshold.py models/superres-x2-ghost.safetensors 0.02 \
      --why '0.03 under the deepest-gain rule; the same savings under the summed-gain rule'
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import write_safetensors  # noqa: E402
from modelfile import read_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model')
    ap.add_argument('threshold', type=float)
    ap.add_argument('--why', required=True, help='recorded as the metadata default_exit_threshold_why')
    args = ap.parse_args()
    meta, tensors = read_safetensors(args.model)
    if 'default_exit_threshold' not in meta:
        sys.exit('%s has no exits' % args.model)
    meta.update(default_exit_threshold='%g' % args.threshold, default_exit_threshold_why=args.why)
    write_safetensors(args.model, [(n, t.numpy()) for n, t in tensors.items()], meta)
    print('%s: default exit threshold %g' % (args.model, args.threshold))


if __name__ == '__main__':
    main()
