#!/usr/bin/python3
"""Would exits help a plain net? An upper bound, measured before building them.

  models/train/plain_exits.py models/train/checkpoints/plain-etds/ckpt.pt [--clips builddir/clip-cache]
  models/train/plain_exits.py --model build/superres-x2-exits.safetensors [--every 5]

Tails after each hidden layer d are solved by least squares on the frozen trunk's features of
training patches (towards the mean of HR and teacher minus the anchor, as
recipe.plain_from_etds does for the last one; the last keeps its trained tail). Prints PSNR at
each depth on Set5, Set14 and 3 frames of each cached x2 clip, then for tile thresholds an
oracle that gives each LR tile (32x32, --tile) the shallowest of depths 3..B whose error is within the
threshold (dB) of full depth: the MACs it saves and the PSNR it loses. A real predictor does
no better than this oracle.

With --model, the same pictures through an exported model with exits (train_ghost.py --arch
plain --exits, export.py), its real predictor in PyTorch (export.adaptive_forward, what sr-core
computes): PSNR at full depth, and PSNR and MACs saved (predictor included) at the file's
default threshold and at --thresholds.

With --model and --normalise, a frame-normalised rule besides the file's absolute one: per
frame a scale (a statistic of the frame) and each tile's depth by the runtime's rule
(ghostnet.exit_depth) on g_k / scale, so a clean clip's small errors and a photo's large ones share one
threshold. Statistics: total (the frame's mean over its tiles of the predicted total gain
sum_k g_k), median (their median), g2 (the mean of g_2), perk (each g_k over the frame's mean
g_k), lr (no predictor: the mean squared high-pass of the LR frame, lr minus its 3x3 box mean).
The threshold is the largest of a geometric grid that, with every smaller one, loses at most
--max-loss dB (the mean of the per-picture losses) on --tune pictures (Set5 + Set14, or every
--tune-every-th training picture), whose sweep is printed. Three oracles per set or clip bound
what any per-clip scale could reach: its best single threshold with the predicted gains, the
same with the measured gains, and the pooled-error (Lagrangian) choice on the measured errors.
A fourth column makes that last choice on each tile's change from its full-depth output, which
needs no HR: what the net's own outputs tell, at one lam per set or clip.

  models/train/plain_exits.py --model build/superres-x2-exits.safetensors --every 5 --tune train \
      --normalise total,median,g2,perk,lr
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import recipe  # noqa: E402
import srdata  # noqa: E402
import export  # noqa: E402
import modelfile  # noqa: E402
from export import model_from_checkpoint  # noqa: E402

TILE = 32


def ring_macs(depth, grids, tile, channels):
    """The MACs sr-core spends on frames of whole tiles (`grids`: tile rows and columns per frame,
    `depth` their tiles' depths row-major): layer j (0 the head, 1..B the hidden layers) runs
    wherever a tile of depth d >= j needs it, the tile grown by d - j + 1 pixels (the 3x3 layers
    after j up to the exit's tail); the tail runs on its own tile."""
    total, at = 0.0, 0
    for rows, cols in grids:
        d = np.asarray(depth[at:at + rows * cols]).reshape(rows, cols)
        at += rows * cols
        pixels = np.kron(d, np.ones((tile, tile), int))  # each pixel's tile depth
        for j in range(d.max() + 1):
            need = np.zeros(pixels.shape, bool)
            for r in np.unique(d[d >= j] - j + 1):
                need |= ndimage.binary_dilation(pixels - j + 1 == r, np.ones((2 * r + 1, 2 * r + 1), bool))
            total += need.sum() * 9 * channels * (1 if j == 0 else channels)
        total += tile * tile * d.size * 9 * channels * 4
    return total


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


def lr_highpass(lr):
    """The LR frame's mean squared high-pass (8-bit levels^2): lr minus its 3x3 box mean."""
    x = torch.from_numpy(lr.astype(np.float32))[None, None]
    box = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), 3, stride=1)
    return float(((x - box) ** 2).mean())


