#!/usr/bin/python3
"""Ablations of the training recipe: the same number of steps from the same start for the old
recipe, each addition alone, and all of them; prints a Markdown table and writes JSON.

  models/train/ablate.py --steps 3000 --out build/ablate [--only old,all] [-- extra train_ghost args]

Each row is one train_ghost.py run (resumable: rerun to finish), final exit only, started from
the shipped ghost model's weights unless the row says otherwise; PSNR is the exported (EMA where
kept) net's, in PyTorch, on the bundled Set5 / Set14; fps is the same net's in PyTorch (bf16
autocast + channels_last, 2 threads, one 640x360 luma frame), the one runtime every layout has,
timed once every row has trained, in --fps-rounds alternating rounds (a row whose checkpoint
has its steps is not run again, so rerunning the command only re-times).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

from export import model_from_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))

BASE = ['--final-only', '--freeze-at', '0', '--predictor-steps', '0', '--bf16', '--patch', '64',
        '--lr', '3e-4', '--init-model', os.path.join(REPO, 'models', 'superres-x2-ghost.safetensors')]
ADDITIONS = {
    'rep': ['--rep-expand', '64'],
    'rep+edges': ['--rep-expand', '64', '--rep-edges'],
    'ema': ['--ema', '0.999'],
    'betas': ['--betas', '0.9,0.99'],
    'scales': ['--scales', '1,0.7'],
    'bsd-down': ['--folder-weights', 'bsd200=0.3'],
    'hard': ['--hard-frac', '0.5'],
    'distill': ['--distill', '1'],
}
ALL = ['rep', 'ema', 'betas', 'scales', 'bsd-down', 'hard', 'distill']
ROWS = {'old': []}
ROWS.update({'+' + k: v for k, v in ADDITIONS.items()})
ROWS['all'] = [a for k in ALL for a in ADDITIONS[k]]
# ghost shifts against none at equal MACs: from scratch, shifts learnt vs every channel unshifted
SCRATCH = ['--final-only', '--predictor-steps', '0', '--bf16', '--patch', '64', '--lr', '5e-4']
ROWS['scratch-shifts'] = ('scratch', ROWS['all'])
ROWS['scratch-no-shifts'] = ('scratch', ROWS['all'] + ['--no-shifts', '--freeze-at', '0'])
# 3x3 + ReLU only (the default's layout, 6 hidden layers: 14,544 MACs/px) against the SESR-like
# layout (5x5 head and tail, PReLU, long skip; SESR-M5: 13,520), both from scratch
ROWS['scratch-plain6'] = ('scratch', ROWS['all'] + ['--arch', 'plain', '--blocks', '6'])
ROWS['scratch-sesr5'] = ('scratch', ROWS['all'] + ['--arch', 'sesr', '--blocks', '5'])


def pytorch_fps(model, runs=30):
    """Frames per second of the net on a 640x360 frame (see above)."""
    x = torch.rand(1, 1, 360, 640).to(memory_format=torch.channels_last)
    torch.set_num_threads(2)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        model(x)  # warm-up
        t0 = time.perf_counter()
        for _ in range(runs):
            model(x)
        return runs / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--out', default='build/ablate')
    ap.add_argument('--only', help='comma-separated rows (default all): ' + ','.join(ROWS))
    ap.add_argument('--json', default=None, help='default OUT/ablations.json')
    ap.add_argument('--fps-rounds', type=int, default=3)
    ap.add_argument('extra', nargs='*', help='more train_ghost.py arguments for every row (after --)')
    args = ap.parse_args()
    rows = args.only.split(',') if args.only else list(ROWS)
    results, models = [], []
    for name in rows:
        spec = ROWS[name]
        base, adds = (SCRATCH, spec[1]) if isinstance(spec, tuple) else (BASE, spec)
        cmd = [sys.executable, os.path.join(HERE, 'train_ghost.py'), '--out', os.path.join(args.out, name),
               '--steps', str(args.steps), '--ckpt-every', str(args.steps), '--batch', str(args.batch),
               '--threads', '2'] + base + adds + args.extra
        ckpt = os.path.join(args.out, name, 'ckpt.pt')
        if not os.path.exists(ckpt) or torch.load(ckpt, map_location='cpu')['step'] < args.steps:
            print('#', ' '.join(cmd), flush=True)
            subprocess.run(cmd, check=True)
        model, _, ck = model_from_checkpoint(ckpt)
        models.append(model.to(memory_format=torch.channels_last))
        results.append({'row': name, 'args': ' '.join(adds), 'steps': ck['step'],
                        'macs_per_lr_pixel': model.macs_per_lr_pixel(),
                        'set5': ck['eval_set5'], 'set14': ck['eval_set14'], 'pytorch_bf16_fps': []})
    for _ in range(args.fps_rounds):
        for r, model in zip(results, models):
            r['pytorch_bf16_fps'].append(pytorch_fps(model))
    print('\n| row | additions | MACs / px | steps | Set5 | Set14 | fps (PyTorch bf16, each round) |')
    print('|---|---|---|---|---|---|---|')
    for r in results:
        print('| %s | `%s` | %d | %d | %.3f | %.3f | %s |' % (
            r['row'], r['args'] or '(old recipe)', r['macs_per_lr_pixel'], r['steps'], r['set5'], r['set14'],
            ' / '.join('%.1f' % f for f in r['pytorch_bf16_fps'])))
    with open(args.json or os.path.join(args.out, 'ablations.json'), 'w') as f:
        json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
