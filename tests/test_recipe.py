#!/usr/bin/python3
"""The training recipe's folds are exact: a net trained with re-parameterisable convs
(models/train/recipe.py) and exported folded computes what it computed in training.

- RepConv's folded conv equals the sum of its branches run one by one (plain, 3x3 -> 1x1
  expansion, identity, Sobel/Laplacian edge branches), for every shape the nets use;
- a whole ghost-exit net with RepConvs equals the plain-conv net built from its folded state
  (what export.py writes), at every exit depth;
- load_plain_state then fold gives back the plain weights (a shipped model as the start);
- the weight EMA moves towards the live weights by (1 - decay);
- the plain net (net.py) with RepConvs equals its folded export too; so does the SESR-like
  layout of the ablation (5x5 RepConvs, PReLU), whose long skip adds the head's map before the
  tail, and export.py refuses that layout (sr-core does not run it);
- the warm start from a published ETDS net (recipe.plain_from_etds) reads luma as the grey RGB
  picture ETDS would see (head and body exactly ETDS's), and its least-squares tail fits the
  patches' targets better than a zero tail (the anchor alone);
- a plain net with exits: forward_exits at full depth is forward(), each exit is its tail on the
  trunk's map; export.py writes it as issue 12's plain-exits format says (arch "exits",
  exits.<d>.* for d = 1..B-1, predictor.*, default_exit_threshold) and modelfile.load reads back
  the same outputs at every depth and the same predictor.
Skips (77) where PyTorch is not installed (CI installs no training stack).
"""
import json
import os
import sys
import tempfile

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print('SKIP: PyTorch (python3-torch) is not installed')
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'models', 'train'))
import export  # noqa: E402
import modelfile  # noqa: E402
import recipe  # noqa: E402
from ghostnet import ExitPredictor, GhostExitSR  # noqa: E402
from net import PlainSR  # noqa: E402

failures = []


def check(name, err, bound):
    ok = err <= bound
    print('%s %s: max error %.2e (bound %.0e)' % ('ok' if ok else 'FAIL', name, err, bound))
    if not ok:
        failures.append(name)


def branches_one_by_one(r, x):
    """RepConv's output from its branches, without folding."""
    pad = r.kernel_size[0] // 2
    out = r.conv(x)
    if r.expand is not None:
        out = out + r.squeeze(r.expand(x))
    if r.identity:
        out = out + x
    if r.edge_mix is not None:
        for m in range(len(recipe.EDGE_MASKS)):
            mixed = torch.einsum('oi,bihw->bohw', r.edge_mix[m], x)
            k = (r.edge_scale[m][:, None, None, None] * r.edge_masks[m]).expand(r.out_channels, 1, 3, 3)
            out = out + F.conv2d(mixed, k.contiguous(), padding=pad, groups=r.out_channels)
    return out


torch.manual_seed(0)
for cin, cout, expand, edges in [(1, 16, 64, True), (16, 8, 64, True), (16, 16, 128, False), (16, 4, 0, True)]:
    r = recipe.RepConv(cin, cout, 3, expand, edges)
    for p in r.parameters():
        p.data.normal_(0, 0.2)
    x = torch.randn(2, cin, 19, 23)
    ref = branches_one_by_one(r, x)
    check('RepConv %d->%d E=%d edges=%s (relative)' % (cin, cout, expand, edges),
          ((r(x) - ref).abs().max() / ref.abs().max()).item(), 5e-6)

rep = GhostExitSR(16, 4, conv=recipe.conv_factory(64, True))
for p in rep.parameters():
    p.data.normal_(0, 0.05)
for b in rep.blocks:
    b.freeze()
plain = GhostExitSR(16, 4)
plain.load_state_dict(recipe.folded_state_dict(rep))
rep.eval()
plain.eval()
x = torch.rand(1, 1, 40, 37)
with torch.no_grad():
    err = max((a - b).abs().max().item() for a, b in zip(rep.forward_all(x), plain.forward_all(x)))
check('ghost-exit net folded = trained, every depth', err, 1e-5)

