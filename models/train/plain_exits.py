#!/usr/bin/python3
"""Would exits help a plain net? An upper bound, measured before building them.

  models/train/plain_exits.py models/train/checkpoints/plain-etds/ckpt.pt [--clips builddir/clip-cache]
  models/train/plain_exits.py --model build/superres-x2-exits.safetensors [--every 5]

Tails after each hidden layer d are solved by least squares on the frozen trunk's features of
training patches (towards the mean of HR and teacher minus the anchor, as
recipe.plain_from_etds does for the last one; the last keeps its trained tail). Prints PSNR at
each depth on Set5, Set14 and 3 frames of each cached x2 clip, then for tile thresholds an
oracle that gives each 32x32 LR tile the shallowest of depths 3..B whose error is within the
threshold (dB) of full depth: the MACs it saves and the PSNR it loses. A real predictor does
no better than this oracle.

With --model, the same pictures through an exported model with exits (train_ghost.py --arch
plain --exits, export.py), its real predictor in PyTorch (export.adaptive_forward, what sr-core
computes): PSNR at full depth, and PSNR and MACs saved (predictor included) at the file's
default threshold and at --thresholds.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import recipe  # noqa: E402
import srdata  # noqa: E402
import export  # noqa: E402
import modelfile  # noqa: E402
from export import model_from_checkpoint  # noqa: E402

TILE = 32


def frames(eval_dir, cache, every=None):
    """(set or clip name, HR luma, LR luma): Set5, Set14, then frames 0, middle and last of each
    cached x2 clip (or every `every`-th frame)."""
    for folder in ('set5', 'set14'):
        for path in srdata.image_paths(os.path.join(eval_dir, folder)):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
            yield folder, hr, lr
    for meta_path in sorted(glob.glob(os.path.join(cache, '*.json'))):
        m = json.load(open(meta_path))
        W, H, w, h = m['width'], m['height'], m.get('lr_width'), m.get('lr_height')
        if (w, h) != (W // 2, H // 2) or not os.path.exists(m.get('hr', '')) or m['frames'] == 60:
            continue
        for k in range(0, m['frames'], every) if every else (0, m['frames'] // 2, m['frames'] - 1):
            hr = np.fromfile(m['hr'], np.uint8, W * H, offset=k * W * H * 3 // 2).reshape(H, W).astype(np.float64)
            lr = np.fromfile(m['lr'], np.uint8, w * h, offset=k * w * h * 3 // 2).reshape(h, w)
            yield os.path.basename(meta_path).split('-')[0], hr, lr


def report(path, eval_dir, clips, every, thresholds):
    """Per set or clip: mean PSNR at full depth, then at each threshold PSNR (its change) and the
    share of MACs saved (area-weighted, predictor included)."""
    model, pred, meta = modelfile.load(path)
    default = float(meta['default_exit_threshold'])
    thresholds = [default] + [t for t in thresholds if t != default]
    unit = json.loads(meta['arch']).get('exits', {}).get('gain', 'db')
    groups = {}
    for name, hr, lr in frames(eval_dir, clips, every):
        outs, gains = export.exit_outputs(model, pred, lr)
        g = groups.setdefault(name, {'full': [], 'psnr': [[] for _ in thresholds], 'work': [[] for _ in thresholds],
                                     'area': []})
        g['full'].append(srdata.psnr_y(hr, outs[-1]))
        g['area'].append(lr.size)
        for i, t in enumerate(thresholds):
            sr, depths = export.compose(outs, gains, t)
            g['psnr'][i].append(srdata.psnr_y(hr, sr))
            g['work'][i].append(export.macs_fraction(model, pred, lr.shape, depths))
    print('%s: default threshold %g (gain %s)' % (path, default, unit))
    for name, g in groups.items():
        full = np.mean(g['full'])
        print('%-8s %d frames, full depth %.3f dB; %s' % (name, len(g['full']), full, '; '.join(
            'threshold %g: %.3f dB (%+.3f), %.1f%% of the MACs saved' % (
                t, np.mean(p), np.mean(p) - full, 100 * (1 - np.average(w, weights=g['area'])))
            for t, p, w in zip(thresholds, g['psnr'], g['work']))), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint', nargs='?')
    ap.add_argument('--model', help='report on this exported model with exits instead')
    ap.add_argument('--every', type=int, help='clips: every n-th frame (default: first, middle and last)')
    ap.add_argument('--thresholds', default='', help='--model: thresholds besides the default, e.g. 1,2,4')
    ap.add_argument('--data', default=os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'train'))
    ap.add_argument('--teacher-cache', default='build/teacher-cache')
    ap.add_argument('--eval', default=os.path.join(HERE, '..', '..', 'tests', 'data'))
    ap.add_argument('--clips', default='builddir/clip-cache')
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.model:
        report(args.model, args.eval, args.clips, args.every, [float(t) for t in args.thresholds.split(',') if t])
        return
    net = model_from_checkpoint(args.checkpoint)[0]
    # the pictures every recipe run has teacher outputs cached for (LR side >= 76); the table in
    # docs/model-card.md was made with these
    images = recipe.load_images(args.data, 76, recipe.parse_folder_weights('bsd200=0.3'), [1])
    recipe.attach_teacher(images, os.path.join(HERE, '..', '..', '..', 'shared', 'peers', 'etds', 'etds-l-x2.npz'),
                          args.teacher_cache)
    B, C = len(net.body), net.channels
    macs = [9 * C + d * 9 * C * C + 9 * C * 4 for d in range(1, B + 1)]
    with torch.no_grad():
        # tails after layers 1..B-1 solved here; the last keeps its trained tail
        tails = recipe.least_squares_tails(lambda lr: net.features(lr)[:-1], images,
                                           np.random.default_rng(0)) + [(net.tail.weight, net.tail.bias)]
        groups = {}
        for name, hr, lr in frames(args.eval, args.clips):
            g = groups.setdefault(name, {'tiles': [], 'psnr': [[] for _ in range(B)]})
            x = torch.from_numpy(lr.astype(np.float32) / 255)[None, None]
            outs = []
            for d, (f, (w, b)) in enumerate(zip(net.features(x), tails)):
                o = F.pixel_shuffle(F.conv2d(f, w, b, padding=1) + x.repeat(1, 4, 1, 1), 2)
                outs.append(np.clip(np.round(o[0, 0].numpy() * 255), 0, 255))
                g['psnr'][d].append(srdata.psnr_y(hr, outs[-1]))
            for ty in range(0, lr.shape[0] - TILE + 1, TILE):
                for tx in range(0, lr.shape[1] - TILE + 1, TILE):
                    c = (slice(2 * ty, 2 * ty + 2 * TILE), slice(2 * tx, 2 * tx + 2 * TILE))
                    g['tiles'].append([((o[c] - hr[c]) ** 2).sum() for o in outs])
    for name, g in groups.items():
        err = np.array(g['tiles']) + 1e-9
        print('%s: PSNR at depth 1..%d: %s' % (name, B, ' / '.join('%.2f' % np.mean(p) for p in g['psnr'])))
        for thr in (0.02, 0.05, 0.1, 0.2, 0.4):
            depth = np.full(len(err), B)
            for i, e in enumerate(err):
                ok = [d for d in range(3, B + 1) if 10 * np.log10(e[d - 1] / e[B - 1]) <= thr]
                depth[i] = ok[0] if ok else B
            loss = 10 * np.log10(err[np.arange(len(err)), depth - 1].sum() / err[:, B - 1].sum())
            print('  tile threshold %.2f dB: %.0f%% of the MACs saved, %+.3f dB' % (
                thr, 100 * (1 - np.mean([macs[d - 1] for d in depth]) / macs[-1]), -loss))
        # the set's own criterion is its pooled error, not each tile's dB: flat tiles with tiny
        # errors can exit early whatever their dB. Each tile takes argmin_d err + lam * MACs(d);
        # the largest saving whose pooled loss stays within 0.05 dB is what any predictor could reach
        best = (0.0, 0.0)
        for lam in np.logspace(-6, 2, 161) * err[:, B - 1].mean() / macs[-1]:
            depth = np.argmin(err + lam * np.array(macs), 1) + 1
            loss = 10 * np.log10(err[np.arange(len(err)), depth - 1].sum() / err[:, B - 1].sum())
            saved = 1 - np.mean([macs[d - 1] for d in depth]) / macs[-1]
            if loss <= 0.05 and saved > best[0]:
                best = (saved, -loss)
        print('  pooled-error oracle: %.0f%% of the MACs saved within 0.05 dB (%+.3f dB)' % (100 * best[0], best[1]))


if __name__ == '__main__':
    main()
