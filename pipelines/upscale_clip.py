#!/usr/bin/python3
"""Upscale a video file x2 with `superres`, write the result, print fps and PSNR.

  pipelines/upscale_clip.py IN [--reference HR] [--out OUT.mkv] [--props "n-threads=2"]

With --reference (the full-resolution original, any format GStreamer decodes), prints the
Y PSNR (BT.601 luma plane, 2-pixel border shaved) of superres and of bicubic x2 against it.
fps is reported twice: time spent inside the element, and the whole pipeline (decode,
upscale, JPEG encode, write). Needs GST_PLUGIN_PATH to find the plugin when uninstalled.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'models', 'train'))
import srdata  # noqa: E402
from gsttools import Gst, luma_of, run, time_element  # noqa: E402


def decode_luma(path):
    frames = []
    run('filesrc location="%s" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! '
        'appsink name=sink sync=false' % path, lambda s: frames.append(luma_of(s)))
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('input')
    ap.add_argument('--reference', help='the original at 2x the input size, for PSNR')
    ap.add_argument('--out', help='write the upscaled video here (Matroska, MJPEG q95)')
    ap.add_argument('--props', default='', help='superres properties, e.g. "n-threads=2"')
    ap.add_argument('--json', help='write the numbers here')
    args = ap.parse_args()
    Gst.init(None)

    lr_frames = decode_luma(args.input)
    outputs = []
    spent = []
    write = ('t. ! queue ! videoconvert ! jpegenc quality=95 ! matroskamux ! filesink location="%s"'
             % args.out) if args.out else ''
    description = ('filesrc location="%s" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! '
                   'superres name=sr %s ! tee name=t t. ! queue ! appsink name=sink sync=false %s'
                   % (args.input, args.props, write))
    wall = run(description, lambda s: outputs.append(luma_of(s)), lambda pipe: time_element(pipe, 'sr', spent))
    n = len(outputs)
    report = {'input': args.input, 'frames': n,
              'size_in': list(lr_frames[0].shape[::-1]), 'size_out': list(outputs[0].shape[::-1]),
              'fps_element': n / sum(spent), 'fps_pipeline': n / wall}
    print('%d frames %dx%d -> %dx%d' % (n, *report['size_in'], *report['size_out']))
    print('fps: %.2f in the element, %.2f for the whole pipeline' % (report['fps_element'], report['fps_pipeline']))
    if args.reference:
        ref = decode_luma(args.reference)
        if len(ref) != n or ref[0].shape != outputs[0].shape:
            sys.exit('reference has %d frames of %s, output %d of %s' % (len(ref), ref[0].shape, n, outputs[0].shape))
        sr = np.mean([srdata.psnr_y(r, o) for r, o in zip(ref, outputs)])
        bic = np.mean([srdata.psnr_y(r, np.clip(np.round(srdata.bicubic_up(lr)), 0, 255))
                       for r, lr in zip(ref, lr_frames)])
        report.update(psnr_superres=sr, psnr_bicubic=bic)
        print('Y PSNR vs the original: superres %.2f dB, bicubic %.2f dB (%+.2f dB)' % (sr, bic, sr - bic))
    if args.out:
        print('wrote %s' % args.out)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)


if __name__ == '__main__':
    main()
