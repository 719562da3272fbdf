"""The network that sr-core runs, in PyTorch.

Plain 3x3 conv net on luma in [0,1]: head 1->C, `blocks` body convs C->C, each followed by
ReLU, a tail C->4 and a pixel shuffle; the LR input is added to all four sub-pixels (the
"anchor" of ABPN/SESR), so the net learns only the residual over nearest-neighbour x2.
The C reference in sr-core/ computes exactly this; keep the two in step.

With `exits`, the net also has an early exit after each hidden layer d < B (issue 12's
"plain exits"): a 3x3 conv C->4 on the ReLU'd map layer d+1 reads, then the same anchor and
pixel shuffle as the last layer; exit B is the last layer itself. The trunk is unchanged, so a
trained plain net gains exits without retraining (train_ghost.py --arch plain --exits).

`layout='sesr'` is issue 12's SESR-like ablation (Bhardwaj et al. 2022), trained in PyTorch only:
5x5 head and tail, PReLU after the head and every hidden layer, and a long skip that adds the
head's map to the last hidden layer's. sr-core has no such layers (no 5x5, no PReLU, no skip),
so export.py refuses it; train_ghost.py --arch sesr.
"""
import torch.nn as nn
import torch.nn.functional as F


class PlainSR(nn.Module):
    def __init__(self, channels=16, blocks=5, scale=2, conv=None, exits=False, layout='plain'):
        """`conv(cin, cout, k)` makes each k x k conv: plain by default, or re-parameterisable
        (recipe.RepConv) for training. `exits`: add the early exits' tails (exit_tails[d - 1]
        is exit d's, d = 1..blocks-1; the model file names them exits.<d>). `layout`: 'plain'
        or 'sesr' (above; no exits)."""
        super().__init__()
        assert layout in ('plain', 'sesr') and not (exits and layout == 'sesr')
        conv = conv or (lambda cin, cout, k=3: nn.Conv2d(cin, cout, k, padding=k // 2))
        self.channels, self.blocks, self.scale, self.layout = channels, blocks, scale, layout
        edge_k = 5 if layout == 'sesr' else 3
        self.head = conv(1, channels, edge_k)
        self.body = nn.ModuleList(conv(channels, channels, 3) for _ in range(blocks))
        self.tail = conv(channels, scale * scale, edge_k)
        self.acts = nn.ModuleList(nn.PReLU(channels) if layout == 'sesr' else nn.ReLU()
                                  for _ in range(blocks + 1))
        self.exits = exits
        if exits:
            self.exit_tails = nn.ModuleList(conv(channels, scale * scale, 3) for _ in range(blocks - 1))

    def forward(self, x):
        f = head = self.acts[0](self.head(x))
        for conv, act in zip(self.body, self.acts[1:]):
            f = act(conv(f))
        if self.layout == 'sesr':
            f = f + head
        r = self.tail(f) + x.repeat(1, self.scale * self.scale, 1, 1)
        return F.pixel_shuffle(r, self.scale)

    def features(self, x, depth=None):
        """The ReLU'd maps after hidden layers 1..depth (default all): what exit d (and layer
        d + 1) reads."""
        f, out = self.acts[0](self.head(x)), []
        for conv, act in zip(self.body[:depth or self.blocks], self.acts[1:]):
            f = act(conv(f))
            out.append(f)
        return out

    def exit_tail(self, d):
        return self.tail if d == self.blocks else self.exit_tails[d - 1]

    def forward_exits(self, x, depths):
        """Outputs at the given depths (ascending; the trainer's interface shared with
        GhostExitSR), the trunk run once. Without exits, full depth only."""
        depths = list(depths)
        if not self.exits:
            assert depths == [self.blocks], 'a plain net without exits exits at full depth only'
            return [self(x)]
        anchor = x.repeat(1, self.scale * self.scale, 1, 1)
        maps = self.features(x, max(depths))
        return [F.pixel_shuffle(self.exit_tail(d)(maps[d - 1]) + anchor, self.scale) for d in depths]

    def forward_all(self, x, max_depth=None):
        """Outputs at every depth 1..max_depth (default all)."""
        return self.forward_exits(x, range(1, (max_depth or self.blocks) + 1))

    def receptive_radius(self):
        return self.blocks + (4 if self.layout == 'sesr' else 2)

    def layers(self):
        """(name, conv, activation) in execution order, as written to the model file."""
        out = [('head', self.head, 'relu')]
        out += [('body.%d' % i, c, 'relu') for i, c in enumerate(self.body)]
        out.append(('tail', self.tail, 'none'))
        return out

    def macs_per_lr_pixel(self, depth=None):
        """At full depth, or up to exit `depth` (the head, `depth` hidden layers, one tail)."""
        layers = self.layers()
        if depth:
            layers = layers[:depth + 1] + [layers[-1]]
        return sum(c.in_channels * c.out_channels * c.kernel_size[0] ** 2 for _, c, _ in layers)
