"""The network that sr-core runs, in PyTorch.

Plain 3x3 conv net on luma in [0,1]: head 1->C, `blocks` body convs C->C, each followed by
ReLU, a tail C->4 and a pixel shuffle; the LR input is added to all four sub-pixels (the
"anchor" of ABPN/SESR), so the net learns only the residual over nearest-neighbour x2.
The C reference in sr-core/ computes exactly this; keep the two in step.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class PlainSR(nn.Module):
    def __init__(self, channels=16, blocks=5, scale=2, conv=None):
        """`conv(cin, cout, k)` makes each 3x3 conv: plain by default, or re-parameterisable
        (recipe.RepConv) for training."""
        super().__init__()
        conv = conv or (lambda cin, cout, k=3: nn.Conv2d(cin, cout, k, padding=k // 2))
        self.channels, self.blocks, self.scale = channels, blocks, scale
        self.head = conv(1, channels, 3)
        self.body = nn.ModuleList(conv(channels, channels, 3) for _ in range(blocks))
        self.tail = conv(channels, scale * scale, 3)

    def forward(self, x):
        f = F.relu(self.head(x))
        for conv in self.body:
            f = F.relu(conv(f))
        r = self.tail(f) + x.repeat(1, self.scale * self.scale, 1, 1)
        return F.pixel_shuffle(r, self.scale)

    def forward_exits(self, x, depths):
        """The trainer's interface shared with GhostExitSR: this net has its final exit only."""
        assert list(depths) == [self.blocks], 'a plain net exits at full depth only'
        return [self(x)]

    def receptive_radius(self):
        return self.blocks + 2

    def layers(self):
        """(name, conv, activation) in execution order, as written to the model file."""
        out = [('head', self.head, 'relu')]
        out += [('body.%d' % i, c, 'relu') for i, c in enumerate(self.body)]
        out.append(('tail', self.tail, 'none'))
        return out

    def macs_per_lr_pixel(self):
        return sum(c.in_channels * c.out_channels * 9 for _, c, _ in self.layers())
