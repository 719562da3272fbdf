#!/usr/bin/python3
"""qualitymeter tests: PSNR/SSIM against an independent numpy computation, pairing by
timestamp, pass-through, JSON/CSV reports, mismatched caps. Run by `meson test` (suite gst)."""
import csv
import json
import os
import tempfile
import unittest

import numpy as np

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstVideo', '1.0')
from gi.repository import Gst, GstVideo  # noqa: E402

FPS = 30
FRAME = Gst.SECOND // FPS


def i420_planes(rng, w, h):
    cw, ch = (w + 1) // 2, (h + 1) // 2
    y = rng.integers(0, 256, (h, w), dtype=np.uint8)
    u = rng.integers(0, 256, (ch, cw), dtype=np.uint8)
    v = rng.integers(0, 256, (ch, cw), dtype=np.uint8)
    return [y, u, v]


def noisy(planes, rng, sigma):
    return [np.clip(p.astype(np.int32) + np.round(rng.normal(0, sigma, p.shape)), 0, 255).astype(np.uint8)
            for p in planes]


def smooth(rng, w, h):
    """Natural-ish content so SSIM is in a meaningful range."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + rng.normal(0, 3, (h, w))
    y = np.clip(base, 0, 255).astype(np.uint8)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    return [y, np.full((ch, cw), 100, np.uint8), np.full((ch, cw), 150, np.uint8)]


def pack_i420(planes, w, h):
    """The planes in GStreamer's default I420 layout for this size."""
    info = GstVideo.VideoInfo.new_from_caps(Gst.Caps.from_string(caps(w, h)))
    out = np.zeros(info.size, np.uint8)
    for i, p in enumerate(planes):
        rows = out[info.offset[i]:info.offset[i] + info.stride[i] * p.shape[0]]
        rows.reshape(p.shape[0], info.stride[i])[:, :p.shape[1]] = p
    return out.tobytes()


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))


