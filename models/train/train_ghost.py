#!/usr/bin/python3
"""Train the ghost-shift multi-exit net, then its exit predictor; resumable.

  models/train/train_ghost.py --out build/ghost --steps 20000 --predictor-steps 3000

Phase 1 (net): L1 on the final exit plus two random earlier exits per step (--final-weight). Shift
directions are learned with straight-through Gumbel-softmax (temperature annealed) for the
first --freeze-at of the steps, then frozen to their argmax.
Phase 2 (predictor): LR tiles with context go through the frozen net; each tile's target is
the PSNR gain in dB of each block over the one before; the predictor regresses it (L1).
Checkpoints: OUT/ckpt.pt (rerun the same command to resume).
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ghostnet import ExitPredictor, GhostExitSR  # noqa: E402
from train import (cosine_schedule, evaluate, load_training_set, optimizer_step, sample_batch, start,  # noqa: E402
                   training_args)

TILE = 32  # the exit decision tile, in LR pixels


def tile_gains(net, pairs, rng, count, batch=32):
    """`count` random LR tiles and the per-block PSNR gains of the frozen net on them."""
    r = net.receptive_radius()
    side = TILE + 2 * r
    tiles, gains = [], []
    usable = [p for p in pairs if min(p[1].shape) >= side]
    eps = (0.5 / 255) ** 2  # keeps flat tiles from making huge ratios
    net.eval()
    with torch.no_grad():
        while len(tiles) * batch < count:
            lrs, hrs = sample_batch(usable, np.full(len(usable), 1 / len(usable)), rng, batch, side)
            outs = net.forward_all(lrs)
            c = slice(2 * r, 2 * r + 2 * TILE)
            mse = torch.stack([((o - hrs)[:, :, c, c] ** 2).mean((1, 2, 3)) for o in outs], 1)
            g = 10 * torch.log10((mse[:, :-1] + eps) / (mse[:, 1:] + eps))
            tiles.append(lrs[:, :, r:r + TILE, r:r + TILE].clone())
            gains.append(g)
    return torch.cat(tiles), torch.cat(gains)


def main():
    ap = training_args(__doc__, 'build/ghost', 10, 20000, 24)
    ap.add_argument('--freeze-at', type=float, default=0.4, help='fraction of steps with learned shifts')
    ap.add_argument('--predictor-steps', type=int, default=3000)
    ap.add_argument('--predictor-tiles', type=int, default=16384)
    ap.add_argument('--final-weight', type=float, default=2.0,
                    help='weight of the full-depth exit\'s loss against the mean of two random earlier exits')
    ap.add_argument('--bf16', action='store_true',
                    help='bf16 autocast + channels_last (2x faster on CPUs with AVX-512 BF16/AMX; fp32 master weights)')
    ap.add_argument('--init', help='start from this checkpoint\'s net (shifts stay as frozen there)')
    args = ap.parse_args()
    ckpt_path = start(args)
    net = GhostExitSR(args.channels, args.blocks)
    if args.bf16:
        net = net.to(memory_format=torch.channels_last)
    pred = ExitPredictor(args.blocks)
    opt = torch.optim.Adam([p for p in net.parameters()], lr=args.lr)
    sched = cosine_schedule(opt, args.steps, 0.01)
    popt = torch.optim.Adam(pred.parameters(), lr=2e-3)
    step, pstep, ck = 0, 0, {}
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        net.load_state_dict(ck['net'])
        pred.load_state_dict(ck['pred'])
        step, pstep = ck['step'], ck['pstep']
        if ck.get('opt'):
            opt.load_state_dict(ck['opt'])
            sched.load_state_dict(ck['sched'])
        popt.load_state_dict(ck['popt'])
        print('resumed at step %d, predictor step %d' % (step, pstep), flush=True)
    elif args.init:
        net.load_state_dict(torch.load(args.init)['net'])
        print('net initialised from %s' % args.init, flush=True)
    rng = np.random.default_rng(args.seed + step + 7 * pstep)
    freeze_step = int(args.freeze_at * args.steps)
    if step >= freeze_step or net.blocks[0].frozen[0] >= 0:
        for b in net.blocks:
            b.freeze() if b.frozen[0] < 0 else b.shift_logits.requires_grad_(False)

    def save(extra=None):
        state = {'net': net.state_dict(), 'pred': pred.state_dict(), 'step': step, 'pstep': pstep,
                 'opt': opt.state_dict() if step < args.steps else None,
                 'sched': sched.state_dict() if step < args.steps else None,
                 'popt': popt.state_dict(), 'args': vars(args)}
        state.update({k: v for k, v in ck.items() if k.startswith('eval')})
        state.update(extra or {})
        torch.save(state, ckpt_path + '.tmp')
        os.replace(ckpt_path + '.tmp', ckpt_path)

    folders = sorted(os.path.join(args.data, d) for d in os.listdir(args.data))
    pairs = load_training_set(folders, max(args.patch, TILE + 2 * net.receptive_radius()))
    weights = np.full(len(pairs), 1.0 / len(pairs))
    print('%d images; %d MACs per LR pixel at full depth' % (len(pairs), net.macs_per_lr_pixel()), flush=True)

    net.train()
    t0, loss_sum = time.time(), 0.0
    while step < args.steps:
        if step == freeze_step:
            for b in net.blocks:
                if b.frozen[0] < 0:
                    b.freeze()
            print('shifts frozen:', [b.directions().tolist() for b in net.blocks], flush=True)
        tau = 2.0 * (0.3 / 2.0) ** min(1.0, step / max(1, freeze_step))
        for b in net.blocks:
            b.tau = tau
        lr, hr = sample_batch(pairs, weights, rng, args.batch, args.patch)
        if args.bf16:
            lr = lr.contiguous(memory_format=torch.channels_last)
        earlier = sorted(int(k) + 1 for k in rng.choice(args.blocks - 1, size=2, replace=False))
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.bf16):
            outs = net.forward_exits(lr, earlier + [args.blocks])
        losses = [F.l1_loss(o.float(), hr) for o in outs]
        loss = (args.final_weight * losses[-1] + sum(losses[:-1]) / 2) / (args.final_weight + 1)
        loss_sum += optimizer_step(opt, sched, loss)
        step += 1
        if step % args.ckpt_every == 0 or step == args.steps:
            net.eval()
            s5 = evaluate(net, os.path.join(args.eval, 'set5'))
            s14 = evaluate(net, os.path.join(args.eval, 'set14'))
            net.train()
            print('step %d loss %.5f tau %.2f set5 %.2f set14 %.2f (%.1f steps/s)' % (
                step, loss_sum / args.ckpt_every, tau, s5, s14, args.ckpt_every / (time.time() - t0)), flush=True)
            loss_sum, t0 = 0.0, time.time()
            ck.update(eval_set5=s5, eval_set14=s14)
            save()

    if pstep < args.predictor_steps:
        tiles_path = os.path.join(args.out, 'tiles.pt')
        if os.path.exists(tiles_path):
            tiles, gains = torch.load(tiles_path)
        else:
            tiles, gains = tile_gains(net, pairs, rng, args.predictor_tiles)
            torch.save((tiles, gains), tiles_path)
        print('predictor: %d tiles, mean gain per block %s dB' % (
            len(tiles), np.round(gains.mean(0).numpy(), 3).tolist()), flush=True)
        pred.train()
        while pstep < args.predictor_steps:
            idx = torch.from_numpy(rng.integers(0, len(tiles), 256))
            loss = F.l1_loss(pred(tiles[idx]), gains[idx])
            popt.zero_grad()
            loss.backward()
            popt.step()
            pstep += 1
            if pstep % 500 == 0 or pstep == args.predictor_steps:
                print('predictor step %d L1 %.4f dB' % (pstep, loss.item()), flush=True)
                save()


if __name__ == '__main__':
    main()
