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
    def __init__(self, channels=16, blocks=5, scale=2):
        super().__init__()
        self.channels, self.blocks, self.scale = channels, blocks, scale
        self.head = nn.Conv2d(1, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        self.tail = nn.Conv2d(channels, scale * scale, 3, padding=1)

    def forward(self, x):
        f = F.relu(self.head(x))
        for conv in self.body:
            f = F.relu(conv(f))
        r = self.tail(f) + x.repeat(1, self.scale * self.scale, 1, 1)
        return F.pixel_shuffle(r, self.scale)

    def layers(self):
        """(name, conv, activation) in execution order, as written to the model file."""
        out = [('head', self.head, 'relu')]
        out += [('body.%d' % i, c, 'relu') for i, c in enumerate(self.body)]
        out.append(('tail', self.tail, 'none'))
        return out

    def macs_per_lr_pixel(self):
        return sum(c.in_channels * c.out_channels * 9 for _, c, _ in self.layers())