restart = GhostExitSR(16, 4, conv=recipe.conv_factory(64, True))
recipe.load_plain_state(restart, plain.state_dict())
err = max((restart.state_dict()[k] if k in restart.state_dict() else recipe.folded_state_dict(restart)[k])
          .sub(v).abs().max().item() for k, v in plain.state_dict().items())
check('load_plain_state then fold = the plain weights', err, 1e-6)

ema = recipe.WeightEMA(plain, 0.9)
before = next(ema.net.parameters()).detach().clone()
live = next(plain.parameters())
with torch.no_grad():
    live.add_(1.0)
ema.update(plain)
check('EMA step = decay * old + (1 - decay) * live',
      (next(ema.net.parameters()) - (0.9 * before + 0.1 * live)).abs().max().item(), 1e-6)

rep = PlainSR(16, 3, conv=recipe.conv_factory(64, True))
for p in rep.parameters():
    p.data.normal_(0, 0.05)
plain = PlainSR(16, 3)
plain.load_state_dict(recipe.folded_state_dict(rep))
with torch.no_grad():
    err = (rep.eval()(x) - plain.eval()(x)).abs().max().item()
check('plain net folded = trained', err, 1e-5)

rep = PlainSR(16, 2, conv=recipe.conv_factory(64), layout='sesr')
for p in rep.parameters():
    p.data.normal_(0, 0.05)
plain = PlainSR(16, 2, layout='sesr').eval()
plain.load_state_dict(recipe.folded_state_dict(rep))
with torch.no_grad():
    err = (rep.eval()(x) - plain(x)).abs().max().item()
    head = plain.acts[0](plain.head(x))
    f = plain.acts[2](plain.body[1](plain.acts[1](plain.body[0](head))))
    by_hand = F.pixel_shuffle(plain.tail(f + head) + x.repeat(1, 4, 1, 1), 2)
check('SESR-like layout folded = trained', err, 1e-5)
check('SESR-like layout: 5x5 head and tail, long skip from the head', (plain(x) - by_hand).abs().max().item()
      + abs(plain.macs_per_lr_pixel() - (25 * 16 + 2 * 9 * 16 * 16 + 25 * 16 * 4)), 1e-6)
with tempfile.TemporaryDirectory() as tmp:
    try:
        export.export(plain, None, {'args': {}}, os.path.join(tmp, 'sesr.safetensors'))
        refused = False
    except SystemExit:
        refused = not os.path.exists(os.path.join(tmp, 'sesr.safetensors'))
check('export.py refuses the SESR-like layout', 0 if refused else 1, 0)


class Picture:
    """What recipe.sample_batch reads of a training picture: LR, HR and teacher luma."""

    def __init__(self, gen):
        self.lr = torch.rand(80, 80, generator=gen).numpy()
        self.hr = F.interpolate(torch.from_numpy(self.lr)[None, None], scale_factor=2, mode='bilinear',
                                align_corners=False)[0, 0].numpy()
        self.teacher = self.hr
        self.weight, self.cell_p, self.cells_w = 1.0, np.full(25, 1 / 25), 5


gen = torch.Generator().manual_seed(1)
etds = {'conv_first.weight': torch.randn(8, 3, 3, 3, generator=gen) * 0.3, 'conv_first.bias': torch.rand(8, generator=gen)}
for i in range(2):
    etds['backbone_convs.%d.weight' % i] = torch.randn(8, 8, 3, 3, generator=gen) * 0.1
    etds['backbone_convs.%d.bias' % i] = torch.rand(8, generator=gen) * 0.1
