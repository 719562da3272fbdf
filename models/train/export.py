#!/usr/bin/python3
"""Export a training checkpoint to the model file sr-core loads, plus the golden test data.

  models/train/export.py build/train/ckpt.pt                  # -> models/superres-x2.safetensors
  models/train/export.py CKPT --golden tests/data             # also writes golden-lr/sr.pgm

The file is safetensors; "__metadata__" holds the format name/version and the architecture
as JSON ("arch"), which sr-core checks every tensor against.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import srdata  # noqa: E402
from net import PlainSR  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    blobs, offset = [], 0
    for name, t in tensors:
        data = np.ascontiguousarray(t, dtype='<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def model_from_checkpoint(path):
    ck = torch.load(path, map_location='cpu')
    a = ck['args']
    model = PlainSR(a['channels'], a['blocks'])
    model.load_state_dict(ck['model'])
    model.eval()
    return model, ck


def export(model, ck, path):
    layers = model.layers()
    arch = {'scale': model.scale, 'anchor': 'nearest',
            'layers': [{'name': n, 'in': c.in_channels, 'out': c.out_channels,
                        'kernel': c.kernel_size[0], 'act': act} for n, c, act in layers]}
    tensors = []
    for n, c, _ in layers:
        tensors.append((n + '.weight', c.weight.detach().numpy()))
        tensors.append((n + '.bias', c.bias.detach().numpy()))
    meta = {
        'format': 'gst-superres', 'version': '1',
        'name': 'plain-c%db%d-x2' % (model.channels, model.blocks),
        'arch': json.dumps(arch, separators=(',', ':')),
        'macs_per_lr_pixel': str(model.macs_per_lr_pixel()),
        'params': str(sum(p.numel() for p in model.parameters())),
        'training': 'models/train/train.py: %d steps, %s' % (
            ck['step'], ', '.join('%s=%s' % kv for kv in sorted(ck['args'].items()) if kv[0] in
                                  ('batch', 'patch', 'lr', 'channels', 'blocks', 'seed'))),
        'training_data': 't91 + bsd200 + photos (../shared/data/train, see SOURCES.md)',
        'psnr_set5_pytorch': '%.2f' % ck['set5'], 'psnr_set14_pytorch': '%.2f' % ck['set14'],
    }
    write_safetensors(path, tensors, meta)


def write_pgm(path, img):
    h, w = img.shape
    with open(path, 'wb') as f:
        f.write(b'P5\n%d %d\n255\n' % (w, h))
        f.write(img.astype(np.uint8).tobytes())


def golden(model, folder, eval_dir):
    """A real LR crop (odd size, so edges and partial tiles are exercised) and the
    PyTorch output for it, rounded to 8 bits."""
    _, lr = srdata.hr_lr_pair(srdata.load_rgb(os.path.join(eval_dir, 'set14', 'baboon.png')))
    lr = lr[37:37 + 67, 51:51 + 93]
    with torch.no_grad():
        sr = model(torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None])[0, 0].numpy()
    os.makedirs(folder, exist_ok=True)
    write_pgm(os.path.join(folder, 'golden-lr.pgm'), lr)
    write_pgm(os.path.join(folder, 'golden-sr.pgm'), np.clip(np.round(sr * 255.0), 0, 255))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint')
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'superres-x2.safetensors'))
    ap.add_argument('--golden', help='folder for golden-lr.pgm / golden-sr.pgm')
    ap.add_argument('--eval', default=os.path.join(REPO, 'tests', 'data'))
    args = ap.parse_args()
    model, ck = model_from_checkpoint(args.checkpoint)
    export(model, ck, args.out)
    print('wrote %s (step %d, PyTorch Set5 %.2f Set14 %.2f)' % (args.out, ck['step'], ck['set5'], ck['set14']))
    if args.golden:
        golden(model, args.golden, args.eval)
        print('wrote golden data to %s' % args.golden)


if __name__ == '__main__':
    main()
