#!/usr/bin/python3
"""Choose the lowest precision that keeps a model's quality on the CPU, and record it.

  models/train/choose_precision.py models/superres-x2.safetensors [--clips builddir/clip-cache]
                                   [--max-loss 0.05]

sr-core's integer paths (AVX-512 VNNI, sr-core/cpu/sr-cpu-lowp.h) quantise each layer's input
with one scale per layer (the maximum measured here on training images / 255 for int8 or /
4095 for int16; the 8-bit luma enters as itself) and the weights with one scale per output
channel (max |w| / 127 or / 511); the bf16 path (AMX) stores activations as bf16. This script
simulates each on Set5, Set14 and the clips decoded by pipelines/compare.py (its --cache
folder), and writes into the file's metadata every format whose loss against fp32 is at most
--max-loss dB everywhere ("precision", comma-separated, with "act_max" and the worst loss
per format in "precision_loss"); sr-core picks the fastest of them the CPU runs. It also writes
each allowed format's picture of tests/data/golden-lr.pgm (golden-sr-FORMAT.pgm) for
sr-core's test. A plain net with exits (net.py) is checked at every exit depth: exit d's tail
reads the map layer d + 1 reads, so it is quantised with layer d + 1's input scale act_max[d + 1].

Ghost-exit models (sr-core/cpu/sr-cpu-net.c) have two low formats, bf16 and int16: each
conv's input rounded to bf16 or quantised to int16 levels, the residual stream in fp32. int16
has one scale per depth, the stream's maximum after d blocks measured here / 4095 ("act_max":
the luma's 1, then the stream after the head and after each block); it also quantises block
d's intrinsic maps and is the input scale of the tail at exit d; the luma enters as 16 levels
per 8-bit step. Each format is checked at depth 1, half and full depth (pass --golden
tests/data/ghost for such a model).
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
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
import modelfile  # noqa: E402
import srdata  # noqa: E402
from export import write_pgm, write_safetensors  # noqa: E402
from ghostnet import GhostExitSR  # noqa: E402


def read_pgm(path):
    with open(path, 'rb') as f:
        fields = f.read().split(maxsplit=4)
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(fields[4][:w * h], np.uint8).reshape(h, w)


LEVELS = {'int8': (255, 127), 'int16': (4095, 511)}  # activation, weight levels


def bf16(t):
    return t.bfloat16().float()


def forward(model, x, fmt=None, act_max=None, ranges=None, depth=None):
    """The plain net on luma x (at exit `depth`, default the last); with `fmt`, its
    low-precision arithmetic as sr-core runs it."""
    f = x
    layers = model.layers()
    if depth:  # the head, `depth` hidden layers, exit depth's tail: layer i reads act_max[i]
        layers = layers[:depth + 1] + [('exit', model.exit_tail(depth), 'none')]
    for i, (_, conv, act) in enumerate(layers):
        w = conv.weight
        if ranges is not None:
            ranges[i] = max(ranges[i], float(f.max()))
        if fmt == 'bf16':
            # activations stored as bf16; the luma enters as its integer value, 1/255 folded
            # into the first layer's weights; sums in fp32
            f, w = (f * 255, bf16(w / 255)) if i == 0 else (bf16(f), bf16(w))
        elif fmt is not None:
            alev = LEVELS[fmt][0]
            s = 1 / 255 if i == 0 else act_max[i] / alev
            f = quantise_act(f, s, 255 if i == 0 else alev)
            w = quantise_weight(w, fmt)
        y = F.conv2d(f, w, conv.bias, padding=conv.padding)
        f = F.relu(y) if act == 'relu' else y
    r = f + x.repeat(1, model.scale * model.scale, 1, 1)
    return F.pixel_shuffle(r, model.scale)


def ste_round(x):
    """torch.round, with the gradient passed straight through (train_qat.py trains through
    these simulations)."""
    return x + (torch.round(x) - x).detach()


def quantise_act(f, s, levels):
    """Activations on `levels` steps of `s` from 0, the larger ones saturated."""
    return torch.clamp(ste_round(f / s), 0, levels) * s


def quantise_weight(w, fmt):
    """Weights on `fmt`'s levels, one scale per output channel."""
    ws = w.abs().amax(dim=(1, 2, 3), keepdim=True).detach() / LEVELS[fmt][1]
    return ste_round(w / ws) * ws


