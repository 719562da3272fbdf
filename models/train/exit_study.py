#!/usr/bin/python3
"""What a per-tile exit predictor is worth on a model with exits, and what limits it.

  models/train/exit_study.py [--model models/superres-x2.safetensors] \
      [--predictors file,lr,layer1,sequential] [--data photos,video,flat] [--eps 0.25] \
      [--json docs/exit-study.json]

Predictors (each trained here for 3,000 steps on 16,384 training tiles' measured dB gains,
L1, except `file`):
  file        the model file's own predictor (LR tile -> gains; what sr-core runs);
  lr          the same architecture retrained on --data (to compare training data and --eps),
              on the tile alone or with --context pixels around it;
  layer1      an MLP on the tile's pooled layer-1 maps (per channel mean and rms): what the
              runtime could read if it planned after layer 1;
  sequential  after each layer j an MLP on the tile's pooled layer-j maps predicts the gains
              of the blocks after it, and the tile re-plans (APE's own scheme, reading deep
              features).
--data: the pictures the tiles come from (`photos`: t91, photos, photos2; `video` and `flat`:
the same made to look like soft camera video or flat-shaded animation, recipe.degraded). --eps: the floor
(8-bit levels^2) added to a tile's mean squared error before its dB gains are taken (the
model's own: 0.25); a larger floor shrinks the gains of clean tiles.

Printed per set or clip (Set5, Set14, frames 0, middle and last of each cached x2 clip): the
PSNR change against full depth and the MACs saved (predictor included) for every predictor
at each threshold, for every uniform depth (no predictor), and with the measured gains (the
oracle no predictor reaches). Also the Spearman correlation of each tile's predicted and
measured total gain.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.stats import spearmanr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export  # noqa: E402
import modelfile  # noqa: E402
import recipe  # noqa: E402
import srdata  # noqa: E402
from ghostnet import ExitPredictor, exit_depth  # noqa: E402
from plain_exits import frames  # noqa: E402

THRESHOLDS = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)


def training_images(data_dir, kind, min_lr_side):
    rng = np.random.default_rng(3)
    images = []
    for folder in ('t91', 'photos', 'photos2'):
        for path in srdata.image_paths(os.path.join(data_dir, folder)):
            rgb = srdata.load_rgb(path)
            if min(rgb.size) // 2 >= min_lr_side:
                images.append(recipe.TrainImage(kind + path, rgb if kind == 'photos' else recipe.degraded(rgb, rng, kind), 1.0))
    for im in images:
        im.weight = 1.0 / len(images)
    return images


def pooled(f):
    """[N, C, h, w] maps -> [N, 2C]: each channel's mean and rms over the tile."""
    return torch.cat([f.mean((2, 3)), (f ** 2).mean((2, 3)).sqrt()], 1)


def all_maps(model, x):
    """The ReLU'd maps after the head and each hidden layer (index j = after layer j)."""
    return [F.relu(model.head(x))] + model.features(x)


