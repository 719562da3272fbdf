"""The ghost-shift, multi-exit network (GhostSR + APE) that sr-core runs, in PyTorch.

Luma in [0,1]. head: 3x3 conv 1->C + ReLU. Block k (1..B): a ghost conv, 3x3 conv C->C/2
+ ReLU making the intrinsic maps y, whose shifted copies (each channel one pixel in a
learned direction, zero-filled at the frame's edge) make the other C/2; the block adds
[y, shift(y)] to its input (a residual, so shallow exits stay useful). Exit k: the shared
tail (3x3 conv C->4, pixel shuffle) on block k's output, plus the LR pixel on all four
sub-pixels. The exit predictor (ExitPredictor) looks at an LR tile and predicts the PSNR
gain in dB of each block over the one before (APE's incremental capacity).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

# the 9 shift directions (dy, dx); ghost[c](p) = y[c](p + d)
DIRECTIONS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def shift_kernels(onehot):
    """[C, 9] direction weights -> depthwise 3x3 kernels [C, 1, 3, 3] that read y(p + d)."""
    return onehot.view(-1, 1, 3, 3)


def plain_conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class GhostBlock(nn.Module):
    def __init__(self, channels, conv=plain_conv):
        super().__init__()
        self.conv = conv(channels, channels // 2, 3)
        # per ghost channel logits over the 9 directions; learned with Gumbel-softmax, then frozen
        self.shift_logits = nn.Parameter(torch.zeros(channels // 2, 9))
        self.register_buffer('frozen', torch.full((channels // 2,), -1, dtype=torch.long))
        self.tau = 1.0

    def directions(self):
        return self.frozen if self.frozen[0] >= 0 else self.shift_logits.argmax(1)

    def shifted(self, y):
        """Each channel of y read one pixel away in its frozen direction (zero-filled): the
        slicing the C runtime does, for fast inference."""
        h, w = y.shape[-2:]
        p = F.pad(y, (1, 1, 1, 1))
        return torch.stack([p[:, c, 1 + DIRECTIONS[k][0]:1 + DIRECTIONS[k][0] + h,
                              1 + DIRECTIONS[k][1]:1 + DIRECTIONS[k][1] + w]
                            for c, k in enumerate(self.frozen.tolist())], 1)

    def freeze(self):
        self.frozen.copy_(self.shift_logits.argmax(1))
        self.shift_logits.requires_grad_(False)

    def forward(self, x):
        y = F.relu(self.conv(x))
        if self.frozen[0] >= 0 and not self.training:
            return x + torch.cat([y, self.shifted(y)], 1)
        if self.frozen[0] >= 0:
            onehot = F.one_hot(self.frozen, 9).to(y.dtype)
        elif self.training:
            onehot = F.gumbel_softmax(self.shift_logits, tau=self.tau, hard=True)
        else:
            onehot = F.one_hot(self.shift_logits.argmax(1), 9).to(y.dtype)
        # a shift is a depthwise 3x3 conv with a one-hot kernel (cross-correlation reads p + d)
        ghost = F.conv2d(y, shift_kernels(onehot), padding=1, groups=y.shape[1])
        return x + torch.cat([y, ghost], 1)


class GhostExitSR(nn.Module):
    def __init__(self, channels=16, blocks=10, scale=2, conv=plain_conv):
        """`conv` makes each 3x3 conv: plain, or re-parameterisable (recipe.RepConv) for training."""
        super().__init__()
        self.channels, self.n_blocks, self.scale = channels, blocks, scale
        self.head = conv(1, channels, 3)
        self.blocks = nn.ModuleList(GhostBlock(channels, conv) for _ in range(blocks))
        self.tail = conv(channels, scale * scale, 3)

    def exit(self, f, x):
        return F.pixel_shuffle(self.tail(f) + x.repeat(1, self.scale ** 2, 1, 1), self.scale)

    def forward(self, x, depth=None):
        """The output at `depth` blocks (default: all); only that exit's tail runs."""
        f = F.relu(self.head(x))
        for block in self.blocks[:depth or self.n_blocks]:
            f = block(f)
        return self.exit(f, x)

    def forward_all(self, x, max_depth=None):
        """Outputs at every depth 1..max_depth."""
        return self.forward_exits(x, range(1, (max_depth or self.n_blocks) + 1))

    def forward_exits(self, x, depths):
        """Outputs at the given depths (ascending), running each block once and only those tails."""
        f = F.relu(self.head(x))
        outs = []
        for k, block in enumerate(self.blocks[:max(depths)], 1):
            f = block(f)
            if k in depths:
                outs.append(self.exit(f, x))
        return outs

    def macs_per_lr_pixel(self, depth=None):
        c = self.channels
        return 9 * c + (depth or self.n_blocks) * 9 * c * (c // 2) + 9 * c * self.scale ** 2

    def receptive_radius(self):
        # head 1, each block 2 (conv 1, shift 1), tail 1
        return 2 * self.n_blocks + 2


class ExitPredictor(nn.Module):
    """A tile of LR luma -> predicted PSNR gain (dB) of blocks 2..B over the block before.
    Two stride-2 3x3 convs, global average pooling, one linear layer: about 1% of the
    network's work on a tile. `tile`: the side of the exit tiles it decides for (LR pixels)."""

    def __init__(self, blocks, width=8, tile=32):
        super().__init__()
        self.tile = tile
        self.conv1 = nn.Conv2d(1, width, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.fc = nn.Linear(width, blocks - 1)

    def forward(self, tile):
        f = F.relu(self.conv1(tile))
        f = F.relu(self.conv2(f))
        return self.fc(f.mean((2, 3)))


def exit_depth(gains, threshold, blocks, first=1):
    """Depth for a tile: the depth whose gains, each less the threshold, sum highest (ties go
    deeper), i.e. argmin_d of the tile's error at d plus threshold per block run: gains add up
    along depth, so a block that loses is skipped only when no deeper one makes up for it (block
    1 always runs; threshold 0 = always full depth). sr-core computes the same. `first` > 1:
    blocks 1..first have run and `gains` are those of blocks first+1..B (a re-plan mid-way)."""
    if threshold <= 0:
        return blocks
    depth, total, best = first, 0.0, 0.0
    for k in range(first + 1, blocks + 1):
        total += gains[k - first - 1] - threshold
        if total >= best:
            depth, best = k, total
    return depth


def exit_decision_points(gains):
    """The thresholds at which exit_depth's choice for a tile with these gains can change: where
    two of its sums tie, i.e. the mean of the gains of each run of consecutive blocks."""
    return [sum(gains[a:b]) / (b - a) for a in range(len(gains)) for b in range(a + 1, len(gains) + 1)]
