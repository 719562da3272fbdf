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
import time

import numpy as np

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstVideo', '1.0')
from gi.repository import Gst, GstVideo  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models', 'train'))
import srdata  # noqa: E402


def luma_of(sample):
    """The Y plane of an I420/GRAY8 sample as a (h, w) uint8 array. appsink does not take
    GstVideoMeta, so buffers have the default layout of their caps."""
    info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
    w, h, stride, offset = info.width, info.height, info.stride[0], info.offset[0]
    buf = sample.get_buffer()
    ok, mapped = buf.map(Gst.MapFlags.READ)
    y = np.frombuffer(mapped.data, np.uint8)[offset:offset + stride * h].reshape(h, stride)[:, :w].copy()
    buf.unmap(mapped)
    return y


def run(description, on_sample=None, setup=None):
    """Run a pipeline to EOS; feed appsink 'sink' samples to on_sample. Returns seconds."""
    pipe = Gst.parse_launch(description)
    if on_sample:
        sink = pipe.get_by_name('sink')
        sink.set_property('emit-signals', True)
        sink.connect('new-sample', lambda s: (on_sample(s.emit('pull-sample')), Gst.FlowReturn.OK)[1])
    if setup:
        setup(pipe)
    t0 = time.perf_counter()
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ERROR | Gst.MessageType.EOS)
    elapsed = time.perf_counter() - t0
    pipe.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit('error: %s\n%s' % (err.message, debug))
    return elapsed


def decode_luma(path):
    frames = []
    run('filesrc location="%s" ! decodebin ! videoconvert ! video/x-raw,format=I420 ! '
        'appsink name=sink sync=false' % path, lambda s: frames.append(luma_of(s)))
    return frames


def time_element(pipe, spent):
    """Pad probes around superres: append the seconds each buffer spends inside it."""
    sr = pipe.get_by_name('sr')
    pending = {}

    def enter(pad, info):
        pending[info.get_buffer().pts] = time.perf_counter()
        return Gst.PadProbeReturn.OK

    def leave(pad, info):
        t = pending.pop(info.get_buffer().pts, None)
        if t is not None:
            spent.append(time.perf_counter() - t)
        return Gst.PadProbeReturn.OK

    sr.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, enter)
    sr.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, leave)


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
    wall = run(description, lambda s: outputs.append(luma_of(s)), lambda pipe: time_element(pipe, spent))
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
