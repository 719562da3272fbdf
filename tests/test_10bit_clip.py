#!/usr/bin/python3
"""10-bit video through superres keeps its precision, measured on a 10-bit clip.

Makes the clip with Debian's tools: the bundled flowers frames, downscaled 2x in floating
point to a 640x360 original with real 10-bit detail (HR), and 2x again to 320x180 (LR, the
SR convention, PIL's antialiased bicubic), rounded to 10 bits and encoded losslessly as HEVC
Main10 (x265enc). Then decodes it through `superres` (avdec_h265 gives I420_10LE) and
measures Y PSNR at 10 bits (peak 1023) against the HR, beside PIL's bicubic in floating
point and the same clip cut to 8 bits (videoconvert) before superres, as an 8-bit pipeline
would. Fails unless the output stays I420_10LE, superres beats bicubic by --min-gain dB, and
the 10-bit route beats the 8-bit one by --min-over-8bit dB (it would not, were the samples
cut to 8 bits inside).
"""
import argparse
import os
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'pipelines'))
from gsttools import Gst, pack, planes_of, run  # noqa: E402

CLIP = os.path.join(HERE, 'data', 'clips', 'flowers-720p.h264')


def shrink(plane, w, h):
    """Float plane -> float plane at w x h (PIL's antialiased bicubic in mode F)."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), 'F').resize((w, h), Image.BICUBIC))


def to10(plane):
    return np.clip(np.rint(plane), 0, 1023).astype(np.uint16)


def psnr10(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(1023.0 ** 2 / mse)


def decode_frames(desc, n_planes_16bit):
    frames, caps = [], []

    def keep(sample):
        caps.append(sample.get_caps().get_structure(0).get_string('format'))
        planes = planes_of(sample)
        frames.append([p.view('<u2') if n_planes_16bit else p for p in planes])
    run(desc, keep)
    return frames, caps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--frames', type=int, default=8)
    ap.add_argument('--min-gain', type=float, default=None, help='over bicubic, dB')
    ap.add_argument('--min-over-8bit', type=float, default=None, help='over the 8-bit route, dB')
    args = ap.parse_args()
    Gst.init(None)
    tmp = tempfile.mkdtemp(prefix='sr-10bit-')

    src, _ = decode_frames('filesrc location="%s" ! h264parse ! avdec_h264 ! videoconvert ! '
                           'video/x-raw,format=I420 ! appsink name=sink sync=false' % CLIP, False)
    src = src[:args.frames]
    hr, lr = [], []
    for y, u, v in src:
        planes10 = [p[:720, :1280].astype(np.float32) * (1023.0 / 255.0) for p in (y, u, v)]
        h = [shrink(planes10[0], 640, 360), shrink(planes10[1], 320, 180), shrink(planes10[2], 320, 180)]
        lr.append([to10(shrink(h[0], 320, 180)), to10(shrink(h[1], 160, 90)), to10(shrink(h[2], 160, 90))])
        hr.append([to10(p) for p in h])

    raw = os.path.join(tmp, 'lr.i420-10le')
    caps_lr = 'video/x-raw,format=I420_10LE,width=320,height=180,framerate=30/1'
    with open(raw, 'wb') as f:
        for planes in lr:
            pack([p.view(np.uint8) for p in planes], caps_lr).tofile(f)
    clip = os.path.join(tmp, 'lr-main10.h265')
    run('filesrc location="%s" ! rawvideoparse format=i420-10le width=320 height=180 '
        'framerate=30/1 ! x265enc option-string=lossless=1 ! video/x-h265,profile=main-10 ! '
        'h265parse ! filesink location="%s"' % (raw, clip))

    dec = 'filesrc location="%s" ! h265parse ! avdec_h265 ! ' % clip
    decoded, fmt = decode_frames(dec + 'appsink name=sink sync=false', True)
    assert fmt[0] == 'I420_10LE', fmt[0]
    assert all(np.array_equal(d[0], l[0]) for d, l in zip(decoded, lr)), 'the Main10 clip is not lossless'

    out10, fmt10 = decode_frames(dec + 'superres ! appsink name=sink sync=false', True)
    out8, _ = decode_frames(dec + 'videoconvert ! video/x-raw,format=I420 ! superres ! '
                            'appsink name=sink sync=false', False)
    if fmt10[0] != 'I420_10LE':
        sys.exit('superres gave %s, not I420_10LE' % fmt10[0])
    n = len(hr)
    sr10 = np.mean([psnr10(o[0], g[0]) for o, g in zip(out10, hr)])
    sr8 = np.mean([psnr10(to10(o[0].astype(np.float32) * (1023.0 / 255.0)), g[0]) for o, g in zip(out8, hr)])
    bic = np.mean([psnr10(to10(shrink(l[0].astype(np.float32), 640, 360)), g[0]) for l, g in zip(lr, hr)])
    print('%d frames of a 10-bit clip (HEVC Main10, lossless), 320x180 -> 640x360, Y PSNR at 10 bits:' % n)
    print('  superres, 10-bit all the way  %.2f dB' % sr10)
    print('  superres after cutting to 8   %.2f dB' % sr8)
    print('  bicubic (PIL, floating point) %.2f dB' % bic)
    failed = (args.min_gain is not None and sr10 - bic < args.min_gain) or \
        (args.min_over_8bit is not None and sr10 - sr8 < args.min_over_8bit)
    print('gain over bicubic %+.2f dB, over the 8-bit route %+.2f dB%s' %
          (sr10 - bic, sr10 - sr8, ': FAIL' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
