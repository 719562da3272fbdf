#!/usr/bin/python3
"""Train the ghost-shift multi-exit net, then its exit predictor; resumable.

  models/train/train_ghost.py --out build/ghost --steps 20000 --predictor-steps 3000
  models/train/train_ghost.py --arch plain --exits --blocks 5 --gain mse --predictor-steps 3000 \
      --init models/train/checkpoints/plain-etds/ckpt.pt --out build/plain-exits

Phase 1 (net): L1 on the final exit plus two random earlier exits per step (--final-weight). Shift
directions are learned with straight-through Gumbel-softmax (temperature annealed) for the
first --freeze-at of the steps, then frozen to their argmax.
Phase 2 (predictor): LR tiles with context go through the frozen net; each tile's target is
the gain of each block over the one before (--gain: PSNR in dB, or the drop of the tile's mean
squared error in 8-bit levels^2); the predictor regresses it (L1, or --predictor-quantile).
--arch plain --exits: a trained plain net (--init) gets early exits without phase 1: its trunk
stays frozen, the exits' tails are solved by least squares (recipe.least_squares_tails, towards
the mean of HR and teacher), then phase 2 trains the predictor. With --joint, phase 1 runs
after the least-squares start: trunk and tails trained together, as the ghost net is.
--arch plain without --exits: --init may be a shallower plain net; the added last hidden
layers start as the identity.
Checkpoints: OUT/ckpt.pt (rerun the same command to resume).
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402
import recipe  # noqa: E402
from ghostnet import DIRECTIONS, ExitPredictor, GhostExitSR  # noqa: E402
from net import PlainSR  # noqa: E402
from train import HERE, cosine_schedule, evaluate, optimizer_step, start, training_args  # noqa: E402


def tile_gains(net, images, rng, count, tile, gain='db', target='step', batch=32):
    """`count` random LR tiles of side `tile` and the per-block gains of the frozen net on them, in
    `gain`'s unit: 'db', the tile's PSNR gain, or 'mse', the drop of its mean squared error per
    HR pixel in 8-bit levels^2 (what pooled PSNR adds up; a flat tile's gains are ~0, so it exits
    early).
    target 'step': depth k over depth k - 1; 'best': the best depth from k on over the best
    depth before k ('best' was made for the runtime's earlier rule, the deepest k whose gain
    reaches the threshold, to skip a depth worse than an earlier one; the runtime now sums
    the gains less the threshold, which skips such a depth with 'step' gains too)."""
    r = net.receptive_radius()
    side = tile + 2 * r
    tiles, gains = [], []
    usable = [im for im in images if min(im.lr.shape) >= side]
    eps = (0.5 / 255) ** 2  # keeps flat tiles from making huge ratios
    net.eval()
    with torch.no_grad():
        while len(tiles) * batch < count:
            lrs, hrs, _ = recipe.sample_batch(usable, rng, batch, side)
            outs = net.forward_all(lrs)
            c = slice(2 * r, 2 * r + 2 * tile)
            mse = torch.stack([((o - hrs)[:, :, c, c] ** 2).mean((1, 2, 3)) for o in outs], 1)
            err = 10 * torch.log10(mse + eps) if gain == 'db' else mse * 255 ** 2  # per depth, lower is better
            if target == 'step':
                g = err[:, :-1] - err[:, 1:]
            else:
                g = torch.stack([err[:, :k].amin(1) - err[:, k:].amin(1) for k in range(1, err.shape[1])], 1)
            tiles.append(lrs[:, :, r:r + tile, r:r + tile].clone())
            gains.append(g)
    return torch.cat(tiles), torch.cat(gains)


def recipe_args(ap):
    """The recipe's switches (each off by default = the old recipe, for ablations)."""
    ap.add_argument('--rep-expand', type=int, default=0,
                    help='train each 3x3 conv over-parameterised: + 3x3 C->E then 1x1 E->C (E here), folded')
    ap.add_argument('--rep-edges', action='store_true', help='+ ECBSR\'s 1x1 + Sobel/Laplacian branches')
    ap.add_argument('--ema', type=float, default=0.0, help='weight EMA decay for the exported weights (0.999)')
    ap.add_argument('--betas', default='0.9,0.999', help='Adam betas (the recipe: 0.9,0.99)')
    ap.add_argument('--scales', default='1', help='HR scale augmentation, e.g. 1,0.7,0.5')
    ap.add_argument('--folder-weights', default='', help='e.g. bsd200=0.3,photos2=1 (default 1 each)')
    ap.add_argument('--video-share', type=float, default=0.0,
                    help='share of patches from soft, compressed copies of the pictures (recipe.degraded: video)')
    ap.add_argument('--hard-frac', type=float, default=0.0,
                    help='fraction of each batch placed where bicubic fails most (0.5)')
    ap.add_argument('--distill', type=float, default=0.0, help='weight of the loss towards the teacher')
    ap.add_argument('--loss', choices=('l1', 'mse'), default='l1',
                    help='pixel loss towards HR and teacher (mse: what PSNR measures, for a last fine-tune)')
    ap.add_argument('--teacher', default=os.path.join(HERE, '..', '..', '..', 'shared', 'peers', 'etds',
                                                      'etds-l-x2.npz'))
    ap.add_argument('--teacher-cache', default='build/teacher-cache')
    ap.add_argument('--final-only', action='store_true',
                    help='train the full-depth exit alone (the trunk; earlier exits are tuned later)')
    ap.add_argument('--no-shifts', action='store_true', help='ablation: every ghost channel unshifted')
    ap.add_argument('--init-model', help='start from a model file\'s weights (e.g. models/superres-x2-ghost.safetensors)')
    ap.add_argument('--arch', choices=('ghost', 'plain', 'sesr'), default='ghost',
                    help='plain: the plain net (net.py) with its final exit only, no predictor; sesr: the '
                    'SESR-like layout of the ablation (PyTorch only, not exportable)')
    ap.add_argument('--exits', action='store_true',
                    help='plain: add early exits to the --init net, its trunk frozen (no phase 1): tails by '
                    'least squares, then the predictor (--predictor-steps). Needs the teacher (--teacher-cache)')
    ap.add_argument('--joint', action='store_true',
                    help='plain --exits: after the least-squares start, train trunk and exits together for --steps '
                    '(the final exit weighted --final-weight against two random earlier ones per step)')
    ap.add_argument('--init-etds', help='plain: start from a published ETDS net of the same layout '
                    '(e.g. ../shared/peers/etds/etds-t-x2.npz), its tail solved for luma (recipe.plain_from_etds)')


