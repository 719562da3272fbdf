#!/usr/bin/python3
"""Export a training checkpoint to the model file sr-core loads, plus the golden test data.

  models/train/export.py build/train/ckpt.pt                  # -> models/superres-x2.safetensors
  models/train/export.py CKPT --golden tests/data             # also writes golden-lr/sr.pgm

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
from ghostnet import DIRECTIONS, ExitPredictor, GhostExitSR, exit_depth  # noqa: E402
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
    else:  # train_ghost.py's, ghost-exit or --arch plain
        if a.get('arch') == 'plain':
            model, pred = PlainSR(a['channels'], a['blocks']), None
        else:
            model, pred = GhostExitSR(a['channels'], a['blocks']), ExitPredictor(a['blocks'])
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
            'channels': model.channels, 'blocks': model.n_blocks, 'exit_tile': 32,
            'predictor_width': pred.conv1.out_channels,
            'shifts': [[list(DIRECTIONS[k]) for k in b.directions().tolist()] for b in model.blocks]}
    convs = [('head', model.head)] + [('blocks.%d.conv' % i, b.conv) for i, b in enumerate(model.blocks)]
    convs += [('tail', model.tail), ('predictor.conv1', pred.conv1), ('predictor.conv2', pred.conv2),
              ('predictor.fc', pred.fc)]
    tensors = []
    for n, c in convs:
        tensors.append((n + '.weight', c.weight.detach().numpy()))
        tensors.append((n + '.bias', c.bias.detach().numpy()))
    return arch, tensors


def adaptive_forward(model, pred, lr, threshold, tile=32):
    """PyTorch reference of sr-core's adaptive patch exit on a uint8 LR plane: per-tile
    depths from the predictor and each tile's output from the whole-frame net at its depth."""
    x = torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None]
    h, w = lr.shape
    with torch.no_grad():
        outs = model.forward_all(x)
        depths, gains = [], []
        out = torch.empty_like(outs[-1])
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                g = pred(x[:, :, y0:y0 + tile, x0:x0 + tile])[0].tolist()
                gains += g
                d = exit_depth(g, threshold, model.n_blocks)
                depths.append(d)
                sl = (slice(None), slice(None), slice(2 * y0, 2 * y0 + 2 * tile), slice(2 * x0, 2 * x0 + 2 * tile))
                out[sl] = outs[d - 1][sl]
    sr = np.clip(np.round(out[0, 0].numpy() * 255.0), 0, 255).astype(np.uint8)
    return sr, depths, gains


def export(model, pred, ck, path):
    if pred is not None:
        arch, tensors = ghost_tensors(model, pred)
        name = 'ghost-exit-c%db%d-x2' % (model.channels, model.n_blocks)
        params = sum(t.size for n, t in tensors if not n.startswith('predictor'))  # shift logits are not weights
        shifts = [d for b in arch['shifts'] for d in b]
        ck['extra_meta'] = {
            'ghost_channels': '%d of %d body channels are shifted copies (%d of them unshifted)' % (
                len(shifts), model.n_blocks * model.channels, shifts.count([0, 0])),
            'predictor_macs_per_tile': str(9 * 8 * 16 * 16 + 9 * 64 * 8 * 8 + 8 * (model.n_blocks - 1))}
        write_model(path, name, arch, tensors, model.macs_per_lr_pixel(), params, ck, 'train_ghost.py')
        return
    layers = model.layers()
    arch = {'scale': model.scale, 'anchor': 'nearest',
            'layers': [{'name': n, 'in': c.in_channels, 'out': c.out_channels,
                        'kernel': c.kernel_size[0], 'act': act} for n, c, act in layers]}
    tensors = []
    for n, c, _ in layers:
        tensors.append((n + '.weight', c.weight.detach().numpy()))
        tensors.append((n + '.bias', c.bias.detach().numpy()))
    write_model(path, 'plain-c%db%d-x2' % (model.channels, model.blocks), arch, tensors,
                model.macs_per_lr_pixel(), sum(p.numel() for p in model.parameters()), ck,
                'train_ghost.py --arch plain' if 'net' in ck else 'train.py')