def ghost_forward(model, x, fmt=None, depth=None, act_max=None, ranges=None):
    """The ghost net at `depth` blocks; with fmt='bf16' or 'int16', as sr-core's low-precision
    path runs it (`act_max`: the int16 scales); `ranges` collects the stream's maximum after
    the head and after each block (fp32)."""
    if fmt is None and ranges is None:
        return model(x, depth)
    alev = LEVELS['int16'][0]

    def conv_in(f, d):
        """what a conv reads of the stream after d blocks"""
        if fmt == 'bf16':
            return bf16(f)
        if fmt == 'int16':
            s = act_max[d + 1] / alev
            return quantise_act(f, s, alev)
        return f

    def weight(w):
        return bf16(w) if fmt == 'bf16' else quantise_weight(w, fmt) if fmt == 'int16' else w

    def record(d, f):
        if ranges is not None:
            ranges[d] = max(ranges[d], float(f.max()))

    if fmt == 'bf16':  # the luma enters as its integer value, 1/255 folded into the weights
        h = F.conv2d(x * 255, bf16(model.head.weight * np.float32(1 / 255)), model.head.bias, padding=1)
    elif fmt == 'int16':  # 16 levels per 8-bit step (exact for 8-bit frames)
        h = F.conv2d(torch.round(x * 4080) / 4080, weight(model.head.weight), model.head.bias, padding=1)
    else:
        h = F.conv2d(x, model.head.weight, model.head.bias, padding=1)
    f = conv_in(F.relu(h), 0)
    record(0, f)
    for d, block in enumerate(model.blocks[:depth or model.n_blocks]):
        y = conv_in(F.relu(F.conv2d(conv_in(f, d), weight(block.conv.weight), block.conv.bias,
                                    padding=1)), d + 1)
        f = f + torch.cat([y, block.shifted(y)], 1)
        record(d + 1, f)
    r = F.conv2d(conv_in(f, depth or model.n_blocks), weight(model.tail.weight), model.tail.bias, padding=1)
    return F.pixel_shuffle(r + x.repeat(1, model.scale ** 2, 1, 1), model.scale)


def luma(lr):
    return torch.from_numpy(lr.astype(np.float32) / 255)[None, None]


def image_pairs(folder):
    return [srdata.hr_lr_pair(srdata.load_rgb(p)) for p in srdata.image_paths(folder)]


