#!/usr/bin/python3
"""superres vs bicubic on a clip: the clip's frames are the ground truth.

  pipelines/compare.py CLIP [--frames 30] [--start 0] [--scale 2] [--cache DIR] [--json OUT]
                      [--min-gain DB]

Decodes --frames frames from frame --start once (cached as raw I420 in --cache), makes the
--scale bicubic-downscaled LR (PIL antialiased, per plane: the SR convention; --scale 1.5 is
the ratio of 720p -> 1080p), then in one run measures with `qualitymeter` against the original:
  superres   the LR through `superres`, asked for the original size by a capsfilter
  bicubic    PIL's bicubic of the LR to the original size (the SR convention's baseline; cached)
  videoscale the LR through `videoscale method=catrom`, what a GStreamer user has today
Prints PSNR (Y and all planes), SSIM (Y) and fps (time inside the upscaling element, from
pad probes). With --min-gain, exits 1 when superres gains less than that many dB of Y PSNR
over bicubic. A missing clip exits 77 (a skipped test).
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gsttools import Gst, pack, planes_of, run, structure_fields, time_element  # noqa: E402


def raw_caps(w, h, fps):
    return 'video/x-raw,format=I420,width=%d,height=%d,framerate=%d/%d' % (w, h, fps[0], fps[1])


def resize(plane, w, h):
    return np.asarray(Image.fromarray(plane).resize((w, h), Image.BICUBIC))


def prepare(clip, frames, cache, start=0, scale=2.0):
    """Decode once into cache: HR frames (cropped to even size) and their LR. Returns meta."""
    cache = os.path.abspath(cache)  # the meta keeps paths: valid from any directory
    name = '%s-%d-%d' % (os.path.basename(clip).replace('.', '_'), start, frames)
    if scale != 2:
        name += '-x%g' % scale
    meta_path = os.path.join(cache, name + '.json')
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            return json.load(f)
    os.makedirs(cache, exist_ok=True)
    decoded, fps, seen = [], [30, 1], [0]

    def keep(sample):
        seen[0] += 1
        if seen[0] > start and len(decoded) < frames:
            decoded.append(planes_of(sample))
            s = sample.get_caps().get_structure(0)
            ok, num, den = s.get_fraction('framerate')
            if ok and num > 0:
                fps[:] = [num, den]
    run('filesrc location="%s" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! '
        'appsink name=sink sync=false' % clip, keep)
    if not decoded:
        sys.exit('%s: no frames decoded' % clip)
    h, w = decoded[0][0].shape
    w, h = w - w % 2, h - h % 2
    lw, lh = int(w / scale / 2 + 0.5) * 2, int(h / scale / 2 + 0.5) * 2
    meta = {'clip': clip, 'frames': len(decoded), 'width': w, 'height': h, 'fps': fps,
            'lr_width': lw, 'lr_height': lh,
            'hr': os.path.join(cache, name + '-hr.i420'), 'lr': os.path.join(cache, name + '-lr.i420'),
            'bicubic': os.path.join(cache, name + '-bicubic.i420')}
    cw, ch = (lw + 1) // 2, (lh + 1) // 2
    with open(meta['hr'], 'wb') as fhr, open(meta['lr'], 'wb') as flr, open(meta['bicubic'], 'wb') as fbic:
        for y, u, v in decoded:
            y, u, v = y[:h, :w], u[:h // 2, :w // 2], v[:h // 2, :w // 2]
            pack([y, u, v], raw_caps(w, h, fps)).tofile(fhr)
            lr = [resize(y, lw, lh), resize(u, cw, ch), resize(v, cw, ch)]
            pack(lr, raw_caps(lw, lh, fps)).tofile(flr)
            up = [resize(lr[0], w, h), resize(lr[1], w // 2, h // 2), resize(lr[2], w // 2, h // 2)]
            pack(up, raw_caps(w, h, fps)).tofile(fbic)
    with open(meta_path, 'w') as f:
        json.dump(meta, f)
    return meta


def measure(meta, upscaler, test='lr'):
    """Run the `test` frames (LR through the element named `up` in `upscaler`, or already
    upscaled ones with upscaler None) into qualitymeter against the HR frames."""
    w, h, fps = meta['width'], meta['height'], meta['fps']
    lw, lh = meta.get('lr_width', w // 2), meta.get('lr_height', h // 2)
    parse = 'rawvideoparse format=i420 width=%d height=%d framerate=%d/%d'
    if upscaler is None:
        test_src = 'filesrc location="%s" ! %s ! identity name=up' % (meta[test], parse % (w, h, *fps))
    else:
        test_src = 'filesrc location="%s" ! %s ! %s' % (meta[test], parse % (lw, lh, *fps), upscaler)
    desc = ('qualitymeter name=q ! fakesink '
            'filesrc location="%s" ! %s ! q.reference ' % (meta['hr'], parse % (w, h, *fps)) +
            '%s ! q.test' % test_src)
    summary, spent = {}, []

    def on_message(st):
        if st.get_name() == 'qualitymeter-summary':
            summary.update(structure_fields(st))
    def on_finish(pipe):
        up = pipe.get_by_name('up')
        if up.find_property('stats'):
            summary['superres'] = structure_fields(up.get_property('stats'))
    run(desc, setup=lambda pipe: time_element(pipe, 'up', spent), on_message=on_message, on_finish=on_finish)
    summary['fps'] = len(spent) / sum(spent) if spent else 0.0
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('clip')
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--start', type=int, default=0, help='skip this many frames first')
    ap.add_argument('--scale', type=float, default=2.0,
                    help='upscaling factor, from 1 to 2 (the LR is the original divided by it)')
    ap.add_argument('--cache', default=os.path.join(HERE, '..', 'builddir', 'clip-cache'))
    ap.add_argument('--props', default='', help='superres properties')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--min-gain', type=float, help='fail below this Y PSNR gain over bicubic (dB)')
    args = ap.parse_args()
    if not os.path.exists(args.clip):
        print('SKIP: %s is not here (the shared clips exist only on the developers\' machines)' % args.clip)
        return 77
    Gst.init(None)
    meta = prepare(args.clip, args.frames, args.cache, args.start, args.scale)
    w, h = meta['width'], meta['height']
    lw, lh = meta.get('lr_width', w // 2), meta.get('lr_height', h // 2)
    results = {
        'superres': measure(meta, 'superres name=up %s ! video/x-raw,width=%d,height=%d' % (args.props, w, h)),
        'bicubic': measure(meta, None, 'bicubic'),
        'videoscale': measure(meta, 'videoscale name=up method=catrom ! video/x-raw,width=%d,height=%d' % (w, h)),
    }
    results['bicubic']['fps'] = None  # computed offline by PIL
    print('%s: %d frames, %dx%d -> %dx%d' % (os.path.basename(args.clip), meta['frames'], lw, lh, w, h))
    print('%-10s %9s %9s %8s %7s' % ('', 'PSNR-Y', 'PSNR-all', 'SSIM-Y', 'fps'))
    for name, r in results.items():
        fps = '%7.1f' % r['fps'] if r['fps'] is not None else '      -'
        print('%-10s %9.2f %9.2f %8.4f %s' % (name, r['psnr-y-mean'], r['psnr-mean'], r['ssim-y-mean'], fps))
    gain = results['superres']['psnr-y-mean'] - results['bicubic']['psnr-y-mean']
    verdict = ''
    failed = args.min_gain is not None and gain < args.min_gain
    if args.min_gain is not None:
        verdict = ' (bound %.2f: %s)' % (args.min_gain, 'FAIL' if failed else 'ok')
    print('gain over bicubic: %+.2f dB Y PSNR%s' % (gain, verdict))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'clip': meta['clip'], 'frames': meta['frames'], 'gain_y': gain, **results}, f, indent=2)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