def training_folders(args):
    """The folders the run trained on (every folder of its --data; a folder weight of 0 drops one)."""
    data = args.get('data', '')
    if not os.path.isdir(data):
        return ['t91', 'bsd200', 'photos']  # the first models' set, before photos2
    weights = recipe.parse_folder_weights(args.get('folder_weights', ''))
    return [d for d in sorted(os.listdir(data)) if weights.get(d, 1.0) > 0]


def write_model(path, name, arch, tensors, macs, params, ck, script='train.py'):
    meta = {
        'format': 'gst-superres', 'version': '1',
        'name': name,
        'arch': json.dumps(arch, separators=(',', ':')),
        'macs_per_lr_pixel': str(macs),
        'params': str(params),
        'training': 'models/train/%s: %d steps, %s' % (script,
            ck['step'], ', '.join('%s=%s' % kv for kv in sorted(ck['args'].items()) if kv[0] in
                                  ('batch', 'patch', 'lr', 'channels', 'blocks', 'seed', 'init', 'init_model',
                                           'init_etds', 'distill', 'rep_expand', 'ema') and kv[1])),
        'training_data': '%s (../shared/data/train, see SOURCES.md)' % ' + '.join(training_folders(ck['args'])),
        'psnr_set5_pytorch': '%.2f' % ck['set5'], 'psnr_set14_pytorch': '%.2f' % ck['set14'],
    }
    etds = 'Apache-2.0 weights of the ETDS project (ECNUSR/ETDS), trained by its authors on DIV2K (research use)'
    if ck['args'].get('init_etds'):
        meta['warm_start'] = '%s: %s' % (os.path.basename(ck['args']['init_etds']), etds)
    if ck['args'].get('distill'):
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
    sr, _, gains = adaptive_forward(model, pred, lr, 0.0)
    write_pgm(os.path.join(folder, 'golden-sr.pgm'), sr)
    # thresholds halfway between predicted gains, so float rounding cannot flip a decision
    g = np.unique(np.round(np.array(gains), 4))
    picks = [g[len(g) // 4], g[len(g) // 2], g[(3 * len(g)) // 4]]
    lines = []
    for i, v in enumerate(picks):
        above = g[g > v]
        t = float((v + above[0]) / 2) if len(above) else float(v) + 0.01
        sr, depths, _ = adaptive_forward(model, pred, lr, t)
        name = 'golden-sr-exit%d.pgm' % i
        write_pgm(os.path.join(folder, name), sr)
        lines.append('%.6f %s %s' % (t, name, ' '.join(map(str, depths))))
    with open(os.path.join(folder, 'golden-exit.txt'), 'w') as f:
        f.write('# threshold (dB), expected output, expected depth per 32x32 tile (row-major)\n')
        f.write('\n'.join(lines) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'superres-x2.safetensors'))
    ap.add_argument('--golden', help='folder for golden-lr.pgm / golden-sr.pgm')
    ap.add_argument('--default-threshold', type=float,
                    help='the exit threshold (dB) the element uses unless told otherwise (models with exits)')
    ap.add_argument('--eval', default=os.path.join(REPO, 'tests', 'data'))
    args = ap.parse_args()
    model, pred, ck = model_from_checkpoint(args.checkpoint)
    if args.default_threshold is not None:
        ck['default_exit_threshold'] = args.default_threshold
    export(model, pred, ck, args.out)
    print('wrote %s (step %d, PyTorch Set5 %.2f Set14 %.2f)' % (args.out, ck['step'], ck['set5'], ck['set14']))
    if args.golden:
        golden(model, pred, args.golden, args.eval)
        print('wrote golden data to %s' % args.golden)


if __name__ == '__main__':
    main()
