#!/usr/bin/python3
"""Export a training checkpoint to the model file sr-core loads, plus the golden test data.

  models/train/export.py build/train/ckpt.pt                  # -> models/superres-x2.safetensors
  models/train/export.py CKPT --golden tests/data             # also writes golden-lr/sr.pgm
  models/train/export.py build/plain-exits/ckpt.pt --out build/superres-x2-exits.safetensors
      # a plain net with exits (train_ghost.py --arch plain --exits): the default exit threshold
      # is chosen on training pictures (--threshold-loss) unless --default-threshold is given

The file is safetensors; "__metadata__" holds the format name/version and the architecture
as JSON ("arch"), which sr-core checks every tensor against.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recipe  # noqa: E402
import srdata  # noqa: E402
from ghostnet import DIRECTIONS, ExitPredictor, GhostExitSR, exit_decision_points, exit_depth  # noqa: E402
from net import PlainSR  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        data = np.ascontiguousarray(t, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def model_from_checkpoint(path):
    """(model, predictor or None, checkpoint) from train.py's or train_ghost.py's checkpoint."""
    ck = torch.load(path, map_location='cpu')
    a = ck['args']
    if 'net' not in ck:  # train.py's
        model, pred = PlainSR(a['channels'], a['blocks']), None
        model.load_state_dict(ck['model'])
    else:  # train_ghost.py's, ghost-exit or --arch plain (with --exits or not)
        if a.get('arch') in ('plain', 'sesr'):
            model = PlainSR(a['channels'], a['blocks'], exits=a.get('exits', False),
                            layout='sesr' if a['arch'] == 'sesr' else 'plain')
        else:
            model = GhostExitSR(a['channels'], a['blocks'])
        pred = None
        if a.get('arch', 'ghost') == 'ghost' or a.get('exits'):
            pred = ExitPredictor(a['blocks'], a.get('predictor_width', 8), a.get('tile', 32))
            pred.load_state_dict(ck['pred'])
            pred.eval()
        model.load_state_dict(ck['net'])
        ck.setdefault('set5', ck.get('eval_set5', float('nan')))
        ck.setdefault('set14', ck.get('eval_set14', float('nan')))
    model.eval()
    return model, pred, ck


def ghost_tensors(model, pred):
    """The ghost-exit arch (JSON-able) and its tensors, in sr-core's names."""
    for b in model.blocks:
        assert b.frozen[0] >= 0, 'shifts are not frozen yet: train further'
    arch = {'type': 'ghost-exit', 'scale': model.scale, 'anchor': 'nearest',
            'channels': model.channels, 'blocks': model.n_blocks, 'exit_tile': pred.tile,
            'predictor_width': pred.conv1.out_channels,
            'shifts': [[list(DIRECTIONS[k]) for k in b.directions().tolist()] for b in model.blocks]}
    convs = [('head', model.head)] + [('blocks.%d.conv' % i, b.conv) for i, b in enumerate(model.blocks)]
    convs += [('tail', model.tail)]
    return arch, conv_tensors(convs + predictor_convs(pred))


def conv_tensors(convs):
    """[(name, conv)] -> the file's [(name.weight, array), (name.bias, array)]."""
    return [(n + p, getattr(c, p[1:]).detach().numpy()) for n, c in convs for p in ('.weight', '.bias')]


def predictor_convs(pred):
    return [('predictor.conv1', pred.conv1), ('predictor.conv2', pred.conv2), ('predictor.fc', pred.fc)]


def predictor_macs_per_tile(pred):
    w, n, tile = pred.conv1.out_channels, pred.fc.out_features, pred.tile
    return 9 * w * (tile // 2) ** 2 + 9 * w * w * (tile // 4) ** 2 + w * n


# --- the PyTorch reference of sr-core's adaptive patch exit (ghost-exit and plain with exits) ---

def tiles(shape, tile):
    """The exit tiles of an LR plane, row-major: (LR rows, LR cols) slices."""
    h, w = shape
    return [(slice(y, y + tile), slice(x, x + tile)) for y in range(0, h, tile) for x in range(0, w, tile)]


def exit_outputs(model, pred, lr):
    """For a uint8 LR plane: the 8-bit outputs at every depth 1..B ([B, 2h, 2w] uint8) and each
    tile's predicted gains (for depths k = 2..B), the predictor's tiles row-major."""
    x = torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None]
    with torch.no_grad():
        outs = torch.cat(model.forward_all(x), 1)[0]
        gains = [pred(x[:, :, ys, xs])[0].tolist() for ys, xs in tiles(lr.shape, pred.tile)]
    return np.clip(np.round(outs.numpy() * 255.0), 0, 255).astype(np.uint8), gains


