#!/usr/bin/python3
"""Quantisation-aware fine-tuning of a plain model for sr-core's int8 path.

  models/train/train_qat.py --init models/superres-x2.safetensors --out build/qat --steps 4000 \
      --act-percentile 99.9 --target self --write build/superres-x2-int8.safetensors \
      --golden tests/data/int8

Starts from the model file's weights and trains with the forward pass sr-core's int8 path
computes (sr-core/cpu/sr-cpu-lowp.h): each layer's input rounded to 8 bits with one scale per
layer (the luma is already 8-bit), the weights to 8 bits with one scale per output channel;
gradients pass the rounding straight through. A layer's scale is its calibrated input maximum
/ 255, or with --act-percentile P that percentile of its input values / 255: the rare larger
values saturate (as sr-core's int8 conversion does), and every other value gets finer levels.
Re-measured every --recalibrate steps. A net with exits trains every exit: exit d's tail reads
the quantised map layer d + 1 reads, as sr-core stores it once; the loss is the final exit's
plus the mean of the earlier ones'. --target hr trains towards the HR pictures; --target self
towards the starting model's own fp32 outputs at every exit (self-distillation: the int8 net
learns to reproduce the model it starts from, whatever data that model was tuned on).
Resumable from --out/ckpt.pt. --write FILE writes the weights (the predictor unchanged), the
scales it trained with and `precision: fp32,int8`: the file is made for int8, its fp32 is only
what CPUs without VNNI and the GPU backends run (no longer the picture it was tuned for, so
choose_precision.py, which measures formats against the file's own fp32, does not apply);
`precision_loss` is int8's worst loss on Set5 / Set14 against the model it started from.
--golden DIR writes the fp32 golden data of the result (export.golden) and its int8 picture
of the same crop (golden-sr-int8.pgm).
"""
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export  # noqa: E402
import modelfile  # noqa: E402
import srdata  # noqa: E402
from choose_precision import quantise_act, quantise_weight, read_pgm  # noqa: E402
from export import write_safetensors  # noqa: E402
from train import (cosine_schedule, optimizer_step, resume, sample_batch,  # noqa: E402
                   save_checkpoint, start, training_args, training_pairs)


def int8_conv(conv, f):
    return F.conv2d(f, quantise_weight(conv.weight, 'int8'), conv.bias, padding=conv.padding)


def int8_forward(model, x, act_max, all_exits=False):
    """The plain net with int8 activations and weights (straight-through rounding); with
    all_exits (a net with exits), the outputs at every depth 1..B from one pass of the trunk
    (choose_precision.forward computes one depth a call, with the same quantisers)."""
    layers, outs = model.layers(), []
    anchor = x.repeat(1, model.scale * model.scale, 1, 1)
    f = x
    for i, (_, conv, act) in enumerate(layers):
        s = 1 / 255 if i == 0 else act_max[i] / 255
        f = quantise_act(f, s, 255)
        if all_exits and 2 <= i < len(layers) - 1:  # hidden layer i - 1's map: exit i - 1 reads it
            outs.append(F.pixel_shuffle(int8_conv(model.exit_tails[i - 2], f) + anchor, model.scale))
        y = int8_conv(conv, f)
        f = F.relu(y) if act == 'relu' else y
    outs.append(F.pixel_shuffle(f + anchor, model.scale))
    return outs if all_exits else outs[-1]


def layer_maxima(model, batches, percentile=100.0):
    """Each layer's input maximum over some LR batches (fp32 forward), or that percentile of
    its values."""
    values = [[] for _ in model.layers()]
    with torch.no_grad():
        for x in batches:
            f = x
            for i, (_, conv, act) in enumerate(model.layers()):
                # every 7th value: torch.quantile takes at most 2^24
                values[i].append(f.flatten()[::7] if percentile < 100 else f.max()[None])
                y = F.conv2d(f, conv.weight, conv.bias, padding=conv.padding)
                f = F.relu(y) if act == 'relu' else y
    return [float(torch.quantile(torch.cat(v), percentile / 100) if percentile < 100 else torch.cat(v).max())
            for v in values]


def exit_loss(outs, targets):
    """The final exit's L1 plus the mean of the earlier exits' (one output: its L1)."""
    final = F.l1_loss(outs[-1], targets[-1])
    if len(outs) == 1:
        return final
    return final + sum(F.l1_loss(o, t) for o, t in zip(outs[:-1], targets[:-1])) / (len(outs) - 1)


def evaluate(model, folder, act_max):
    scores = []
    with torch.no_grad():
        for p in srdata.image_paths(folder):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(p))
            x = torch.from_numpy(lr.astype(np.float32) / 255)[None, None]
            out = int8_forward(model, x, act_max) if act_max else model(x)
            scores.append(srdata.psnr_y(hr, np.clip(np.floor(out[0, 0].numpy() * 255 + 0.5), 0, 255)))
    return float(np.mean(scores))