def ssim(a, b):
    """Wang et al. 2004 with an 11x11 Gaussian (sigma 1.5), valid region only."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()

    def filt(img):
        h = np.apply_along_axis(lambda r: np.convolve(r, g, mode='valid'), 1, img)
        return np.apply_along_axis(lambda c: np.convolve(c, g, mode='valid'), 0, h)
    a, b = a.astype(np.float64), b.astype(np.float64)
    ma, mb = filt(a), filt(b)
    va, vb, cov = filt(a * a) - ma * ma, filt(b * b) - mb * mb, filt(a * b) - ma * mb
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))))


class Run:
    """qualitymeter fed by two appsrcs; collects messages and passed-through buffers."""

    def __init__(self, ref_caps, test_caps, location=None):
        loc = 'location="%s"' % location if location else ''
        self.pipe = Gst.parse_launch(
            'qualitymeter name=q %s ! appsink name=out sync=false emit-signals=true '
            'appsrc name=ref format=time caps="%s" ! q.reference '
            'appsrc name=test format=time caps="%s" ! q.test' % (loc, ref_caps, test_caps))
        self.out = []
        self.pipe.get_by_name('out').connect('new-sample', self._sample)

    def _sample(self, sink):
        s = sink.emit('pull-sample')
        buf = s.get_buffer()
        self.out.append((buf.pts, buf.extract_dup(0, buf.get_size())))
        return Gst.FlowReturn.OK

    def push(self, name, data, pts):
        buf = Gst.Buffer.new_wrapped(data)
        buf.pts, buf.duration = pts, FRAME
        self.pipe.get_by_name(name).emit('push-buffer', buf)

    def finish(self):
        self.pipe.set_state(Gst.State.PLAYING)
        for name in ('ref', 'test'):
            self.pipe.get_by_name(name).emit('end-of-stream')
        bus = self.pipe.get_bus()
        frames, summary, error = [], None, None
        while True:
            msg = bus.timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.ELEMENT | Gst.MessageType.EOS |
                                         Gst.MessageType.ERROR)
            if msg is None or msg.type == Gst.MessageType.EOS:
                break
            if msg.type == Gst.MessageType.ERROR:
                error = msg.parse_error()[0].message
                break
            st = msg.get_structure()
            fields = {st.nth_field_name(i): st.get_value(st.nth_field_name(i)) for i in range(st.n_fields())}
            if st.get_name() == 'qualitymeter':
                frames.append(fields)
            elif st.get_name() == 'qualitymeter-summary':
                summary = fields
        self.pipe.set_state(Gst.State.NULL)
        return frames, summary, error


def caps(w, h, fmt='I420'):
    return 'video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1' % (fmt, w, h, FPS)


class QualitymeterTest(unittest.TestCase):
    def test_psnr_ssim_match_numpy(self):
        rng = np.random.default_rng(5)
        w, h = 67, 45  # odd: chroma rounds up
        run = Run(caps(w, h), caps(w, h))
        refs, tests = [], []
        for i, sigma in enumerate((2.0, 6.0, 15.0)):
            r = smooth(rng, w, h) if i else i420_planes(rng, w, h)
            t = noisy(r, rng, sigma)
            refs.append(r)
            tests.append(t)
            run.push('ref', pack_i420(r, w, h), i * FRAME)
            run.push('test', pack_i420(t, w, h), i * FRAME)
        frames, summary, error = run.finish()
        self.assertIsNone(error)
        self.assertEqual(len(frames), 3)
        for f, r, t in zip(frames, refs, tests):
            for k, plane in (('psnr-y', 0), ('psnr-u', 1), ('psnr-v', 2)):
                self.assertAlmostEqual(f[k], psnr(r[plane], t[plane]), delta=0.01)
            allr = np.concatenate([p.ravel() for p in r])
            allt = np.concatenate([p.ravel() for p in t])
            self.assertAlmostEqual(f['psnr'], psnr(allr, allt), delta=0.01)
            self.assertAlmostEqual(f['ssim-y'], ssim(r[0], t[0]), delta=1e-4)
        self.assertEqual(summary['frames'], 3)
        ys = [f['psnr-y'] for f in frames]
        self.assertAlmostEqual(summary['psnr-y-mean'], np.mean(ys), delta=1e-9)
        self.assertAlmostEqual(summary['psnr-y-min'], min(ys), delta=1e-9)
        # the test stream passes through untouched
        self.assertEqual([o[1] for o in run.out], [pack_i420(t, w, h) for t in tests])

    def test_pairs_by_timestamp_and_reports(self):
        rng = np.random.default_rng(9)
        w, h = 32, 24
        for suffix in ('.json', '.csv'):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, 'report' + suffix)
                run = Run(caps(w, h, 'GRAY8'), caps(w, h, 'GRAY8'), path)
                r = [rng.integers(0, 256, (h, w), dtype=np.uint8) for _ in range(5)]
                for i in range(5):  # reference frames 0..4
                    run.push('ref', r[i].tobytes(), i * FRAME)
                for i in (2, 3, 4):  # the test stream starts at frame 2
                    run.push('test', r[i].tobytes(), i * FRAME)
                frames, summary, error = run.finish()
                self.assertIsNone(error)
                self.assertEqual([f['pts'] for f in frames], [2 * FRAME, 3 * FRAME, 4 * FRAME])
                self.assertEqual(summary['unmatched-reference'], 2)
                self.assertEqual(summary['unmatched-test'], 0)
                self.assertEqual(summary['psnr-y-mean'], 100.0)  # identical frames
                self.assertNotIn('psnr-u', frames[0])
                if suffix == '.json':
                    with open(path) as f:
                        report = json.load(f)
                    self.assertEqual(report['summary']['frames'], 3)
                    self.assertEqual(len(report['frames']), 3)
                else:
                    with open(path) as f:
                        rows = list(csv.DictReader(f))
                    self.assertEqual(len(rows), 3)
                    self.assertEqual(float(rows[0]['psnr-y']), 100.0)

    def test_mismatched_sizes_fail(self):
        run = Run(caps(32, 24), caps(34, 24))
        run.push('ref', bytes(32 * 24 * 3 // 2), 0)
        run.push('test', pack_i420(i420_planes(np.random.default_rng(1), 34, 24), 34, 24), 0)
        frames, summary, error = run.finish()
        self.assertIsNotNone(error)
        self.assertIn('differ', error)
        run = Run(caps(32, 24, 'GRAY8'), caps(32, 24))
        run.push('ref', bytes(32 * 24), 0)
        run.push('test', bytes(32 * 24 * 3 // 2), 0)
        self.assertIsNotNone(run.finish()[2])


if __name__ == '__main__':
    Gst.init(None)
    unittest.main(verbosity=2)