def main():
    ap = training_args(__doc__, 'build/ghost', 10, 20000, 24)
    ap.add_argument('--freeze-at', type=float, default=0.4, help='fraction of steps with learned shifts')
    ap.add_argument('--predictor-steps', type=int, default=3000)
    ap.add_argument('--tile', type=int, default=32, help='the exit decision tile, in LR pixels')
    ap.add_argument('--predictor-width', type=int, default=8, help='the predictor convs\' channels')
    ap.add_argument('--predictor-loss', choices=('pinball', 'l2'), default='pinball',
                    help='pinball: of --predictor-quantile (0.5: L1, the median gain); l2: the mean gain, '
                    'what a pooled error adds up (for --gain mse, whose gains are heavy-tailed)')
    ap.add_argument('--predictor-tiles', type=int, default=16384)
    ap.add_argument('--gain', choices=('db', 'mse'), default='db',
                    help="the predictor's unit: a tile's PSNR gain (dB) or its squared error's drop (levels^2)")
    ap.add_argument('--gain-target', choices=('step', 'best'), default='step',
                    help='what the predictor learns for depth k: the gain over depth k - 1 (step), or the best '
                    'depth from k on over the best before k (best: the rule then bounds each tile\'s loss)')
    ap.add_argument('--predictor-quantile', type=float, default=0.5,
                    help='the quantile of the gain the predictor learns (0.5: L1, the median)')
    ap.add_argument('--final-weight', type=float, default=2.0,
                    help='weight of the full-depth exit\'s loss against the mean of two random earlier exits')
    ap.add_argument('--bf16', action='store_true',
                    help='bf16 autocast + channels_last (2x faster on CPUs with AVX-512 BF16/AMX; fp32 master weights)')
    ap.add_argument('--init', help='start from this checkpoint\'s net (shifts stay as frozen there; a plain net with '
                    'more hidden layers than the checkpoint starts its extra last layers as the identity)')
    recipe_args(ap)
    args = ap.parse_args()
    if args.joint and not args.exits:
        ap.error('--joint trains a plain net with --exits')
    if (args.init_etds or args.exits) and args.arch != 'plain':
        ap.error('--init-etds and --exits are for a plain net: add --arch plain')
    if args.exits and not args.init:
        ap.error('--exits adds exits to a trained plain net: give its checkpoint (--init)')
    ckpt_path = start(args)
    conv = recipe.conv_factory(args.rep_expand, args.rep_edges)
    if args.arch in ('plain', 'sesr'):
        net = PlainSR(args.channels, args.blocks, conv=conv, exits=args.exits,
                      layout='sesr' if args.arch == 'sesr' else 'plain')
        args.final_only = not args.joint
        if args.exits and not args.joint:
            args.steps = 0  # the trunk stays as trained
        if not args.exits:
            args.predictor_steps = 0
        ghost_blocks = []
    else:
        net = GhostExitSR(args.channels, args.blocks, conv=conv)
        ghost_blocks = list(net.blocks)
    if args.bf16:
        net = net.to(memory_format=torch.channels_last)
    pred = ExitPredictor(args.blocks, args.predictor_width, args.tile)
    betas = tuple(float(b) for b in args.betas.split(','))
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr, betas=betas)
    sched = cosine_schedule(opt, max(1, args.steps), 0.01)
    popt = torch.optim.Adam(pred.parameters(), lr=2e-3)
    step, pstep, ck = 0, 0, {}
    resumed = os.path.exists(ckpt_path)
    if resumed:
        ck = torch.load(ckpt_path)
        net.load_state_dict(ck['net_train'])
        step, pstep = ck['step'], ck['pstep']
        if pstep:  # an untrained predictor starts afresh (its width or tile may be new)
            pred.load_state_dict(ck['pred'])
            popt.load_state_dict(ck['popt'])
        if ck.get('opt'):
            opt.load_state_dict(ck['opt'])
            sched.load_state_dict(ck['sched'])
        print('resumed at step %d, predictor step %d' % (step, pstep), flush=True)
    elif args.init or args.init_model:
        init = torch.load(args.init) if args.init else {'net': modelfile.load(args.init_model)[0].state_dict()}
        state = init['net']
        if args.arch == 'plain':  # a deeper net may start from a shallower one
            state = recipe.deepen_plain_state(state, args.blocks)
        recipe.load_plain_state(net, state)
        if args.exits and not args.joint:  # the trunk's run, for the metadata; its scores stay valid at full depth
            ck['trunk'] = {'step': init['step'], 'args': init['args']}
            ck.update({k: v for k, v in init.items() if k.startswith('eval')})
        print('net initialised from %s' % (args.init or args.init_model), flush=True)
    if args.no_shifts:
        for b in ghost_blocks:
            b.frozen.fill_(DIRECTIONS.index((0, 0)))
    rng = np.random.default_rng(args.seed + step + 7 * pstep)
    freeze_step = int(args.freeze_at * args.steps)
    if ghost_blocks and (step >= freeze_step or ghost_blocks[0].frozen[0] >= 0):
        for b in ghost_blocks:
            b.freeze() if b.frozen[0] < 0 else b.shift_logits.requires_grad_(False)

    def exported():
        """The net whose weights are exported and evaluated: the EMA if kept, else the live one."""
        return ema.net if ema else net

    def save(extra=None):
        state = {'net': recipe.folded_state_dict(exported()), 'net_train': net.state_dict(),
                 'pred': pred.state_dict(), 'step': step, 'pstep': pstep,
                 'opt': opt.state_dict() if step < args.steps else None,
                 'sched': sched.state_dict() if step < args.steps else None,
                 'popt': popt.state_dict(), 'args': vars(args)}
        if ema:
            state['ema'] = ema.net.state_dict()
        state.update({k: v for k, v in ck.items() if k.startswith('eval') or k == 'trunk'})
        state.update(extra or {})
        torch.save(state, ckpt_path + '.tmp')
        os.replace(ckpt_path + '.tmp', ckpt_path)

    t0 = time.time()
    scales = [float(s) for s in args.scales.split(',')]
    images = recipe.load_images(args.data, max(args.patch, args.tile + 2 * net.receptive_radius()),
                                recipe.parse_folder_weights(args.folder_weights), scales, args.video_share)
    if args.distill or args.init_etds or (args.exits and not resumed):
        recipe.attach_teacher(images, args.teacher, args.teacher_cache)
    if args.exits and not resumed:
        with torch.no_grad():
            # patches placed uniformly: early exits fitted on hard patches lose up to 0.3 dB more
            # on the (mostly smooth) video clips, and the same on Set5/Set14; the ridge keeps
            # the tails' int16/bf16 loss small (least_squares_tails)
            tails = recipe.least_squares_tails(lambda lr: net.features(lr)[:-1], images,
                                               np.random.default_rng(args.seed), hard_frac=0.0, ridge=1e-3)
            for conv, (w, b) in zip(net.exit_tails, tails):
                if isinstance(conv, recipe.RepConv):
                    conv.load_plain(w, b)
                else:
                    conv.weight.copy_(w)
                    conv.bias.copy_(b)
        print('exit tails solved by least squares', flush=True)
    if args.init_etds and not resumed:
        recipe.plain_from_etds(net, args.init_etds, images, np.random.default_rng(args.seed))
        print('net initialised from %s: set5 %.3f set14 %.3f' % (
            args.init_etds, evaluate(net, os.path.join(args.eval, 'set5')),
            evaluate(net, os.path.join(args.eval, 'set14'))), flush=True)
    print('%d training pictures (%.1f LR Mpx) in %.0f s; %d MACs per LR pixel at full depth' % (
        len(images), sum(im.lr.size for im in images) / 1e6, time.time() - t0, net.macs_per_lr_pixel()), flush=True)
    ema = recipe.WeightEMA(net, args.ema) if args.ema else None
    if ema and 'ema' in ck:
        ema.net.load_state_dict(ck['ema'])

    net.train()
    pixel_loss = F.mse_loss if args.loss == 'mse' else F.l1_loss
    t0, loss_sum = time.time(), 0.0
    while step < args.steps:
        if step == freeze_step and any(b.frozen[0] < 0 for b in ghost_blocks):
            for b in ghost_blocks:
                if b.frozen[0] < 0:
                    b.freeze()
            print('shifts frozen:', [b.directions().tolist() for b in ghost_blocks], flush=True)
        tau = 2.0 * (0.3 / 2.0) ** min(1.0, step / max(1, freeze_step))
        for b in ghost_blocks:
            b.tau = tau
        lr, hr, te = recipe.sample_batch(images, rng, args.batch, args.patch, args.hard_frac, args.distill > 0)
        if args.bf16:
            lr = lr.contiguous(memory_format=torch.channels_last)
        if args.final_only:
            depths = [args.blocks]
        else:
            depths = sorted(int(k) + 1 for k in rng.choice(args.blocks - 1, size=2, replace=False)) + [args.blocks]
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.bf16):
            outs = net.forward_exits(lr, depths)
        losses = [pixel_loss(o.float(), hr) + (args.distill * pixel_loss(o.float(), te) if args.distill else 0)
                  for o in outs]
        if args.final_only:
            loss = losses[0]
        else:
            loss = (args.final_weight * losses[-1] + sum(losses[:-1]) / 2) / (args.final_weight + 1)
        loss_sum += optimizer_step(opt, sched, loss)
        if ema:
            ema.update(net)
        step += 1
        if step % args.ckpt_every == 0 or step == args.steps:
            s5 = evaluate(exported(), os.path.join(args.eval, 'set5'))
            s14 = evaluate(exported(), os.path.join(args.eval, 'set14'))
            net.train()
            print('step %d loss %.5f tau %.2f set5 %.3f set14 %.3f (%.1f steps/s)' % (
                step, loss_sum / args.ckpt_every, tau, s5, s14, args.ckpt_every / (time.time() - t0)), flush=True)
            loss_sum, t0 = 0.0, time.time()
            ck.update(eval_set5=s5, eval_set14=s14)
            save()

    net = exported()
    if pstep < args.predictor_steps:
        name = 'tiles' if (args.gain, args.gain_target) == ('db', 'step') else 'tiles-%s-%s' % (
            args.gain, args.gain_target)
        tiles_path = os.path.join(args.out, name + ('' if args.tile == 32 else '-tile%d' % args.tile) + '.pt')
        if os.path.exists(tiles_path):
            tiles, gains = torch.load(tiles_path)
        else:
            tiles, gains = tile_gains(net, images, rng, args.predictor_tiles, args.tile, args.gain, args.gain_target)
            torch.save((tiles, gains), tiles_path)
        unit = {'db': 'dB', 'mse': 'levels^2'}[args.gain]
        print('predictor: %d tiles, mean gain per block %s %s' % (
            len(tiles), np.round(gains.mean(0).numpy(), 3).tolist(), unit), flush=True)
        pred.train()
        while pstep < args.predictor_steps:
            idx = torch.from_numpy(rng.integers(0, len(tiles), 256))
            # the pinball loss of quantile q (twice it: q = 0.5 is L1): above 0.5, the predictor
            # overrates gains it is unsure of, so a tile exits early only when it is sure
            d = gains[idx] - pred(tiles[idx])
            q = args.predictor_quantile
            loss = (d ** 2).mean() if args.predictor_loss == 'l2' else 2 * torch.max(q * d, (q - 1) * d).mean()
            popt.zero_grad()
            loss.backward()
            popt.step()
            pstep += 1
            if pstep % 500 == 0 or pstep == args.predictor_steps:
                print('predictor step %d loss %.4f %s' % (pstep, loss.item(), unit), flush=True)
                save()


if __name__ == '__main__':
    main()