def main():
    ap = training_args(__doc__, 'build/qat', 5, 4000, 16)
    ap.add_argument('--init', required=True, help='the model file to start from')
    ap.add_argument('--recalibrate', type=int, default=250)
    ap.add_argument('--act-percentile', type=float, default=100.0,
                    help="each layer's scale: this percentile of its input values (100: the maximum)")
    ap.add_argument('--target', choices=('hr', 'self'), default='hr',
                    help='train towards the HR pictures or the starting model\'s own fp32 outputs')
    ap.add_argument('--write', help='write the fine-tuned weights into this model file')
    ap.add_argument('--golden', help='with --write: write the fp32 golden data of the result here')
    ap.set_defaults(lr=1e-4, ckpt_every=500)
    args = ap.parse_args()
    ckpt_path = start(args)
    meta, tensors = modelfile.read_safetensors(args.init)
    model, pred, _ = modelfile.load(args.init)
    reference = copy.deepcopy(model).eval() if args.target == 'self' else None
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = cosine_schedule(opt, args.steps, 0.05)
    step, rng = resume(ckpt_path, model, opt, sched, args.seed)

    pairs, weights = training_pairs(args)
    calib_rng = np.random.default_rng(99)
    calib = [sample_batch(pairs, weights, calib_rng, 64, args.patch)[0] for _ in range(8)]
    act_max = layer_maxima(model, calib, args.act_percentile)
    t0, loss_sum = time.time(), 0.0
    while step < args.steps:
        if step % args.recalibrate == 0:
            act_max = layer_maxima(model, calib, args.act_percentile)
        lr, hr = sample_batch(pairs, weights, rng, args.batch, args.patch)
        outs = int8_forward(model, lr, act_max, all_exits=True) if model.exits else [int8_forward(model, lr, act_max)]
        if reference is not None:
            with torch.no_grad():
                targets = reference.forward_all(lr) if model.exits else [reference(lr)]
        else:
            targets = [hr] * len(outs)
        loss_sum += optimizer_step(opt, sched, exit_loss(outs, targets))
        step += 1
        if step % args.ckpt_every == 0 or step == args.steps:
            model.eval()
            s5 = evaluate(model, os.path.join(args.eval, 'set5'), act_max)
            s14 = evaluate(model, os.path.join(args.eval, 'set14'), act_max)
            f5 = evaluate(model, os.path.join(args.eval, 'set5'), None)
            model.train()
            print('step %d loss %.5f int8 set5 %.3f set14 %.3f (fp32 set5 %.3f) %.1f steps/s' % (
                step, loss_sum / args.ckpt_every, s5, s14, f5, args.ckpt_every / (time.time() - t0)), flush=True)
            loss_sum, t0 = 0.0, time.time()
            save_checkpoint(ckpt_path, model, opt, sched, step, args)

    if args.write:
        # the file is made for int8: sr-core runs int8 where the CPU has VNNI (AVX-512 or
        # AVX-VNNI) and fp32 elsewhere; its scales, measured on the final weights as in every
        # recalibration, travel in the file
        act_max = [1.0] + layer_maxima(model, calib, args.act_percentile)[1:]
        model.eval()
        start_model = reference if reference is not None else modelfile.load(args.init)[0]
        int8 = {s: evaluate(model, os.path.join(args.eval, s), act_max) for s in ('set5', 'set14')}
        loss = max(evaluate(start_model, os.path.join(args.eval, s), None) - int8[s] for s in int8)
        for key in ('int8_act_scales', 'int8_psnr_loss', 'precision_loss'):
            meta.pop(key, None)
        meta.update({'precision': 'fp32,int8', 'act_max': json.dumps([float(np.float32(m)) for m in act_max]),
                     # against the model it started from, not its own fp32 (which it no longer is)
                     'precision_loss': json.dumps({'int8': round(loss, 4)}),
                     'psnr_set5_pytorch': '%.2f' % int8['set5'], 'psnr_set14_pytorch': '%.2f' % int8['set14']})
        meta['name'] = meta['name'] if meta['name'].endswith('-int8') else meta['name'] + '-int8'
        meta['training'] = meta.get('training', '') + '; then models/train/train_qat.py: %d steps, lr=%g, ' \
            'act-percentile %g, target %s' % (args.steps, args.lr, args.act_percentile, args.target)
        state = model.state_dict()

        def trained(name):  # the file's exits.<d> is exit_tails.<d - 1>; the predictor is kept
            if name.startswith('exits.'):
                _, d, kind = name.split('.')
                return state['exit_tails.%d.%s' % (int(d) - 1, kind)]
            return tensors[name] if name.startswith('predictor.') else state[name]
        write_safetensors(args.write, [(n, trained(n).detach().numpy()) for n in tensors], meta)
        print('wrote', args.write, json.dumps({k: meta[k] for k in ('training', 'precision_loss', 'psnr_set5_pytorch',
                                                                    'psnr_set14_pytorch')}))
        if args.golden:  # the fp32 golden data, then the int8 picture of the same crop
            export.golden(model, pred, args.golden, args.eval)
            lr = torch.from_numpy(read_pgm(os.path.join(args.golden, 'golden-lr.pgm')).astype(np.float32) / 255)
            with torch.no_grad():
                sr = int8_forward(model, lr[None, None], act_max)[0, 0].numpy()
            export.write_pgm(os.path.join(args.golden, 'golden-sr-int8.pgm'), np.clip(np.floor(sr * 255 + 0.5), 0, 255))
            print('wrote golden data to', args.golden)

if __name__ == '__main__':
    main()