def clip_pairs(cache, every=5):
    """(HR luma, LR luma) of every `every`-th frame of each clip compare.py cached."""
    sets = {}
    for meta_path in sorted(glob.glob(os.path.join(cache, '*.json'))):
        with open(meta_path) as f:
            m = json.load(f)
        if 'hr' not in m or not os.path.exists(m['hr']):
            continue
        if (m.get('lr_width'), m.get('lr_height')) != (m['width'] // 2, m['height'] // 2):
            continue  # another ratio's clip (x1.5): not an x2 pair
        w, h, n = m['width'], m['height'], m['frames']
        hr = np.memmap(m['hr'], np.uint8, 'r')
        lr = np.memmap(m['lr'], np.uint8, 'r')
        hs, ls = w * h * 3 // 2, (w // 2) * (h // 2) * 3 // 2
        sets[os.path.basename(meta_path)[:-5]] = [
            (hr[i * hs:i * hs + w * h].reshape(h, w).astype(np.float64),
             np.array(lr[i * ls:i * ls + (w // 2) * (h // 2)]).reshape(h // 2, w // 2))
            for i in range(0, n, every)]
    return sets


def mean_psnr(model, pairs, fmt=None, act_max=None, depth=None):
    scores = []
    for hr, lr in pairs:
        with torch.no_grad():
            out = (ghost_forward(model, luma(lr), fmt, depth, act_max) if isinstance(model, GhostExitSR)
                   else forward(model, luma(lr), fmt, act_max, depth=depth))
        scores.append(srdata.psnr_y(hr, np.clip(np.floor(out[0, 0].numpy() * 255 + 0.5), 0, 255)))
    return float(np.mean(scores))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model')
    ap.add_argument('--images', nargs='+', default=[os.path.join(REPO, '..', 'shared', 'data', 'train', d)
                                                     for d in ('t91', 'bsd200')])
    ap.add_argument('--clips', default=os.path.join(REPO, 'builddir', 'clip-cache'),
                    help="pipelines/compare.py's cache of decoded clips")
    ap.add_argument('--max-loss', type=float, default=0.05)
    ap.add_argument('--keep-act-max', action='store_true',
                    help="use the file's act_max (what train_qat.py trained with) instead of measuring")
    ap.add_argument('--golden', default=os.path.join(REPO, 'tests', 'data'),
                    help='folder with golden-lr.pgm; golden-sr-FORMAT.pgm are written there')
    args = ap.parse_args()
    torch.set_num_threads(2)

    meta, tensors = modelfile.read_safetensors(args.model)
    model, pred, _ = modelfile.load(args.model)
    if isinstance(model, GhostExitSR):
        choose_ghost(args, meta, tensors, model)
        return
    assert all(act == 'relu' for _, _, act in model.layers()[:-1]), 'needs ReLU before every layer'

    ranges = calibrate(args, len(model.layers()), lambda x, r: forward(model, x, ranges=r))
    act_max = [1.0] + ranges[1:]  # the luma enters as its 8-bit value
    if args.keep_act_max:
        act_max = json.loads(meta['act_max'])
        print("using the file's act_max: %s" % ['%.3f' % r for r in act_max])

    sets = eval_sets(args.clips)
    worst = {}  # each format's worst loss, over the sets and (with exits) every exit depth
    for depth in range(1, model.blocks + 1) if model.exits else [None]:
        fp32 = reference_psnr(model, sets, depth)
        for fmt in ('int8', 'int16', 'bf16'):
            loss = {name: round(fp32[name] - mean_psnr(model, pairs, fmt, act_max, depth), 4)
                    for name, pairs in sets.items()}
            print('%s%s: loss against fp32 (dB): %s' % (fmt, ' at depth %d' % depth if depth else '', loss))
            worst[fmt] = max([worst.get(fmt, -np.inf)] + list(loss.values()))
    allowed = ['fp32'] + [fmt for fmt in worst if worst[fmt] <= args.max_loss]
    losses = {fmt: worst[fmt] for fmt in allowed[1:]}
    print('allowed: %s (fp32 PSNR at full depth: %s)' % (allowed, {k: round(v, 3) for k, v in fp32.items()}))
    for key in ('int8_act_scales', 'int8_psnr_loss', 'act_max', 'precision_loss'):
        meta.pop(key, None)
    meta['precision'] = ','.join(allowed)
    meta['act_max'] = json.dumps([float(np.float32(r)) for r in act_max])
    meta['precision_loss'] = json.dumps(losses)
    write_results(args, meta, tensors, lambda fmt, x: forward(model, x, fmt, act_max))


def calibrate(args, n, run):
    """The maxima of n activations over the training images' LR lumas; run(luma, ranges)
    updates them."""
    ranges = [0.0] * n
    paths = [p for d in args.images for p in srdata.image_paths(d)]
    for p in paths:
        _, lr = srdata.hr_lr_pair(srdata.load_rgb(p))
        with torch.no_grad():
            run(luma(lr), ranges)
    print('calibrated on %d images; maxima: %s' % (len(paths), ['%.3f' % r for r in ranges]))
    return ranges


def write_results(args, meta, tensors, run):
    """Each allowed low format's picture of the golden frame (golden-sr-FORMAT.pgm, which
    sr-core must reproduce; run(fmt, luma) gives it), then the model file with `meta`."""
    lr = luma(read_pgm(os.path.join(args.golden, 'golden-lr.pgm')))
    for fmt in meta['precision'].split(',')[1:]:
        with torch.no_grad():
            sr = run(fmt, lr)[0, 0].numpy()
        write_pgm(os.path.join(args.golden, 'golden-sr-%s.pgm' % fmt), np.clip(np.floor(sr * 255 + 0.5), 0, 255))
    write_safetensors(args.model, [(n, tensors[n].numpy()) for n in tensors], meta)
    print('wrote', args.model)


def eval_sets(clips):
    sets = {s: image_pairs(os.path.join(REPO, 'tests', 'data', s)) for s in ('set5', 'set14')}
    sets.update(clip_pairs(clips))
    return sets


def reference_psnr(model, sets, depth=None):
    """fp32 PSNR per set; drops (from `sets` too) the nearly flat ones, where dB mean nothing
    (a title's fade to black scores ~100 dB)."""
    fp32 = {name: mean_psnr(model, pairs, depth=depth) for name, pairs in sets.items()}
    for name in [n for n, v in fp32.items() if v > 60]:
        print('skipping %s: fp32 PSNR %.1f dB, the frames are nearly flat' % (name, fp32.pop(name)))
        del sets[name]
    return fp32


def choose_ghost(args, meta, tensors, model):
    """bf16 and int16 or not for a ghost-exit model, each at depth 1, half and full depth."""
    B = model.n_blocks
    # the stream's maxima after the head and each block (the luma enters as itself)
    act_max = [1.0] + calibrate(args, B + 1, lambda x, r: ghost_forward(model, x, ranges=r))
    if args.keep_act_max and 'act_max' in meta:
        act_max = json.loads(meta['act_max'])
        print("using the file's act_max: %s" % ['%.3f' % r for r in act_max])
    sets = eval_sets(args.clips)
    worst, fp32_full = {'int16': 0.0, 'bf16': 0.0}, None
    for depth in sorted({1, B // 2, B}):
        fp32 = reference_psnr(model, sets, depth)
        for fmt in worst:
            loss = {name: round(fp32[name] - mean_psnr(model, pairs, fmt, act_max, depth), 4)
                    for name, pairs in sets.items()}
            print('%s at depth %d: loss against fp32 (dB): %s' % (fmt, depth, loss))
            worst[fmt] = max([worst[fmt]] + list(loss.values()))
        fp32_full = fp32
    allowed = ['fp32'] + [fmt for fmt in worst if worst[fmt] <= args.max_loss]
    print('worst loss: %s; allowed: %s (fp32 PSNR at full depth: %s)' % (
        worst, allowed, {k: round(v, 3) for k, v in fp32_full.items()}))
    for key in ('act_max', 'precision_loss'):
        meta.pop(key, None)
    meta['precision'] = ','.join(allowed)
    if 'int16' in allowed:
        meta['act_max'] = json.dumps([float(np.float32(r)) for r in act_max])
    if len(allowed) > 1:
        meta['precision_loss'] = json.dumps({fmt: worst[fmt] for fmt in allowed[1:]})
    write_results(args, meta, tensors, lambda fmt, x: ghost_forward(model, x, fmt, B, act_max))


if __name__ == '__main__':
    main()
