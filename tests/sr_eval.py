#!/usr/bin/python3
"""PSNR of the `superres` element on Set5/Set14 (x2, Y BT.601, shave 2, PIL bicubic LR).

  meson devenv -C builddir -w . tests/sr_eval.py [--data tests/data] [--min-set5 36.5 --min-set14 32.3]

Each LR luma plane goes through `appsrc ! superres ! appsink` as GRAY8; the element's 8-bit
output is compared with the HR luma. Prints bicubic beside it; exits 1 if a bound fails.
"""
import argparse
import json
import os
import sys

import numpy as np

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstApp', '1.0')
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'models', 'train'))
import srdata  # noqa: E402


def upscale_with_element(lr, props='', stats=None):
    """Run one GRAY8 image through superres; returns the 2x luma as uint8. With a dict
    `stats`, fills it with the element's "stats" (depth, MACs, time)."""
    h, w = lr.shape
    pipe = Gst.parse_launch('appsrc name=src format=time ! superres name=sr %s ! appsink name=sink sync=false' % props)
    src, sink = pipe.get_by_name('src'), pipe.get_by_name('sink')
    src.set_property('caps', Gst.Caps.from_string(
        'video/x-raw,format=GRAY8,width=%d,height=%d,framerate=0/1' % (w, h)))
    stride = (w + 3) & ~3  # GStreamer's default GRAY8 stride
    padded = np.zeros((h, stride), np.uint8)
    padded[:, :w] = lr
    pipe.set_state(Gst.State.PLAYING)
    buf = Gst.Buffer.new_wrapped(padded.tobytes())
    buf.pts = 0
    src.emit('push-buffer', buf)
    src.emit('end-of-stream')
    sample = sink.emit('pull-sample')
    if sample is None:
        msg = pipe.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ERROR)
        pipe.set_state(Gst.State.NULL)
        raise RuntimeError(msg.parse_error()[0].message if msg else 'no output')
    out = sample.get_buffer()
    ok, info = out.map(Gst.MapFlags.READ)
    ostride = (2 * w + 3) & ~3
    sr = np.frombuffer(info.data, np.uint8)[:ostride * 2 * h].reshape(2 * h, ostride)[:, :2 * w].copy()
    out.unmap(info)
    if stats is not None:
        st = pipe.get_by_name('sr').get_property('stats')
        stats.update({st.nth_field_name(i): st.get_value(st.nth_field_name(i)) for i in range(st.n_fields())})
    pipe.set_state(Gst.State.NULL)
    return sr


def evaluate(folder, props=''):
    rows = []
    for path in srdata.image_paths(folder):
        hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
        sr = upscale_with_element(lr, props)
        rows.append((os.path.basename(path), srdata.psnr_y(hr, sr), srdata.psnr_y(hr, srdata.bicubic_up(lr))))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default=os.path.join(HERE, 'data'))
    ap.add_argument('--props', default='', help='extra superres properties, e.g. "n-threads=1"')
    ap.add_argument('--min-set5', type=float)
    ap.add_argument('--min-set14', type=float)
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('-v', '--verbose', action='store_true', help='print every image')
    args = ap.parse_args()
    Gst.init(None)
    bounds = {'set5': args.min_set5, 'set14': args.min_set14}
    report, failed = {}, False
    print('%-6s %8s %8s %8s' % ('set', 'superres', 'bicubic', 'gain'))
    for name in ('set5', 'set14'):
        rows = evaluate(os.path.join(args.data, name), args.props)
        if args.verbose:
            for r in rows:
                print('  %-16s %6.2f %6.2f' % r)
        sr, bic = np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])
        report[name] = {'superres': sr, 'bicubic': bic, 'images': len(rows)}
        bound = bounds[name]
        verdict = ''
        if bound is not None:
            verdict = '  >= %.2f ok' % bound if sr >= bound else '  < %.2f FAIL' % bound
            failed |= sr < bound
        print('%-6s %8.2f %8.2f %+8.2f%s' % (name, sr, bic, sr - bic, verdict))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
