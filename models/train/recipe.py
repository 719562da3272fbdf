"""The training recipe's parts, shared by the trainers: over-parameterised convs that fold into
one conv, weight EMA, the weighted and scale-augmented training set with hard-patch sampling,
and the distillation teacher (ETDS-L) whose outputs are computed once and cached.

Every part is switched by an option of train_ghost.py, so each can be ablated on its own.
"""
import copy
import io
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageFilter

import srdata

# ECBSR's fixed edge filters; each folds into a k x k conv as scale[o] * A[o, i] * mask
EDGE_MASKS = {
    'sobel_x': [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    'sobel_y': [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
    'laplacian': [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
}


class RepConv(nn.Module):
    """A k x k conv (cin -> cout) trained as the sum of branches that fold analytically into one
    k x k conv: the plain conv, k x k cin->E then 1x1 E->cout (`expand` = E), the identity when
    cin == cout, and optionally ECBSR's 1x1 + fixed Sobel/Laplacian branches. The forward pass runs
    the folded conv (so a step costs what the small conv costs; the gradient reaches every branch
    through the fold), and export writes the fold: the model file and runtime do not change."""

    def __init__(self, cin, cout, k=3, expand=0, edges=False):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = cin, cout, (k, k)
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.expand = nn.Conv2d(cin, expand, k, padding=k // 2) if expand else None
        self.squeeze = nn.Conv2d(expand, cout, 1) if expand else None
        self.identity = cin == cout
        if edges:
            assert k == 3, 'edge branches are 3x3'
            self.edge_mix = nn.Parameter(torch.randn(len(EDGE_MASKS), cout, cin) * 1e-3)
            self.edge_scale = nn.Parameter(torch.ones(len(EDGE_MASKS), cout) * 0.1)
            self.register_buffer('edge_masks', torch.tensor(list(EDGE_MASKS.values()), dtype=torch.float32))
        else:
            self.edge_mix = None

    def fold(self):
        """(weight, bias) of the one k x k conv this module computes."""
        w, b = self.conv.weight, self.conv.bias
        if self.expand is not None:
            s = self.squeeze.weight[:, :, 0, 0]  # [cout, E]
            w = w + torch.einsum('oe,eikl->oikl', s, self.expand.weight)
            b = b + s @ self.expand.bias + self.squeeze.bias
        if self.identity:
            k = self.kernel_size[0]
            eye = torch.zeros_like(w)
            eye[range(self.out_channels), range(self.in_channels), k // 2, k // 2] = 1.0
            w = w + eye
        if self.edge_mix is not None:
            w = w + torch.einsum('mo,moi,mkl->oikl', self.edge_scale, self.edge_mix, self.edge_masks)
        return w, b

    @property
    def weight(self):
        return self.fold()[0]

    @property
    def bias(self):
        return self.fold()[1]

    def load_plain(self, weight, bias):
        """Start from a trained conv: the fold equals it (the other branches start at zero)."""
        with torch.no_grad():
            w, b = weight.clone(), bias.clone()
            if self.identity:
                k = self.kernel_size[0]
                w[range(self.out_channels), range(self.in_channels), k // 2, k // 2] -= 1.0
            self.conv.weight.copy_(w)
            self.conv.bias.copy_(b)
            if self.squeeze is not None:
                self.squeeze.weight.zero_()
                self.squeeze.bias.zero_()
            if self.edge_mix is not None:
                self.edge_mix.zero_()

    def forward(self, x):
        w, b = self.fold()
        return F.conv2d(x, w, b, padding=self.kernel_size[0] // 2)


def conv_factory(expand=0, edges=False):
    """What the nets call to make their k x k convs: plain, or re-parameterisable."""
    if not expand and not edges:
        return lambda cin, cout, k=3: nn.Conv2d(cin, cout, k, padding=k // 2)
    return lambda cin, cout, k=3: RepConv(cin, cout, k, expand, edges)


def folded_state_dict(net):
    """The net's state with every RepConv replaced by its folded weight and bias: the state of
    the same net built with plain convs (what export.py and the other tools load)."""
    state, rep_prefixes = {}, []
    for name, m in net.named_modules():
        if isinstance(m, RepConv):
            w, b = m.fold()
            state[name + '.weight'], state[name + '.bias'] = w.detach().clone(), b.detach().clone()
            rep_prefixes.append(name + '.')
    for k, v in net.state_dict().items():
        if not any(k.startswith(p) for p in rep_prefixes):
            state[k] = v.clone()
    return state


def load_plain_state(net, state):
    """Load a plain-conv state (a shipped model, a folded checkpoint) into a net whose convs may be
    RepConvs."""
    reps = {name: m for name, m in net.named_modules() if isinstance(m, RepConv)}
    rest = {k: v for k, v in state.items() if not any(k.startswith(n + '.') for n in reps)}
    missing, unexpected = net.load_state_dict(rest, strict=False)
    assert not unexpected, unexpected
    for name, m in reps.items():
        if name + '.weight' in state:
            m.load_plain(state[name + '.weight'], state[name + '.bias'])
        else:  # a trunk's checkpoint gaining exits: their tails are solved afterwards
            assert name.startswith('exit_tails.'), name


def deepen_plain_state(state, blocks):
    """A trained plain net's state with `blocks` hidden layers: the missing last ones start as
    the identity (exact on ReLU'd maps), so the deeper net starts at the trained net's quality."""
    state = dict(state)
    have = sum(1 for k in state if k.startswith('body.') and k.endswith('.weight'))
    c = state['body.0.weight'].shape[0]
    for i in range(have, blocks):
        w = torch.zeros(c, c, 3, 3)
        w[range(c), range(c), 1, 1] = 1.0
        state['body.%d.weight' % i], state['body.%d.bias' % i] = w, torch.zeros(c)
    return state


class WeightEMA:
    """An exponential moving average of a net's parameters (buffers copied): the weights exported."""

    def __init__(self, net, decay):
        self.decay = decay
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net):
        for e, p in zip(self.net.parameters(), net.parameters()):
            e.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)
        for e, b in zip(self.net.buffers(), net.buffers()):
            e.copy_(b)


# --- training data ---------------------------------------------------------------------------

CELL = 16  # LR pixels per side of the cells that hard-patch sampling scores


class TrainImage:
    """One training picture at one scale: HR and LR luma in [0, 1], the LR RGB (for the teacher),
    the bicubic error per CELL x CELL LR cell, and its sampling weight."""

    def __init__(self, key, img, weight):
        self.key, self.weight = key, weight
        hr, lr = srdata.hr_lr_images(img)
        hr_y, lr_y = srdata.luma_pair(hr, lr)
        self.lr_rgb = np.asarray(lr)
        self.hr = (hr_y / 255.0).astype(np.float32)
        self.lr = (lr_y / 255.0).astype(np.float32)
        err = np.abs(hr_y - srdata.bicubic_up(lr_y))
        ch, cw = lr_y.shape[0] // CELL, lr_y.shape[1] // CELL
        err = err[:2 * CELL * ch, :2 * CELL * cw].reshape(ch, 2 * CELL, cw, 2 * CELL).mean((1, 3))
        self.cell_p = (err / err.sum()).ravel() if err.sum() > 0 else np.full(err.size, 1.0 / err.size)
        self.cells_w = cw
        self.teacher = None


def parse_folder_weights(text):
    """'bsd200=0.3,photos2=1' (the --folder-weights option) -> {folder: weight}."""
    return {k: float(v) for k, v in (kv.split('=') for kv in text.split(',') if kv)}


def degraded(img, rng, kind):
    """An RGB PIL picture made to look like another source, as a new HR: 'video' (camera video:
    Gaussian blur sigma 0.4-1.2, then JPEG q40-90, standing in for optics and codec smoothing)
    or 'flat' (animation-like flat shading: 5x5 median, 24 colours, softened edges)."""
    if kind == 'video':
        img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2))))
        buf = io.BytesIO()
        img.save(buf, 'JPEG', quality=int(rng.integers(40, 91)))
        return Image.open(io.BytesIO(buf.getvalue())).convert('RGB')
    if kind == 'flat':
        return img.filter(ImageFilter.MedianFilter(5)).quantize(24).convert('RGB').filter(ImageFilter.GaussianBlur(0.7))
    raise ValueError('unknown degradation %r' % kind)


def load_images(data_dir, min_lr_side, folder_weights, scales, video_share=0.0):
    """Every picture under data_dir/*/ at each scale (HR downscaled by PIL bicubic before the LR is
    made). Each folder's pictures share the folder's weight equally per picture, times
    folder_weights[folder] (default 1): BSD200's JPEG damage is learnt less that way.
    video_share > 0: each picture at scale 1 also gets a degraded('video') copy as HR, drawn
    that share of the time; its teacher is its own HR (the teacher never saw soft pictures)."""
    images = []
    rng = np.random.default_rng(11)
    for folder in sorted(os.listdir(data_dir)):
        fw = folder_weights.get(folder, 1.0)
        if fw <= 0:
            continue
        for path in srdata.image_paths(os.path.join(data_dir, folder)):
            rgb = srdata.load_rgb(path)
            for s in scales:
                img = rgb if s == 1 else rgb.resize((round(rgb.width * s), round(rgb.height * s)), Image.BICUBIC)
                if min(img.size) // 2 < min_lr_side:
                    continue
                key = '%s__%s__s%g' % (folder, os.path.splitext(os.path.basename(path))[0], s)
                images.append(TrainImage(key, img, fw / len(scales) * (1 - video_share)))
                if video_share and s == 1:
                    soft = TrainImage(key + '__video', degraded(img, rng, 'video'), fw * video_share)
                    soft.teacher = soft.hr
                    images.append(soft)
    total = sum(im.weight for im in images)
    for im in images:
        im.weight /= total
    return images


def sample_batch(images, rng, batch, patch, hard_frac=0.0, teacher=False):
    """(lr, hr, teacher_out or None) tensors: `batch` patches of `patch` LR pixels, each from a
    picture drawn by weight; the first hard_frac of them placed on a cell drawn by how much
    bicubic fails there, the others uniformly; one of the 8 flips/rotations each."""
    lrs = np.empty((batch, 1, patch, patch), np.float32)
    hrs = np.empty((batch, 1, 2 * patch, 2 * patch), np.float32)
    tes = np.empty_like(hrs) if teacher else None
    weights = np.array([im.weight for im in images])
    weights /= weights.sum()
    n_hard = int(round(hard_frac * batch))
    for i, k in enumerate(rng.choice(len(images), size=batch, p=weights)):
        im = images[k]
        H, W = im.lr.shape
        if i < n_hard:
            c = rng.choice(len(im.cell_p), p=im.cell_p)
            cy, cx = divmod(c, im.cells_w)
            y = int(np.clip(cy * CELL + rng.integers(CELL) - patch // 2, 0, H - patch))
            x = int(np.clip(cx * CELL + rng.integers(CELL) - patch // 2, 0, W - patch))
        else:
            y, x = rng.integers(0, H - patch + 1), rng.integers(0, W - patch + 1)
        crops = [im.lr[y:y + patch, x:x + patch], im.hr[2 * y:2 * y + 2 * patch, 2 * x:2 * x + 2 * patch]]
        if teacher:
            crops.append(im.teacher[2 * y:2 * y + 2 * patch, 2 * x:2 * x + 2 * patch])
        t = rng.integers(8)
        for j, c in enumerate(crops):
            if t & 1:
                c = c[:, ::-1]
            if t & 2:
                c = c[::-1]
            if t & 4:
                c = c.T
            crops[j] = c
        lrs[i, 0], hrs[i, 0] = crops[0], crops[1]
        if teacher:
            tes[i, 0] = crops[2]
    return (torch.from_numpy(lrs), torch.from_numpy(hrs), torch.from_numpy(tes) if teacher else None)


# --- the distillation teacher ------------------------------------------------------------------

class ETDS(nn.Module):
    """ETDS (Chao et al., CVPR 2023) in its deployed form, from ../shared/peers/etds/*.npz: conv_first,
    ReLU, backbone convs with ReLU, conv_last, ReLU, 1x1 conv_clip, ReLU, pixel shuffle. RGB in/out."""

    def __init__(self, npz_path):
        super().__init__()
        d = np.load(npz_path)
        names = ['conv_first'] + sorted({k.rsplit('.', 1)[0] for k in d.files if k.startswith('backbone_convs.')},
                                        key=lambda n: int(n.split('.')[1])) + ['conv_last', 'conv_clip']
        self.convs = nn.ModuleList()
        for n in names:
            w = torch.from_numpy(d[n + '.weight'])
            c = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
            c.weight.data.copy_(w)
            c.bias.data.copy_(torch.from_numpy(d[n + '.bias']))
            self.convs.append(c)
        self.eval()

    def forward(self, x):
        for c in self.convs:
            x = F.relu(c(x))
        return F.pixel_shuffle(x, 2)


def teacher_luma(teacher, lr_rgb, tile=192):
    """Teacher's x2 output luma in [0, 1] for a uint8 RGB LR picture, run in tiles with a margin
    (the net's receptive radius is < 16 LR pixels) to bound memory. In fp32: bf16 costs the
    teacher 0.28 dB on Set5 (37.63 -> 37.35)."""
    x = torch.from_numpy(lr_rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    x = x.contiguous(memory_format=torch.channels_last)  # 1.5x faster convs on this CPU
    H, W = lr_rgb.shape[:2]
    out = np.empty((2 * H, 2 * W), np.float32)
    m = 16
    with torch.no_grad():
        for y0 in range(0, H, tile):
            for x0 in range(0, W, tile):
                ya, xa = max(0, y0 - m), max(0, x0 - m)
                yb, xb = min(H, y0 + tile + m), min(W, x0 + tile + m)
                o = teacher(x[:, :, ya:yb, xa:xb]).float().clamp(0, 1)[0] * 255.0
                y = 16.0 + (65.481 * o[0] + 128.553 * o[1] + 24.966 * o[2]) / 255.0
                th, tw = min(tile, H - y0), min(tile, W - x0)
                oy, ox = 2 * (y0 - ya), 2 * (x0 - xa)
                out[2 * y0:2 * (y0 + th), 2 * x0:2 * (x0 + tw)] = \
                    y[oy:oy + 2 * th, ox:ox + 2 * tw].numpy() / 255.0
    return out


def attach_teacher(images, npz_path, cache_dir):
    """Fill each image's .teacher from cache_dir (float16 .npy per picture and scale), computing
    the missing ones (ETDS-L: about 150k MACs per LR pixel); an image whose teacher is set keeps it."""
    os.makedirs(cache_dir, exist_ok=True)
    teacher = None
    done = 0
    for im in images:
        if im.teacher is not None:
            im.lr_rgb = None
            continue
        path = os.path.join(cache_dir, im.key + '.npy')
        if not os.path.exists(path):
            teacher = teacher or ETDS(npz_path).to(memory_format=torch.channels_last)
            np.save(path + '.tmp.npy', teacher_luma(teacher, im.lr_rgb).astype(np.float16))
            os.replace(path + '.tmp.npy', path)
            done += 1
            if done % 50 == 0:
                print('teacher: %d pictures computed' % done, flush=True)
        im.teacher = np.load(path)  # float16: half the memory; crops are converted
        im.lr_rgb = None  # only the teacher needed it


# --- warm start from a published tiny net ---------------------------------------------------------

def least_squares_tails(features, images, rng, batches=8, hard_frac=0.5, ridge=0.0):
    """For each feature map that `features(lr)` returns, the 3x3 conv C->4 (weight, bias) whose
    output plus the nearest anchor comes closest (least squares) to the mean of HR and teacher
    on `batches` batches of 16 training patches of 64x64 (the teacher attached to `images`),
    `hard_frac` of them placed where bicubic fails most. `ridge` > 0 adds that fraction of the
    mean feature energy to the weights' diagonal (not the bias's): the plain solution of an
    early map cancels large weights across correlated channels, which int16/bf16 rounding
    upsets (0.1-1 dB at exits 1-2 on the clips); a ridge of 1e-3 keeps that within about 0.1 dB
    and costs those exits 0.1-0.3 dB in fp32 (exits 3-4: nothing)."""
    feats, targets = None, []
    for _ in range(batches):
        lr, hr, te = sample_batch(images, rng, 16, 64, hard_frac, True)
        maps = features(lr)
        feats = feats or [[] for _ in maps]
        for d, f in enumerate(maps):
            u = F.unfold(f, 3, padding=1)
            feats[d].append(torch.cat([u, torch.ones_like(u[:, :1])], 1).transpose(1, 2).reshape(-1, u.shape[1] + 1))
        targets.append((F.pixel_unshuffle(0.5 * (te + hr), 2) - lr).flatten(2).transpose(1, 2).reshape(-1, 4))
    y = torch.cat(targets).double()
    tails = []
    for f in feats:
        x, t = torch.cat(f).double(), y
        if ridge:  # as rows of the system: sqrt(ridge * mean energy) times the identity -> 0
            n = x.shape[1] - 1
            r = torch.eye(n, n + 1, dtype=x.dtype) * (ridge * (x[:, :-1] ** 2).sum(0).mean()).sqrt()
            x, t = torch.cat([x, r]), torch.cat([y, y.new_zeros(n, 4)])
        sol = torch.linalg.lstsq(x, t).solution.float()
        tails.append((sol[:-1].T.reshape(4, -1, 3, 3).contiguous(), sol[-1]))
    return tails


def plain_from_etds(net, npz_path, images, rng, batches=8):
    """Load an ETDS net of the plain layout (conv_first 3->C, B backbone convs C->C, conv_last,
    1x1 conv_clip) into `net` (PlainSR, same C and B) for luma: the head reads luma as a grey RGB
    picture (R = G = B = (255 y - 16) / 219), the body is copied, and the tail (one 3x3 conv C->4
    plus the net's anchor, where ETDS has conv_last, ReLU, clip, ReLU and the input folded into
    its channels) is solved by least squares on the body's features of training patches towards
    the mean of HR and teacher minus the anchor. Needs the teacher attached to `images`."""
    d = np.load(npz_path)
    t = lambda k: torch.from_numpy(d[k])  # noqa: E731
    layout = (d['conv_first.weight'].shape[0], sum(k.endswith('.weight') for k in d.files if k.startswith('backbone_convs.')))
    if layout != (net.channels, net.blocks):
        raise ValueError('%s has %d channels and %d hidden layers; the net has %d and %d (--channels, --blocks)'
                         % ((npz_path,) + layout + (net.channels, net.blocks)))
    state = {}
    w = t('conv_first.weight').sum(1, keepdim=True)
    state['head.weight'] = w * 255 / 219
    state['head.bias'] = t('conv_first.bias') - w.sum((1, 2, 3)) * 16 / 219
    for i in range(net.blocks):
        state['body.%d.weight' % i] = t('backbone_convs.%d.weight' % i)
        state['body.%d.bias' % i] = t('backbone_convs.%d.bias' % i)
    with torch.no_grad():
        trunk = copy.deepcopy(net)
        load_plain_state(trunk, dict(state, **{'tail.weight': torch.zeros(4, net.channels, 3, 3),
                                               'tail.bias': torch.zeros(4)}))
        state['tail.weight'], state['tail.bias'] = least_squares_tails(
            lambda lr: [trunk.features(lr)[-1]], images, rng, batches)[0]
    load_plain_state(net, state)