with tempfile.TemporaryDirectory() as tmp:
    npz = os.path.join(tmp, 'etds.npz')
    np.savez(npz, **{k: v.numpy() for k, v in etds.items()})
    pictures = [Picture(gen) for _ in range(3)]
    warm = PlainSR(8, 2, conv=recipe.conv_factory(16, False))
    recipe.plain_from_etds(warm, npz, pictures, np.random.default_rng(0), batches=2)
    y = torch.rand(1, 1, 21, 17, generator=gen)
    grey = ((255 * y - 16) / 219).repeat(1, 3, 1, 1)
    with torch.no_grad():
        f_etds = F.relu(F.conv2d(grey, etds['conv_first.weight'], etds['conv_first.bias'], padding=1))
        f_warm = F.relu(warm.head(y))
        for i in range(2):
            f_etds = F.relu(F.conv2d(f_etds, etds['backbone_convs.%d.weight' % i], etds['backbone_convs.%d.bias' % i], padding=1))
            f_warm = F.relu(warm.body[i](f_warm))
        # inside the frame: at its edge our zero padding is luma 0, ETDS's is grey 0
        err = (f_warm - f_etds)[:, :, 3:-3, 3:-3].abs().max().item()
        check('ETDS warm start: head on luma = ETDS on the grey picture, body copied', err, 1e-5)
        lr = torch.from_numpy(np.stack([p.lr for p in pictures]))[:, None]
        hr = torch.from_numpy(np.stack([p.hr for p in pictures]))[:, None]
        anchor_only = F.pixel_shuffle(lr.repeat(1, 4, 1, 1), 2)
        fitted, zero = F.mse_loss(warm(lr), hr).item(), F.mse_loss(anchor_only, hr).item()
        check('ETDS warm start: the fitted tail beats the anchor alone (MSE ratio)', fitted / zero, 0.9)

# --- a plain net with exits: its forward and its model file -------------------------------------
B = 3
net = PlainSR(8, B, exits=True).eval()
for p in net.parameters():
    p.data.normal_(0, 0.1)
pred = ExitPredictor(B, 16, tile=16).eval()  # not the default 8 and 32: the file carries them
x = torch.rand(1, 1, 37, 45, generator=gen)
with torch.no_grad():
    outs = net.forward_all(x)
    check('plain exits: forward_exits at depth B = forward()',
          (net.forward_exits(x, [B])[0] - net(x)).abs().max().item(), 0)
    f1 = F.relu(net.body[0](F.relu(net.head(x))))
    exit1 = F.pixel_shuffle(net.exit_tails[0](f1) + x.repeat(1, 4, 1, 1), 2)
    check('plain exits: exit 1 = its tail on hidden layer 1 + anchor', (outs[0] - exit1).abs().max().item(), 0)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'exits.safetensors')
    ck = {'step': 0, 'pstep': 5, 'set5': 0.0, 'set14': 0.0, 'default_exit_threshold': 2.5,
          'args': {'channels': 8, 'blocks': B, 'arch': 'plain', 'exits': True, 'gain': 'mse'}}
    export.export(net, pred, ck, path)
    meta, tensors = modelfile.read_safetensors(path)
    arch = json.loads(meta['arch'])
    names = ['head'] + ['body.%d' % i for i in range(B)] + ['tail'] + ['exits.%d' % d for d in range(1, B)]
    names += ['predictor.conv1', 'predictor.conv2', 'predictor.fc']
    shapes = {'exits.%d.weight' % d: [4, 8, 3, 3] for d in range(1, B)}
    shapes.update({'exits.%d.bias' % d: [4] for d in range(1, B)}, **{'predictor.fc.weight': [B - 1, 16]})
    ok = (sorted(tensors) == sorted(n + p for n in names for p in ('.weight', '.bias'))
          and all(list(tensors[n].shape) == s for n, s in shapes.items())
          and arch['type'] == 'plain' and len(arch['layers']) == B + 2
          and arch['exits'] == {'tile': 16, 'predictor_width': 16, 'gain': 'mse'}
          and float(meta['default_exit_threshold']) == 2.5)
    check("plain exits: the file has the spec's tensors, arch and threshold", 0 if ok else 1, 0)
    back, back_pred, _ = modelfile.load(path)
    with torch.no_grad():
        err = max((a - b).abs().max().item() for a, b in zip(outs, back.forward_all(x)))
        tile = x[:, :, :16, :16]
        err = max(err, (pred(tile) - back_pred(tile)).abs().max().item(), abs(back_pred.tile - 16))
    check('plain exits: the file reads back to the same outputs at every depth and predictor', err, 0)
    _, depths, _ = export.adaptive_forward(back, back_pred, np.uint8(x[0, 0].numpy() * 255), 0.0)
    check('plain exits: threshold 0 = full depth on every 16-pixel tile (3 x 3 of them)',
          0 if depths == [B] * 9 else 1, 0)

if failures:
    print('%d failed: %s' % (len(failures), ', '.join(failures)))
    sys.exit(1)