def frame_scale(stat, lr, gains):
    """The frame statistic a normalised threshold is multiplied by (see the docstring): a number,
    or for perk one per depth k (the mean of g_k over the frame's tiles)."""
    g = np.array(gains)
    if stat == 'total':
        return float(g.sum(1).mean())
    if stat == 'median':
        return float(np.median(g.sum(1)))
    if stat == 'g2':
        return float(g[:, 0].mean())
    if stat == 'perk':
        return np.maximum(g.mean(0), 1e-9)
    if stat == 'lr':
        return lr_highpass(lr)
    raise ValueError('unknown --normalise statistic %r' % stat)


def run_rule(model, pred, runs, threshold):
    """Per picture of `runs` ((hr, lr, outs, gains, scale)): (PSNR, MACs fraction) with each tile's
    depth by compose's rule on the gains over scale (scale 1: the absolute rule)."""
    res = []
    for hr, lr, outs, gains, scale in runs:
        if np.ndim(scale) or scale > 0:
            sr, depths = export.compose(outs, [list(np.array(g) / scale) for g in gains], threshold, pred.tile)
        else:
            sr, depths = export.compose(outs, gains, 0, pred.tile)
        res.append((srdata.psnr_y(hr, sr), export.macs_fraction(model, pred, lr.shape, depths, pred.tile)))
    return res


def baseline(runs):
    """Per picture of runs ((hr, lr, outs, ...)): PSNR at full depth, and LR area (the weights
    of the MACs saved)."""
    return (np.array([srdata.psnr_y(r[0], r[2][-1]) for r in runs]), np.array([r[1].size for r in runs]))


def loss_and_saved(model, pred, runs, threshold, full, area):
    """run_rule over runs: (mean PSNR loss against `full`, share of the MACs saved weighted by
    `area`), the two from baseline(runs)."""
    psnr, work = np.array(run_rule(model, pred, runs, threshold)).T
    return np.mean(full - psnr), 1 - np.average(work, weights=area)


