#!/usr/bin/python3
"""Train the x2 luma SR net on ../shared/data/train (or --data); resumable.

  models/train/train.py --out build/train --steps 60000        # starts or resumes
Checkpoints go to OUT/ckpt.pt every --ckpt-every steps; rerunning the same command resumes.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import srdata  # noqa: E402
from net import PlainSR  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load_training_set(folders, min_lr_side):
    pairs = []
    for folder in folders:
        for path in srdata.image_paths(folder):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
            if min(lr.shape) >= min_lr_side:
                pairs.append((hr.astype(np.float32) / 255.0, lr.astype(np.float32) / 255.0))
    return pairs


def sample_batch(pairs, weights, rng, batch, patch):
    lrs = np.empty((batch, 1, patch, patch), np.float32)
    hrs = np.empty((batch, 1, 2 * patch, 2 * patch), np.float32)
    for i, k in enumerate(rng.choice(len(pairs), size=batch, p=weights)):
        hr, lr = pairs[k]
        y = rng.integers(0, lr.shape[0] - patch + 1)
        x = rng.integers(0, lr.shape[1] - patch + 1)
        l = lr[y:y + patch, x:x + patch]
        h = hr[2 * y:2 * y + 2 * patch, 2 * x:2 * x + 2 * patch]
        t = rng.integers(8)  # the 8 flips/rotations of the square
        if t & 1:
            l, h = l[:, ::-1], h[:, ::-1]
        if t & 2:
            l, h = l[::-1], h[::-1]
        if t & 4:
            l, h = l.T, h.T
        lrs[i, 0], hrs[i, 0] = l, h
    return torch.from_numpy(lrs), torch.from_numpy(hrs)


def evaluate(model, folder):
    model.eval()
    scores = []
    with torch.no_grad():
        for path in srdata.image_paths(folder):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
            x = torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None]
            sr = model(x)[0, 0].numpy() * 255.0
            scores.append(srdata.psnr_y(hr, np.clip(np.round(sr), 0, 255)))
    model.train()
    return float(np.mean(scores))


def training_args(description, out, blocks, steps, batch):
    """The options every trainer here takes; add yours, then parse."""
    shared = os.path.join(HERE, '..', '..', '..', 'shared', 'data')
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=os.path.join(shared, 'train'))
    ap.add_argument('--eval', default=os.path.join(HERE, '..', '..', 'tests', 'data'))
    ap.add_argument('--out', default=out)
    ap.add_argument('--channels', type=int, default=16)
    ap.add_argument('--blocks', type=int, default=blocks)
    ap.add_argument('--steps', type=int, default=steps)
    ap.add_argument('--batch', type=int, default=batch)
    ap.add_argument('--patch', type=int, default=48, help='LR patch side')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--ckpt-every', type=int, default=1000)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--seed', type=int, default=1)
    return ap


def start(args):
    """Threads, output folder, seed; returns the checkpoint path."""
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    return os.path.join(args.out, 'ckpt.pt')


def optimizer_step(opt, sched, loss):
    """One update; returns the loss as a number."""
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def cosine_schedule(opt, steps, floor):
    """Cosine decay of the learning rate to `floor` of its start over `steps`."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)) * (1 - floor) + floor)


def resume(ckpt_path, model, opt, sched, seed):
    """(step, rng) from the checkpoint if there is one, else (0, a fresh rng)."""
    if not os.path.exists(ckpt_path):
        return 0, np.random.default_rng(seed)
    ck = torch.load(ckpt_path)
    model.load_state_dict(ck['model'])
    opt.load_state_dict(ck['opt'])
    sched.load_state_dict(ck['sched'])
    print('resumed at step %d' % ck['step'], flush=True)
    return ck['step'], np.random.default_rng(seed + ck['step'])


def save_checkpoint(ckpt_path, model, opt, sched, step, args, **extra):
    """Written aside, then renamed: a run stopped mid-write keeps the previous one."""
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                    step=step, args=vars(args), **extra), ckpt_path + '.tmp')
    os.replace(ckpt_path + '.tmp', ckpt_path)


def training_pairs(args):
    """The training images as (HR, LR) pairs, each equally likely: weighting by area lets the
    large, smooth photos dominate and the net then collapses to the anchor (zero residual is
    the L1 median of flat patches)."""
    folders = sorted(os.path.join(args.data, d) for d in os.listdir(args.data))
    pairs = load_training_set(folders, args.patch)
    return pairs, np.full(len(pairs), 1.0 / len(pairs))


def main():
    args = training_args(__doc__, 'build/train', 5, 60000, 32).parse_args()
    ckpt_path = start(args)
    model = PlainSR(args.channels, args.blocks)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = cosine_schedule(opt, args.steps, 0.005)
    step, rng = resume(ckpt_path, model, opt, sched, args.seed)

    t0 = time.time()
    pairs, weights = training_pairs(args)
    area = np.array([p[1].size for p in pairs], np.float64)
    print('%d training images, %.1f LR Mpx, loaded in %.0f s; %d MACs per LR pixel'
          % (len(pairs), area.sum() / 1e6, time.time() - t0, model.macs_per_lr_pixel()), flush=True)

    t0, loss_sum = time.time(), 0.0
    while step < args.steps:
        lr, hr = sample_batch(pairs, weights, rng, args.batch, args.patch)
        loss_sum += optimizer_step(opt, sched, F.l1_loss(model(lr), hr))
        step += 1
        if step % args.ckpt_every == 0 or step == args.steps:
            s5 = evaluate(model, os.path.join(args.eval, 'set5'))
            s14 = evaluate(model, os.path.join(args.eval, 'set14'))
            print('step %d loss %.5f lr %.2e set5 %.2f set14 %.2f (%.1f steps/s)' % (
                step, loss_sum / args.ckpt_every, sched.get_last_lr()[0], s5, s14,
                args.ckpt_every / (time.time() - t0)), flush=True)
            loss_sum, t0 = 0.0, time.time()
            save_checkpoint(ckpt_path, model, opt, sched, step, args, set5=s5, set14=s14)


if __name__ == '__main__':
    main()