def hr_slice(ys, xs):
    return slice(2 * ys.start, 2 * ys.stop), slice(2 * xs.start, 2 * xs.stop)


def assemble(outs, depths, tile):
    """The picture whose tiles (row-major) come from the whole-frame outputs `outs` at `depths`."""
    sr = np.empty_like(outs[-1])
    for (ys, xs), d in zip(tiles((outs.shape[1] // 2, outs.shape[2] // 2), tile), depths):
        sr[hr_slice(ys, xs)] = outs[d - 1][hr_slice(ys, xs)]
    return sr


def compose(outs, gains, threshold, tile):
    """The adaptive output: each tile from the whole-frame net at the depth exit_depth picks for
    its gains (what sr-core computes; its tiles see the whole frame's context). (sr, depths)"""
    depths = [exit_depth(g, threshold, len(outs)) for g in gains]
    return assemble(outs, depths, tile), depths


def adaptive_forward(model, pred, lr, threshold):
    """sr-core's adaptive patch exit on a uint8 LR plane: (sr, per-tile depths, all gains)."""
    outs, gains = exit_outputs(model, pred, lr)
    return compose(outs, gains, threshold, pred.tile) + ([v for g in gains for v in g],)


def macs_fraction(model, pred, shape, depths, tile):
    """The MACs of an adaptive run (per-tile depths, the predictor included; pred None: a rule
    without one) over full depth's."""
    area = [(min(ys.stop, shape[0]) - ys.start) * (min(xs.stop, shape[1]) - xs.start) for ys, xs in tiles(shape, tile)]
    used = sum(a * model.macs_per_lr_pixel(d) for a, d in zip(area, depths))
    if pred is not None:
        used += len(area) * predictor_macs_per_tile(pred)
    return used / (sum(area) * model.macs_per_lr_pixel())


def choose_threshold(model, pred, pairs, max_loss, quantile=None):
    """The largest threshold (of a geometric grid) such that it and every smaller one lose at most
    max_loss dB of PSNR against full depth on `pairs` ((hr_y, lr_y) pictures: training ones, not
    the clips or sets reported): pooled over the pictures, or with `quantile`, that quantile of
    the per-picture losses (an "mse" gain is absolute, so the pictures with the least error, like
    clean video, bound it; the pool is ruled by the noisiest). Returns (threshold, loss dB, MACs
    fraction)."""
    runs = []  # per picture: per-tile squared error at each depth, gains, shape
    for hr, lr in pairs:
        outs, gains = exit_outputs(model, pred, lr)
        err = [[((outs[d][hr_slice(ys, xs)] - hr[hr_slice(ys, xs)]) ** 2).sum() for d in range(len(outs))]
               for ys, xs in tiles(lr.shape, pred.tile)]
        runs.append((np.array(err), gains, lr.shape))
    full = np.array([e[:, -1].sum() for e, _, _ in runs])
    area = np.array([shape[0] * shape[1] for _, _, shape in runs])
    best = (0.0, 0.0, 1.0)
    for t in [float('%.3g' % v) for v in 2.0 ** np.arange(-6, 8, 0.25)]:
        err, work = [], []
        for e, gains, shape in runs:
            depths = [exit_depth(g, t, e.shape[1]) for g in gains]
            err.append(e[np.arange(len(e)), np.array(depths) - 1].sum())
            work.append(macs_fraction(model, pred, shape, depths, pred.tile))
        pooled = 10 * np.log10(sum(err) / full.sum())
        per_picture = np.quantile(10 * np.log10(np.array(err) / full), quantile) if quantile else None
        loss = pooled if quantile is None else per_picture
        frac = np.average(work, weights=area)
        print('  threshold %.3g: pooled %.3f dB below full depth%s, %.1f%% of the MACs saved' % (
            t, pooled, '' if quantile is None else ', %g quantile of the pictures %.3f dB' % (quantile, per_picture),
            100 * (1 - frac)), flush=True)
        if loss > max_loss:
            break
        best = (t, loss, frac)
    return best


def export(model, pred, ck, path):
    if isinstance(model, GhostExitSR):
        arch, tensors = ghost_tensors(model, pred)
        name = 'ghost-exit-c%db%d-x2' % (model.channels, model.n_blocks)
        params = sum(t.size for n, t in tensors if not n.startswith('predictor'))  # shift logits are not weights
        shifts = [d for b in arch['shifts'] for d in b]
        ck['extra_meta'] = {
            'ghost_channels': '%d of %d body channels are shifted copies (%d of them unshifted)' % (
                len(shifts), model.n_blocks * model.channels, shifts.count([0, 0])),
            'predictor_macs_per_tile': str(predictor_macs_per_tile(pred))}
        write_model(path, name, arch, tensors, model.macs_per_lr_pixel(), params, ck, 'train_ghost.py')
        return
    if model.layout != 'plain':
        raise SystemExit('%s: the %s layout has layers sr-core does not run (net.py)' % (path, model.layout))
    layers = model.layers()
    arch = {'scale': model.scale, 'anchor': 'nearest',
            'layers': [{'name': n, 'in': c.in_channels, 'out': c.out_channels,
                        'kernel': c.kernel_size[0], 'act': act} for n, c, act in layers]}
    convs = [(n, c) for n, c, _ in layers]
    name, script = 'plain-c%db%d-x2' % (model.channels, model.blocks), 'train_ghost.py --arch plain'
    if model.exits:  # exit d's tail after hidden layer d, d = 1..B-1 (exit B is the last layer)
        arch = dict({'type': 'plain'}, **arch)
        arch['exits'] = {'tile': pred.tile, 'predictor_width': pred.conv1.out_channels,
                         'gain': ck['args'].get('gain', 'db')}
        convs += [('exits.%d' % d, model.exit_tails[d - 1]) for d in range(1, model.blocks)]
        name += '-exits'
        target = {'step': 'depth k over depth k-1', 'best': 'the best depth >= k over the best depth < k'}
        ck['extra_meta'] = {'predictor_macs_per_tile': str(predictor_macs_per_tile(pred)),
                            'exit_gain': 'the predicted gain for depth k (k = 2..B): %s, in %s' % (
                                target[ck['args'].get('gain_target', 'step')],
                                {'mse': "the tile's mean squared error per HR pixel (8-bit levels^2)",
                                 'db': "the tile's PSNR (dB)"}[arch['exits']['gain']])}
        q = ck['args'].get('predictor_quantile', 0.5)
        if q != 0.5:  # what the predictor was trained to output: that quantile, not the median
            ck['extra_meta']['exit_gain'] += '; the predictor outputs its %g quantile' % q
    tensors = conv_tensors(convs + (predictor_convs(pred) if model.exits else []))
    params = sum(t.size for n, t in tensors if not n.startswith('predictor'))
    write_model(path, name, arch, tensors, model.macs_per_lr_pixel(), params, ck,
                script if 'net' in ck else 'train.py')


def training_folders(args):
    """The folders the run trained on (every folder of its --data; a folder weight of 0 drops one)."""
    data = args.get('data', '')
    if not os.path.isdir(data):
        return ['t91', 'bsd200', 'photos']  # the first models' set, before photos2
    weights = recipe.parse_folder_weights(args.get('folder_weights', ''))
    return [d for d in sorted(os.listdir(data)) if weights.get(d, 1.0) > 0]


def write_model(path, name, arch, tensors, macs, params, ck, script='train.py'):
    run = ck.get('trunk', ck)  # exits added to a trained net: describe the trunk's training
    meta = {
        'format': 'gst-superres', 'version': '1',
        'name': name,
        'arch': json.dumps(arch, separators=(',', ':')),
        'macs_per_lr_pixel': str(macs),
        'params': str(params),
        'training': 'models/train/%s: %d steps, %s' % (script,
            run['step'], ', '.join('%s=%s' % kv for kv in sorted(run['args'].items()) if kv[0] in
                                  ('batch', 'patch', 'lr', 'channels', 'blocks', 'seed', 'init', 'init_model',
                                           'init_etds', 'distill', 'rep_expand', 'ema', 'video_share') and kv[1])),
        'training_data': '%s (../shared/data/train, see SOURCES.md)%s' % (
            ' + '.join(training_folders(run['args'])), '; %g of the patches from soft, compressed copies '
            '(recipe.degraded)' % run['args']['video_share'] if run['args'].get('video_share') else ''),
        'psnr_set5_pytorch': '%.2f' % ck['set5'], 'psnr_set14_pytorch': '%.2f' % ck['set14'],
    }
    if 'trunk' in ck:
        meta['training'] += ('; then, the trunk frozen: exit tails by least squares, the exit predictor %d steps '
                             '(train_ghost.py --exits --gain %s --gain-target %s)' % (
                                 ck['pstep'], ck['args']['gain'], ck['args'].get('gain_target', 'step')))
    etds = 'Apache-2.0 weights of the ETDS project (ECNUSR/ETDS), trained by its authors on DIV2K (research use)'
    if run['args'].get('init_etds'):
        meta['warm_start'] = '%s: %s' % (os.path.basename(run['args']['init_etds']), etds)
    if run['args'].get('distill'):
        meta['teacher'] = 'ETDS-L, distilled from its cached outputs: ' + etds
    if 'default_exit_threshold' in ck:
        meta['default_exit_threshold'] = '%g' % ck['default_exit_threshold']
    meta.update(ck.get('extra_meta', {}))
    write_safetensors(path, tensors, meta)


def write_pgm(path, img):
    h, w = img.shape
    with open(path, 'wb') as f:
        f.write(b'P5\n%d %d\n255\n' % (w, h))
        f.write(img.astype(np.uint8).tobytes())


def golden(model, pred, folder, eval_dir):
    """A real LR crop (odd size, so edges and partial tiles are exercised) and the
    PyTorch output for it, rounded to 8 bits. For a model with exits, also the outputs and
    per-tile depths at two thresholds that split the tiles (golden-exit.txt)."""
    _, lr = srdata.hr_lr_pair(srdata.load_rgb(os.path.join(eval_dir, 'set14', 'baboon.png')))
    lr = lr[37:37 + 67, 51:51 + 93]
    os.makedirs(folder, exist_ok=True)
    write_pgm(os.path.join(folder, 'golden-lr.pgm'), lr)
    if pred is None:
        with torch.no_grad():
            sr = model(torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None])[0, 0].numpy()
        write_pgm(os.path.join(folder, 'golden-sr.pgm'), np.clip(np.round(sr * 255.0), 0, 255))
        return
    outs, gains = exit_outputs(model, pred, lr)  # the net runs once; each threshold composes
    sr, _ = compose(outs, gains, 0.0, pred.tile)
    write_pgm(os.path.join(folder, 'golden-sr.pgm'), sr)
    # thresholds halfway between the points where a tile's choice changes, so float rounding
    # cannot flip a decision
    g = np.unique(np.round([v for tile in gains for v in exit_decision_points(tile)], 4))
    g = g[g > 0]  # a threshold of 0 or less is full depth
    picks = [g[len(g) // 4], g[len(g) // 2], g[(3 * len(g)) // 4]]
    lines = []
    for i, v in enumerate(picks):
        above = g[g > v]
        t = float((v + above[0]) / 2) if len(above) else float(v) + 0.01
        sr, depths = compose(outs, gains, t, pred.tile)
        name = 'golden-sr-exit%d.pgm' % i
        write_pgm(os.path.join(folder, name), sr)
        lines.append('%.6f %s %s' % (t, name, ' '.join(map(str, depths))))
    with open(os.path.join(folder, 'golden-exit.txt'), 'w') as f:
        f.write('# threshold (in the predictor\'s gain unit), expected output, '
                'expected depth per %dx%d tile (row-major)\n' % (pred.tile, pred.tile))
        f.write('\n'.join(lines) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'superres-x2.safetensors'))
    ap.add_argument('--golden', help='folder for golden-lr.pgm / golden-sr.pgm')
    ap.add_argument('--default-threshold', type=float,
                    help='the exit threshold (in the predictor\'s gain unit) the element uses unless told '
                    'otherwise (models with exits; default: chosen with --threshold-loss)')
    ap.add_argument('--threshold-loss', type=float, default=0.03,
                    help='the default threshold: the largest that loses at most this many dB of pooled PSNR '
                    'against full depth on every --threshold-every-th training picture')
    ap.add_argument('--threshold-quantile', type=float,
                    help='bound this quantile of the per-picture losses instead of the pooled loss (e.g. 0.9)')
    ap.add_argument('--threshold-every', type=int, default=8)
    ap.add_argument('--data', help="the training pictures (default: the checkpoint's --data)")
    ap.add_argument('--eval', default=os.path.join(REPO, 'tests', 'data'))
    args = ap.parse_args()
    model, pred, ck = model_from_checkpoint(args.checkpoint)
    if args.default_threshold is not None:
        ck['default_exit_threshold'] = args.default_threshold
    elif pred is not None:
        run_args = ck.get('trunk', ck)['args']
        data = args.data or run_args['data']
        pairs = [srdata.hr_lr_pair(srdata.load_rgb(p)) for f in training_folders(dict(run_args, data=data))
                 for p in srdata.image_paths(os.path.join(data, f))[::args.threshold_every]]
        print('choosing the default exit threshold on %d training pictures:' % len(pairs), flush=True)
        t, loss, frac = choose_threshold(model, pred, pairs, args.threshold_loss, args.threshold_quantile)
        ck['default_exit_threshold'] = t
        print('default exit threshold %g (gain %s): %.3f dB below full depth, %.1f%% of the MACs saved '
              '(predictor included)' % (t, ck['args'].get('gain', 'db'), loss, 100 * (1 - frac)))
    export(model, pred, ck, args.out)
    print('wrote %s (step %d, PyTorch Set5 %.2f Set14 %.2f)' % (args.out, ck.get('trunk', ck)['step'], ck['set5'],
                                                                ck['set14']))
    if args.golden:
        golden(model, pred, args.golden, args.eval)
        print('wrote golden data to %s' % args.golden)


if __name__ == '__main__':
    main()
