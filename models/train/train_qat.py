#!/usr/bin/python3
"""Quantisation-aware fine-tuning of a plain model for sr-core's int8 path.

  models/train/train_qat.py --init models/superres-x2.safetensors --out build/qat --steps 4000

Starts from the model file's weights and trains with the forward pass sr-core's int8 path
computes (sr-core/cpu/sr-cpu-lowp.h): each layer's input rounded to 8 bits with one scale per
layer (the calibrated maximum / 255, re-measured every --recalibrate steps; the luma is
already 8-bit), the weights to 8 bits with one scale per output channel; gradients pass the
rounding straight through. Resumable from --out/ckpt.pt. --write FILE writes the weights
and the activation maxima it trained with; then `choose_precision.py FILE --keep-act-max`
measures the formats against that file's own fp32 and chooses.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import modelfile  # noqa: E402
import srdata  # noqa: E402
from export import write_safetensors  # noqa: E402
from train import (cosine_schedule, optimizer_step, resume, sample_batch,  # noqa: E402
                   save_checkpoint, start, training_args, training_pairs)


def ste_round(x):
    return x + (torch.round(x) - x).detach()


def int8_forward(model, x, act_max):
    """The plain net with int8 activations and weights (straight-through rounding)."""
    f = x
    for i, (_, conv, act) in enumerate(model.layers()):
        s = 1 / 255 if i == 0 else act_max[i] / 255
        f = torch.clamp(ste_round(f / s), 0, 255) * s
        ws = conv.weight.abs().amax(dim=(1, 2, 3), keepdim=True).detach() / 127
        w = ste_round(conv.weight / ws) * ws
        y = F.conv2d(f, w, conv.bias, padding=conv.padding)
        f = F.relu(y) if act == 'relu' else y
    r = f + x.repeat(1, model.scale * model.scale, 1, 1)
    return F.pixel_shuffle(r, model.scale)


def layer_maxima(model, batches):
    """Each layer's input maximum over some LR batches (fp32 forward)."""
    maxima = [0.0] * len(model.layers())
    with torch.no_grad():
        for x in batches:
            f = x
            for i, (_, conv, act) in enumerate(model.layers()):
                maxima[i] = max(maxima[i], float(f.max()))
                y = F.conv2d(f, conv.weight, conv.bias, padding=conv.padding)
                f = F.relu(y) if act == 'relu' else y
    return maxima


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
    ap.add_argument('--write', help='write the fine-tuned weights into this model file')
    ap.set_defaults(lr=1e-4, ckpt_every=500)
    args = ap.parse_args()
    ckpt_path = start(args)
    meta, tensors = modelfile.read_safetensors(args.init)
    model, _, _ = modelfile.load(args.init)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = cosine_schedule(opt, args.steps, 0.05)
    step, rng = resume(ckpt_path, model, opt, sched, args.seed)

    pairs, weights = training_pairs(args)
    calib_rng = np.random.default_rng(99)
    calib = [sample_batch(pairs, weights, calib_rng, 64, args.patch)[0] for _ in range(8)]
    act_max = layer_maxima(model, calib)
    t0, loss_sum = time.time(), 0.0
    while step < args.steps:
        if step % args.recalibrate == 0:
            act_max = layer_maxima(model, calib)
        lr, hr = sample_batch(pairs, weights, rng, args.batch, args.patch)
        loss_sum += optimizer_step(opt, sched, F.l1_loss(int8_forward(model, lr, act_max), hr))
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
        # the scales it was trained with travel in the file (choose_precision.py --keep-act-max)
        act_max = layer_maxima(model, calib)
        meta['act_max'] = json.dumps([1.0] + [float(np.float32(m)) for m in act_max[1:]])
        state = model.state_dict()
        meta['training'] = meta.get('training', '') + '; then models/train/train_qat.py: %d steps, lr=%g' % (
            args.steps, args.lr)
        write_safetensors(args.write, [(n, state[n].detach().numpy()) for n in tensors], meta)
        print('wrote', args.write, json.dumps({k: v for k, v in meta.items() if k == 'training'}))


if __name__ == '__main__':
    main()