def true_gains(hr, outs, tile):
    """Each tile's measured gains (what the predictor estimates): the drop of its mean squared
    error per HR pixel from depth k-1 to k, k = 2..B."""
    gains = []
    for ys, xs in export.tiles((outs.shape[1] // 2, outs.shape[2] // 2), tile):
        c = export.hr_slice(ys, xs)
        e = [np.mean((o[c].astype(np.float64) - hr[c]) ** 2) for o in outs]
        gains.append([e[k - 1] - e[k] for k in range(1, len(e))])
    return gains


def lagrangian_oracle(model, pred, runs, max_loss, against='hr'):
    """The pooled-error oracle on the file's own exits: each tile takes argmin_d err_d + lam * MACs_d
    (measured errors, one lam per set or clip); the most MACs saved (predictor included) with a
    mean loss of at most max_loss dB on runs ((hr, lr, outs, gains)). (loss, saved)
    against='full': err_d is the tile's squared change from its own full-depth output instead,
    which a rule could know without the HR (the same choice, on the net's outputs alone)."""
    B = len(runs[0][2])
    macs = np.array([model.macs_per_lr_pixel(d) for d in range(1, B + 1)], np.float64)
    errs = [np.array([[((o[c].astype(np.float64) - (hr if against == 'hr' else outs[-1])[c]) ** 2).mean()
                       for o in outs] for c in (export.hr_slice(ys, xs) for ys, xs in export.tiles(lr.shape, pred.tile))])
            for hr, lr, outs, _ in runs]
    full, area = baseline(runs)
    best = (0.0, 0.0)
    for lam in np.logspace(-4, 1, 41) / macs[-1]:
        loss, saved = loss_and_saved(model, pred, [
            (hr, lr, outs, [[1.0] * (d - 1) + [0.0] * (B - d) for d in np.argmin(e + lam * macs, 1) + 1], 1.0)
            for (hr, lr, outs, _), e in zip(runs, errs)], 0.5, full, area)
        if loss <= max_loss and saved > best[1]:
            best = (loss, saved)
    return best


GRID = [float('%.3g' % v) for v in 2.0 ** np.arange(-12, 6, 0.25)]


def best_threshold(model, pred, runs, max_loss):
    """The per-set oracle over one absolute threshold: the grid threshold that saves the most MACs
    with a mean loss of at most max_loss dB on runs ((hr, lr, outs, gains)). (threshold, loss, saved)"""
    runs = [r + (1.0,) for r in runs]
    full, area = baseline(runs)
    best = (0.0, 0.0, 0.0)
    for t in GRID:
        loss, saved = loss_and_saved(model, pred, runs, t, full, area)
        if loss <= max_loss and saved > best[2]:
            best = (t, loss, saved)
    return best


def tune(model, pred, runs, stat, max_loss):
    """The largest grid threshold for statistic `stat` such that it and every smaller one lose at
    most max_loss dB (mean of the per-picture losses) on runs ((hr, lr, outs, gains) pictures)."""
    runs = [(hr, lr, outs, gains, frame_scale(stat, lr, gains)) for hr, lr, outs, gains in runs]
    full, area = baseline(runs)
    best = 0.0
    for t in GRID:
        loss, saved = loss_and_saved(model, pred, runs, t, full, area)
        print('  %-6s threshold %-7.3g: %.3f dB below full depth, %.1f%% of the MACs saved' % (
            stat, t, loss, 100 * saved), flush=True)
        if loss > max_loss:
            break
        best = t
    return best


def report_normalised(path, eval_dir, clips, every, stats, tune_on, data, tune_every, max_loss):
    """Per set or clip: full depth, the file's absolute rule at its default threshold, and each
    frame-normalised rule at its threshold tuned on `tune_on`."""
    model, pred, meta = modelfile.load(path)
    default = float(meta['default_exit_threshold'])
    if tune_on == 'sets':
        pairs = [(hr, lr) for name, hr, lr in frames(eval_dir, clips) if name in ('set5', 'set14')]
    else:
        folders = export.training_folders({'data': data, 'folder_weights': 'bsd200=0.3'})
        pairs = [srdata.hr_lr_pair(srdata.load_rgb(p)) for f in folders
                 for p in srdata.image_paths(os.path.join(data, f))[::tune_every]]
    tuning = [(hr, lr) + export.exit_outputs(model, pred, lr) for hr, lr in pairs]
    print('tuning on %d pictures (%s), at most %g dB lost:' % (len(tuning), tune_on, max_loss), flush=True)
    chosen = {s: tune(model, pred, tuning, s, max_loss) for s in stats}
    rules = [('absolute', default)] + [(s, chosen[s]) for s in stats]
    groups = {}
    for name, hr, lr in frames(eval_dir, clips, every):
        groups.setdefault(name, []).append((hr, lr) + export.exit_outputs(model, pred, lr))
    print('%s (gain %s); rules: %s; last columns: the best single absolute threshold for the set or clip '
          '(an oracle) within 0.05 dB, with the predicted gains and with the measured ones, '
          'then the pooled-error (Lagrangian) oracle on measured errors and the same choice on each '
          'tile\'s change from full depth (no HR)' % (path, json.loads(meta['arch'])['exits'].get('gain', 'db'),
                                          ', '.join('%s %g' % r for r in rules)))
    print('%-8s %6s %8s  %s' % ('set', 'frames', 'full dB', '  '.join('%-24s' % ('%s %g' % r) for r in rules)))
    for name, runs in groups.items():
        full = np.mean([srdata.psnr_y(hr, outs[-1]) for hr, _, outs, _ in runs])
        area = [lr.size for _, lr, _, _ in runs]
        cells = []
        for s, t in rules:
            psnr, work = np.array(run_rule(model, pred, [r + (1.0 if s == 'absolute' else frame_scale(s, r[1], r[3]),)
                                                        for r in runs], t)).T
            cells.append('%7.3f %+.3f %5.1f%%' % (np.mean(psnr), np.mean(psnr) - full,
                                                  100 * (1 - np.average(work, weights=area))))
        cells.append('oracle %g: %+.3f %.1f%%' % (lambda b: (b[0], -b[1], 100 * b[2]))(
            best_threshold(model, pred, runs, 0.05)))
        cells.append('true gains %g: %+.3f %.1f%%' % (lambda b: (b[0], -b[1], 100 * b[2]))(
            best_threshold(model, pred, [(hr, lr, outs, true_gains(hr, outs, pred.tile)) for hr, lr, outs, _ in runs], 0.05)))
        cells.append('lagrangian: %+.3f %.1f%%' % (lambda b: (-b[0], 100 * b[1]))(
            lagrangian_oracle(model, pred, runs, 0.05)))
        cells.append('change from full depth: %+.3f %.1f%%' % (lambda b: (-b[0], 100 * b[1]))(
            lagrangian_oracle(model, pred, runs, 0.05, against='full')))
        print('%-8s %6d %8.3f  %s' % (name, len(runs), full, '  '.join('%-24s' % c for c in cells)), flush=True)


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
            sr, depths = export.compose(outs, gains, t, pred.tile)
            g['psnr'][i].append(srdata.psnr_y(hr, sr))
            g['work'][i].append(export.macs_fraction(model, pred, lr.shape, depths, pred.tile))
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
    ap.add_argument('--normalise', default='none',
                    help='--model: comma list of frame statistics for a frame-normalised threshold '
                    '(total, median, g2, perk, lr; none: only the absolute rule)')
    ap.add_argument('--tune', choices=('sets', 'train'), default='sets',
                    help='--normalise: tune the threshold on Set5 + Set14 or on training pictures')
    ap.add_argument('--tune-every', type=int, default=8, help='--tune train: every n-th training picture')
    ap.add_argument('--max-loss', type=float, default=0.03,
                    help='--normalise: the tuned threshold loses at most this many dB on the tuning pictures')
    ap.add_argument('--data', default=os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'train'))
    ap.add_argument('--teacher-cache', default='build/teacher-cache')
    ap.add_argument('--tile', type=int, default=TILE, help='checkpoint: the oracles\' tile side in LR pixels')
    ap.add_argument('--eval', default=os.path.join(HERE, '..', '..', 'tests', 'data'))
    ap.add_argument('--clips', default='builddir/clip-cache')
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.model and args.normalise != 'none':
        report_normalised(args.model, args.eval, args.clips, args.every, args.normalise.split(','), args.tune,
                          args.data, args.tune_every, args.max_loss)
        return
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
            t = args.tile
            g.setdefault('grids', []).append((lr.shape[0] // t, lr.shape[1] // t))
            for ty in range(0, lr.shape[0] - t + 1, t):
                for tx in range(0, lr.shape[1] - t + 1, t):
                    c = (slice(2 * ty, 2 * ty + 2 * t), slice(2 * tx, 2 * tx + 2 * t))
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
        best, best_rings = (0.0, 0.0), (0.0, 0.0)
        full_rings = ring_macs(np.full(len(err), B), g['grids'], args.tile, C)
        for lam in np.logspace(-6, 2, 161) * err[:, B - 1].mean() / macs[-1]:
            depth = np.argmin(err + lam * np.array(macs), 1) + 1
            loss = 10 * np.log10(err[np.arange(len(err)), depth - 1].sum() / err[:, B - 1].sum())
            if loss > 0.05:
                continue
            saved = 1 - np.mean([macs[d - 1] for d in depth]) / macs[-1]
            best = max(best, (saved, -loss))
            best_rings = max(best_rings, (1 - ring_macs(depth, g['grids'], args.tile, C) / full_rings, -loss))
        print('  pooled-error oracle: %.0f%% of the MACs saved within 0.05 dB (%+.3f dB); '
              'with the rings the runtime computes: %.0f%% (%+.3f dB)' % (
                  100 * best[0], best[1], 100 * best_rings[0], best_rings[1]))


if __name__ == '__main__':
    main()