def training_tiles(model, images, count, eps, tile, context=0, seed=5):
    """LR tiles of side `tile` (with `context` pixels around them), their pooled maps after each
    layer and their measured dB gains (8-bit rounded input and outputs, as the element sees them)."""
    r = model.receptive_radius()
    rng = np.random.default_rng(seed)
    lrs_all, maps_all, gains_all = [], [], []
    c, t = slice(2 * r, 2 * r + 2 * tile), slice(r, r + tile)
    with torch.no_grad():
        for _ in range(count // 64):
            lrs, hrs, _ = recipe.sample_batch(images, rng, 64, tile + 2 * r)
            lrs = torch.round(lrs * 255) / 255
            outs = model.forward_all(lrs)
            mse = torch.stack([((torch.round(o.clamp(0, 1) * 255) / 255 - hrs)[:, :, c, c] ** 2).mean((1, 2, 3))
                               for o in outs], 1)
            err = 10 * torch.log10(mse + eps / 255 ** 2)
            gains_all.append(err[:, :-1] - err[:, 1:])
            ctx = slice(r - context, r + tile + context)
            lrs_all.append(lrs[:, :, ctx, ctx].clone())
            maps_all.append(torch.stack([pooled(m[:, :, t, t]) for m in all_maps(model, lrs)], 1))
    return torch.cat(lrs_all), torch.cat(maps_all), torch.cat(gains_all)


def fit(net, x, y, steps=3000):
    """L1 regression of y on x (Adam 2e-3, batches of 256); returns net."""
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        i = torch.randint(0, len(x), (256,), generator=gen)
        loss = (net(x[i]) - y[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def mlp(x, outputs):
    """A 32-wide MLP whose input is standardised by x's statistics."""
    mu, sd = x.mean(0), x.std(0) + 1e-6

    class Standardised(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, outputs))

        def forward(self, z):
            return self.net((z - mu) / sd)
    return Standardised()


class Study:
    def __init__(self, model, tile):
        self.model, self.B, self.tile = model, model.blocks, tile

    def pictures(self, eval_dir, clips, eps):
        """Per set or clip, a list of pictures: dicts of hr, lr, x (the LR tensor), outs (8-bit
        outputs at every depth), maps (per tile: pooled maps after each layer) and gains
        ({'measured': per tile measured dB gains}; the predictors' are added by name)."""
        groups = {}
        with torch.no_grad():
            for name, hr, lr in frames(eval_dir, clips):
                x = torch.from_numpy(lr.astype(np.float32) / 255)[None, None]
                outs = np.clip(np.round(torch.cat(self.model.forward_all(x), 1)[0].numpy() * 255), 0, 255)
                maps = all_maps(self.model, x)
                tiles = export.tiles(lr.shape, self.tile)
                measured = []
                for ys, xs in tiles:
                    c = export.hr_slice(ys, xs)
                    e = [10 * np.log10(np.mean((o[c] - hr[c]) ** 2) / 255 ** 2 + eps / 255 ** 2) for o in outs]
                    measured.append([e[k - 1] - e[k] for k in range(1, self.B)])
                groups.setdefault(name, []).append({
                    'hr': hr, 'lr': lr, 'x': x, 'outs': outs, 'gains': {'measured': measured},
                    'maps': [torch.stack([pooled(m[:, :, ys, xs])[0] for m in maps]) for ys, xs in tiles]})
        return groups

    def outcome(self, pics, depths_of, pred=None):
        """(mean PSNR change against full depth, share of MACs saved, weighted by picture area)
        over pictures with per-tile depths from depths_of(picture); pred: the predictor whose
        MACs count (None: a rule without one)."""
        change, work = [], []
        for pic in pics:
            depths = depths_of(pic)
            sr = export.assemble(pic['outs'], depths, self.tile)
            change.append(srdata.psnr_y(pic['hr'], sr) - srdata.psnr_y(pic['hr'], pic['outs'][-1]))
            work.append(export.macs_fraction(self.model, pred, pic['lr'].shape, depths, self.tile))
        return float(np.mean(change)), float(1 - np.average(work, weights=[p['lr'].size for p in pics]))


def sequential_depths(seq, pic, threshold, blocks):
    """APE's scheme: after layer j (from 1) the tile's pooled maps predict the gains of the
    blocks after j; the tile stops at j unless the rule picks a deeper depth."""
    out = []
    for m in pic['maps']:
        j = 1
        while j < blocks and exit_depth(seq[j](m[j][None])[0].tolist(), threshold, blocks, j) > j:
            j += 1
        out.append(j)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default=os.path.join(HERE, '..', 'superres-x2.safetensors'))
    ap.add_argument('--predictors', default='file,lr,layer1,sequential')
    ap.add_argument('--data', default='photos', help='comma list of photos, video, flat')
    ap.add_argument('--eps', type=float, default=0.25)
    ap.add_argument('--context', type=int, default=0,
                    help='--predictors lr: the retrained predictor also sees this many LR pixels around its '
                    'tile (zero past the frame; at most the net\'s receptive radius)')
    ap.add_argument('--tiles', type=int, default=16384, help='training tiles per --data kind')
    ap.add_argument('--train-dir', default=os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'train'))
    ap.add_argument('--eval', default=os.path.join(HERE, '..', '..', 'tests', 'data'))
    ap.add_argument('--clips', default='builddir/clip-cache')
    ap.add_argument('--json', help='write the results here')
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model, file_pred, meta = modelfile.load(args.model)
    model.eval()
    tile = file_pred.tile
    if not 0 <= args.context <= model.receptive_radius():
        ap.error('--context: 0 to the net\'s receptive radius, %d' % model.receptive_radius())
    study = Study(model, tile)
    B, names = study.B, args.predictors.split(',')
    trained = [n for n in names if n != 'file']
    if trained:
        parts = [training_tiles(model, training_images(args.train_dir, kind, tile + 2 * model.receptive_radius()),
                                args.tiles, args.eps, tile, args.context) for kind in args.data.split(',')]
        lrs, maps, gains = (torch.cat(p) for p in zip(*parts))
        print('%d training tiles (%s), mean measured gain per block %s dB' % (
            len(gains), args.data, ' '.join('%.3f' % g for g in gains.mean(0).tolist())), flush=True)
    groups = study.pictures(args.eval, args.clips, args.eps)
    pics = [pic for g in groups.values() for pic in g]
    tile_gains = {  # name -> a function giving a picture's per-tile predicted gains
        'file': lambda pic: [file_pred(pic['x'][:, :, ys, xs])[0].tolist() for ys, xs in export.tiles(pic['lr'].shape, tile)]}
    if 'lr' in names:
        p = fit(ExitPredictor(B, tile=tile), lrs, gains)
        def lr_gains(pic, p=p, c=args.context):
            x = F.pad(pic['x'], (c, c, c, c))  # each tile with c pixels around it, zero past the frame
            return [p(x[:, :, ys.start:ys.stop + 2 * c, xs.start:xs.stop + 2 * c])[0].tolist()
                    for ys, xs in export.tiles(pic['lr'].shape, tile)]
        tile_gains['lr'] = lr_gains
    if 'layer1' in names:
        p = fit(mlp(maps[:, 1], B - 1), maps[:, 1], gains)
        tile_gains['layer1'] = lambda pic, p=p: p(torch.stack([m[1] for m in pic['maps']])).tolist()
    seq = {j: fit(mlp(maps[:, j], B - j), maps[:, j], gains[:, j - 1:]) for j in range(1, B)} \
        if 'sequential' in names else None
    results = {'model': os.path.basename(args.model), 'data': args.data, 'eps': args.eps, 'rows': [],
               'spearman': {}}

    def report(label, outcome_of):
        cells = {g: outcome_of(group) for g, group in groups.items()}
        results['rows'].append({'rule': label, 'by_set': cells})
        print('%-20s %s' % (label, '  '.join('%s %+.3f %4.1f%%' % (g, c, 100 * s) for g, (c, s) in cells.items())),
              flush=True)

    with torch.no_grad():
        for name, of in tile_gains.items():
            if name in names:
                for pic in pics:
                    pic['gains'][name] = of(pic)
                results['spearman'][name] = {g: round(float(spearmanr(
                    np.sum([t for pic in group for t in pic['gains'][name]], 1),
                    np.sum([t for pic in group for t in pic['gains']['measured']], 1)).correlation), 3)
                    for g, group in groups.items()}
                print('%s: Spearman of predicted and measured total gain per tile: %s' % (
                    name, results['spearman'][name]), flush=True)
        print('PSNR change against full depth (dB) and MACs saved (predictor included), per set or clip:')
        for d in range(B - 1, 2, -1):
            report('uniform depth %d' % d, lambda group, d=d: study.outcome(group, lambda pic: [d] * len(pic['maps'])))
        for name in names + ['measured']:
            for t in THRESHOLDS:
                if name == 'sequential':
                    rule = lambda pic, t=t: sequential_depths(seq, pic, t, B)  # noqa: E731
                else:
                    rule = lambda pic, t=t, n=name: [exit_depth(g, t, B) for g in pic['gains'][n]]  # noqa: E731
                # the lr predictor has the file's architecture, so the same MACs
                counted = file_pred if name in ('file', 'lr') else None
                report('%s %g' % (name, t), lambda group, r=rule, c=counted: study.outcome(group, r, c))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
