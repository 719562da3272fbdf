#!/usr/bin/python3
"""Make the bundled demo clip from ../shared/data/clips/flowers-720p30.h264 (run once; kept for
provenance). Writes:
  flowers-720p.h264  the first 61 access units of the original H.264 stream, cut without
                     re-encoding (decodes to the original's first 60 frames, bit-exact)
  flowers-360p.mkv   those frames downscaled 2x per I420 plane with PIL's antialiased
                     bicubic (the SR convention), stored losslessly (FFV1)
"""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'data', 'clips', 'flowers-720p30.h264')
W, H = 1280, 720


def gst(*pipeline):
    subprocess.run(['gst-launch-1.0', '-q'] + ' '.join(pipeline).split(), check=True)


def down(plane):
    h, w = plane.shape
    im = Image.fromarray(plane).resize((w // 2, h // 2), Image.BICUBIC)
    return np.asarray(im)


def main():
    hr_path = os.path.join(HERE, 'flowers-720p.h264')
    gst('filesrc location=%s ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au !' % SRC,
        'identity eos-after=61 ! filesink location=%s' % hr_path)
    raw = os.path.join(HERE, 'frames-720p.i420')
    gst('filesrc location=%s ! h264parse ! avdec_h264 ! video/x-raw,format=I420 !' % hr_path,
        'filesink location=%s' % raw)
    data = np.fromfile(raw, np.uint8)
    os.unlink(raw)
    size = W * H * 3 // 2
    n = len(data) // size
    out = []
    for i in range(n):
        f = data[i * size:(i + 1) * size]
        y = f[:W * H].reshape(H, W)
        u = f[W * H:W * H * 5 // 4].reshape(H // 2, W // 2)
        v = f[W * H * 5 // 4:].reshape(H // 2, W // 2)
        out += [down(y).ravel(), down(u).ravel(), down(v).ravel()]
    lr_raw = os.path.join(HERE, 'frames-360p.i420')
    np.concatenate(out).tofile(lr_raw)
    gst('filesrc location=%s blocksize=%d ! rawvideoparse format=i420 width=%d height=%d framerate=30/1 !'
        % (lr_raw, W * H * 3 // 8, W // 2, H // 2),
        'avenc_ffv1 coder=2 context=1 ! matroskamux ! filesink location=%s' % os.path.join(HERE, 'flowers-360p.mkv'))
    os.unlink(lr_raw)
    print('%d frames' % n)


if __name__ == '__main__':
    sys.exit(main())
