#!/usr/bin/python3
"""The CPU benchmark: one run, one table, one JSON report.

  GST_PLUGIN_PATH=builddir/gst tests/bench/benchmark.py [--clip C] [--frames 30]
      [--thresholds 0,0.05] [--json builddir/bench.json]

On the same real 640x360 frames (a clip's 720p frames downscaled 2x: the SR convention),
times and scores: the element in a pipeline (rawvideoparse ! superres ! fakesink, no sync),
sr-core alone (tests/bench/sr-bench) with the best kernels, capped to AVX2 / AVX-VNNI, and
with the plain-C reference, OpenCV dnn_superres FSRCNN and ESPCN x2 (../shared/peers), and
the peers a user would pick instead running our model's weights on the same frames with the
same threads: PyTorch fp32 and with bf16 autocast + channels_last, and ONNX Runtime (the CPU
library of the npm package onnxruntime-node, run through tests/bench/ort-run.js; install
with `npm install --ignore-scripts onnxruntime-node` in --node-modules' parent); plus the
measured fp32 peak. A peer that is not installed is a row marked so. The element's fps is
timed over the clip looped to --element-frames (start-up does not dominate). PSNR is Y,
whole frame, mean over frames, against the 720p original. Speed is never asserted here:
compare the ratios measured in one run (machines are shared and noisy).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'pipelines'))
sys.path.insert(0, os.path.join(REPO, 'models', 'train'))
import compare  # noqa: E402
from gsttools import Gst, run  # noqa: E402

SHARED = os.path.normpath(os.path.join(REPO, '..', 'shared'))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def read_frames(path, w, h, n):
    """Y, U, V planes of n raw I420 frames (GStreamer's default layout, even sizes)."""
    size = w * h * 3 // 2
    data = np.fromfile(path, np.uint8)
    out = []
    for i in range(n):
        f = data[i * size:(i + 1) * size]
        out.append((f[:w * h].reshape(h, w), f[w * h:w * h * 5 // 4].reshape(h // 2, w // 2),
                    f[w * h * 5 // 4:].reshape(h // 2, w // 2)))
    return out


def looped_input(meta, frames):
    """The LR clip repeated to at least `frames` frames (path, frame count)."""
    loops = max(1, -(-frames // meta['frames']))
    path = meta['lr'][:-len('.i420')] + '-x%d.i420' % loops
    if not os.path.exists(path):
        data = np.fromfile(meta['lr'], np.uint8)
        np.tile(data, loops).tofile(path)
    return path, loops * meta['frames']


def time_element(meta, props, repeat, frames):
    w, h, fps = meta['width'] // 2, meta['height'] // 2, meta['fps']
    path, n = looped_input(meta, frames)
    desc = ('filesrc location="%s" ! rawvideoparse format=i420 width=%d height=%d framerate=%d/%d ! '
            'superres %s ! fakesink sync=false' % (path, w, h, fps[0], fps[1], props))
    run(desc)  # warm-up: page cache, plugin load
    best = min(run(desc) for _ in range(repeat))
    return n / best


def sr_bench(args, frame_path, w, h, isa=None, threshold=None, peak=False, model=None, precision=None,
             backend=None, frames=None):
    cmd = [args.sr_bench, '--input', frame_path, '--width', str(w), '--height', str(h),
           '--frames', str(frames or args.frames), '--model', model or args.model]
    if backend:
        cmd += ['--backend', backend]
    if threshold is not None:
        cmd += ['--threshold', str(threshold)]
    if peak:
        cmd.append('--peak')
    env = dict(os.environ)
    if isa:
        env['SR_CPU_ISA'] = isa
    if precision:
        env['SR_CPU_PRECISION'] = precision
    return json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout)


def opencv_peer(name, path, lr_frames, hr_frames):
    import cv2
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(path)
    sr.setModel(name, 2)
    scores, spent = [], 0.0
    for (y, u, v), hr in zip(lr_frames, hr_frames):
        i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(y.shape[0] * 3 // 2, y.shape[1])
        bgr = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
        t0 = time.perf_counter()
        out = sr.upsample(bgr)
        spent += time.perf_counter() - t0
        # back to the luma plane the way the frames were made (BT.601 studio range)
        yuv = cv2.cvtColor(out, cv2.COLOR_BGR2YUV_I420)
        scores.append(psnr(hr[0], yuv[:hr[0].shape[0]]))
    return {'fps': len(lr_frames) / spent, 'psnr_y': float(np.mean(scores))}


def pytorch_ours(model_path, lr_frames, hr_frames, threads, bf16=False):
    """Our weights in PyTorch at full depth: fp32, or bf16 autocast with channels_last (what a
    PyTorch user would try first on a CPU with bf16)."""
    import contextlib
    import torch
    import modelfile
    torch.set_num_threads(threads)
    model, _, _ = modelfile.load(model_path)
    layout = torch.channels_last if bf16 else torch.contiguous_format
    model = model.to(memory_format=layout)
    autocast = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    scores, spent = [], 0.0
    with torch.no_grad(), autocast():
        model(torch.zeros(1, 1, *lr_frames[0][0].shape).to(memory_format=layout))  # warm-up
        for (y, _, _), hr in zip(lr_frames, hr_frames):
            x = torch.from_numpy(y.astype(np.float32) / 255.0)[None, None].to(memory_format=layout)
            t0 = time.perf_counter()
            out = model(x)
            spent += time.perf_counter() - t0
            scores.append(psnr(hr[0], np.clip(np.round(out[0, 0].float().numpy() * 255), 0, 255)))
    return {'fps': len(lr_frames) / spent, 'psnr_y': float(np.mean(scores)), 'version': torch.__version__}


EXPORT_ONNX = """
import sys, torch
sys.path.insert(0, %r)
import modelfile
model, _, _ = modelfile.load(sys.argv[1])
with torch.no_grad():
    torch.onnx.export(model, torch.zeros(1, 1, int(sys.argv[2]), int(sys.argv[3])), sys.argv[4],
                      opset_version=13, input_names=['lr'], output_names=['sr'])
""" % os.path.join(REPO, 'models', 'train')


def onnxruntime_peer(model_path, lr_frames, hr_frames, threads, node_modules):
    """Our weights exported to ONNX (by PyTorch) run by ONNX Runtime in fp32; None when node or
    onnxruntime-node is missing."""
    node = shutil.which('node')
    if not node or not os.path.isdir(os.path.join(node_modules, 'onnxruntime-node')):
        return None
    h, w = lr_frames[0][0].shape
    with tempfile.TemporaryDirectory() as tmp:
        onnx, frames, out = (os.path.join(tmp, f) for f in ('model.onnx', 'in.f32', 'out.f32'))
        # exported in a process of its own: in this one (GStreamer, OpenCV and PyTorch's bf16
        # runs loaded) torch 1.13's exporter crashed
        subprocess.run([sys.executable, '-c', EXPORT_ONNX, model_path, str(h), str(w), onnx], check=True,
                       capture_output=True, text=True)
        np.stack([y for y, _, _ in lr_frames]).astype(np.float32).__truediv__(255.0).tofile(frames)
        env = dict(os.environ, NODE_PATH=node_modules)
        r = json.loads(subprocess.run([node, os.path.join(HERE, 'ort-run.js'), onnx, frames, str(w), str(h),
                                       str(len(lr_frames)), str(threads), out], env=env, check=True,
                                      capture_output=True, text=True).stdout)
        sr = np.fromfile(out, np.float32).reshape(len(lr_frames), 2 * h, 2 * w)
    scores = [psnr(hr[0], np.clip(np.round(o * 255), 0, 255)) for o, hr in zip(sr, hr_frames)]
    return {'fps': len(lr_frames) / r['seconds'], 'psnr_y': float(np.mean(scores)), 'version': r['version']}


class cpu_env:
    """SR_CPU_* variables for the in-process pipelines of a block (e.g. precision='fp32': the
    reference path; isa='avx2': a CPU without AVX-512)."""
    def __init__(self, **values):
        self.values = {'SR_CPU_' + k.upper(): v for k, v in values.items()}

    def __enter__(self):
        self.old = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared_clip = os.path.join(SHARED, 'data', 'clips', 'flowers-720p30.h264')
    ap.add_argument('--clip', default=shared_clip if os.path.exists(shared_clip) else
                    os.path.join(REPO, 'tests', 'data', 'clips', 'flowers-720p.h264'))
    ap.add_argument('--frames', type=int, default=30)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'superres-x2.safetensors'))
    ap.add_argument('--exit-model', default=os.path.join(REPO, 'models', 'superres-x2-ghost.safetensors'),
                    help='the model with exits the --thresholds sweep runs')
    ap.add_argument('--int8-model', default=os.path.join(REPO, 'models', 'superres-x2-int8.safetensors'),
                    help='the default model fine-tuned for int8')
    ap.add_argument('--thresholds', default='0,0.01,0.02,0.03,0.05,0.1',
                    help='exit thresholds for the sweep (element PSNR, sr-core fps)')
    ap.add_argument('--peers', default=os.path.join(SHARED, 'peers', 'opencv-dnn-superres'))
    ap.add_argument('--sr-bench', default=os.path.join(REPO, 'builddir', 'tests', 'bench', 'sr-bench'))
    ap.add_argument('--cache', default=os.path.join(REPO, 'builddir', 'clip-cache'))
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--repeat', type=int, default=3)
    ap.add_argument('--element-frames', type=int, default=200,
                    help='the element is timed over the clip looped to at least this many frames')
    ap.add_argument('--node-modules', default=os.path.join(REPO, 'builddir', 'peers', 'node_modules'),
                    help='where `npm install --ignore-scripts onnxruntime-node` put the ONNX Runtime peer')
    ap.add_argument('--json', default=os.path.join(REPO, 'builddir', 'bench.json'))
    ap.add_argument('--plot', help='write a PNG of fps vs PSNR over the thresholds, with the peers')
    ap.add_argument('--markdown', help='write the table as Markdown here (for docs/benchmarks.md)')
    args = ap.parse_args()
    Gst.init(None)

    meta = compare.prepare(args.clip, args.frames, args.cache)
    w, h = meta['width'] // 2, meta['height'] // 2
    lr = read_frames(meta['lr'], w, h, meta['frames'])
    hr = read_frames(meta['hr'], 2 * w, 2 * h, meta['frames'])
    frame_path = os.path.join(args.cache, 'bench-frame0.y')
    lr[0][0].tofile(frame_path)
    rows = []
    quality = compare.measure(meta, 'superres name=up model="%s"' % args.model)

    def add(name, fps, psnr_y=None, extra=None):
        rows.append(dict(name=name, fps=fps, psnr_y=psnr_y, **(extra or {})))

    props = 'model="%s" n-threads=%d' % (args.model, args.threads)
    element = time_element(meta, props, args.repeat, args.element_frames)
    add('superres element (pipeline, default model)', element, quality['psnr-y-mean'])
    with cpu_env(precision='fp32'):
        quality_fp32 = compare.measure(meta, 'superres name=up model="%s"' % args.model)
        add('superres element, fp32 (SR_CPU_PRECISION=fp32)', time_element(meta, props, args.repeat, args.element_frames),
            quality_fp32['psnr-y-mean'])
    core = sr_bench(args, frame_path, w, h, peak=True)
    add('sr-core alone (%s)' % core['device'], core['fps'], quality['psnr-y-mean'],
        {'gmacs_per_s': core['gmacs_per_s']})
    core_fp32 = sr_bench(args, frame_path, w, h, precision='fp32')
    add('sr-core alone (%s)' % core_fp32['device'], core_fp32['fps'], quality_fp32['psnr-y-mean'],
        {'gmacs_per_s': core_fp32['gmacs_per_s']})
    core_int16 = sr_bench(args, frame_path, w, h, precision='int16')
    if core_int16['device'] != core['device'] and 'int16' in core_int16['device']:
        with cpu_env(precision='int16'):
            q16 = compare.measure(meta, 'superres name=up model="%s"' % args.model)
        add('sr-core alone (%s)' % core_int16['device'], core_int16['fps'], q16['psnr-y-mean'],
            {'gmacs_per_s': core_int16['gmacs_per_s']})
    if os.path.exists(args.int8_model):
        q8 = compare.measure(meta, 'superres name=up model="%s"' % args.int8_model)
        add('superres element, int8 model (%s)' % os.path.basename(args.int8_model),
            time_element(meta, 'model="%s" n-threads=%d' % (args.int8_model, args.threads), args.repeat, args.element_frames),
            q8['psnr-y-mean'])
        r = sr_bench(args, frame_path, w, h, model=args.int8_model)
        add('sr-core alone, int8 model (%s)' % r['device'], r['fps'], q8['psnr-y-mean'],
            {'gmacs_per_s': r['gmacs_per_s']})
    # CPUs without AVX-512: int16 on 256-bit registers (AVX2 vpmaddwd, AVX-VNNI vpdpwssd), fp32 FMA
    with cpu_env(isa='avx2'):
        element_avx2 = time_element(meta, props, args.repeat, args.element_frames)
        add('superres element, SR_CPU_ISA=avx2 (no AVX-512), default model', element_avx2)
    for isa in ('avx2', 'avxvnni'):
        r = sr_bench(args, frame_path, w, h, isa=isa)
        add('sr-core alone, SR_CPU_ISA=%s (%s)' % (isa, r['device']), r['fps'], None,
            {'gmacs_per_s': r['gmacs_per_s']})
    for isa in ('avx2', 'c'):
        r = sr_bench(args, frame_path, w, h, isa=isa, precision='fp32')
        add('sr-core alone (%s)' % r['device'], r['fps'], None, {'gmacs_per_s': r['gmacs_per_s']})
    for backend in ('vulkan', 'opencl'):
        try:
            r = sr_bench(args, frame_path, w, h, backend=backend, frames=3)
        except subprocess.CalledProcessError as e:
            print('skip %s: %s' % (backend, e.stderr.strip()))
            continue
        soft = 'llvmpipe' in r['device'] or 'pthread' in r['device']
        add('sr-core alone, %s on %s%s' % (backend, r['device'], ' (software device: correctness only)' if soft else ''),
            r['fps'], None, {'device_fps': r.get('device_fps')})
    for t in filter(None, args.thresholds.split(',') if os.path.exists(args.exit_model) else []):
        q = compare.measure(meta, 'superres name=up model="%s" exit-threshold=%s' % (args.exit_model, t))
        r = sr_bench(args, frame_path, w, h, threshold=float(t), model=args.exit_model)
        add('%s, exit-threshold %s (%s)' % (r['model'], t, r['device'].split(', ', 1)[-1]), r['fps'],
            q['psnr-y-mean'], {'macs_per_pixel': r['macs_per_pixel'], 'mean_depth': r['mean_depth']})
    exit_default = exit_full = None
    if os.path.exists(args.exit_model):
        exit_default = sr_bench(args, frame_path, w, h, model=args.exit_model)
        exit_full = sr_bench(args, frame_path, w, h, model=args.exit_model, threshold=0)
        for r, what in ((exit_default, 'default exit threshold %g' % exit_default['threshold']),
                        (exit_full, 'full depth')):
            add('sr-core alone, %s, %s (%s)' % (r['model'], what, r['device'].split(', ', 1)[-1]), r['fps'], None,
                {'macs_per_pixel': r['macs_per_pixel'], 'mean_depth': r['mean_depth']})
        r = sr_bench(args, frame_path, w, h, model=args.exit_model, precision='fp32')
        add('sr-core alone, %s, default exit threshold, fp32 (%s)' % (
            r['model'], r['device'].split(', ', 1)[-1]), r['fps'], None, {'mean_depth': r['mean_depth']})
        add('superres element, %s (default exit threshold)' % os.path.basename(args.exit_model),
            time_element(meta, 'model="%s" n-threads=%d' % (args.exit_model, args.threads), args.repeat, args.element_frames))
    for name, file in (('fsrcnn', 'FSRCNN_x2.pb'), ('espcn', 'ESPCN_x2.pb')):
        path = os.path.join(args.peers, file)
        if os.path.exists(path):
            r = opencv_peer(name, path, lr, hr)
            add('OpenCV dnn_superres %s' % name.upper(), r['fps'], r['psnr_y'])
        else:
            print('skip OpenCV %s: %s not here' % (name, path))
    peers = {}
    for model in (args.model, args.exit_model):
        if not os.path.exists(model):
            continue
        base = os.path.basename(model)
        for bf16 in (False, True):
            what = 'bf16 autocast + channels_last' if bf16 else 'fp32'
            try:
                r = pytorch_ours(model, lr, hr, args.threads, bf16)
            except ImportError:
                add('PyTorch %s, %s (not installed)' % (what, base), None)
                continue
            add('PyTorch %s (CPU, %d threads), %s, %s at full depth' % (r['version'], args.threads, what, base),
                r['fps'], r['psnr_y'])
            peers[(model, 'pytorch ' + what)] = r['fps']
        try:
            r = onnxruntime_peer(model, lr, hr, args.threads, args.node_modules)
        except (ImportError, subprocess.CalledProcessError) as e:
            print('ONNX Runtime on %s failed: %s' % (base, getattr(e, 'stderr', e)))
            r = None
        if r is None:
            add('ONNX Runtime, %s (not installed)' % base, None)
        else:
            add('ONNX Runtime %s (CPU, %d threads), fp32, %s at full depth' % (r['version'], args.threads, base),
                r['fps'], r['psnr_y'])
            peers[(model, 'onnxruntime')] = r['fps']
    add('bicubic (PIL)', None, quality and compare.measure(meta, None, 'bicubic')['psnr-y-mean'])

    peak = core.get('peak_gflops')
    print('%s: %d frames %dx%d -> %dx%d, %d threads' % (os.path.basename(args.clip), meta['frames'], w, h,
                                                        2 * w, 2 * h, args.threads))
    print('%-64s %8s %8s' % ('', 'fps', 'PSNR-Y'))
    for r in rows:
        print('%-64s %8s %8s' % (r['name'], '%.2f' % r['fps'] if r['fps'] else '-',
                                 '%.2f' % r['psnr_y'] if r['psnr_y'] else '-'))
    macs = core['macs_per_pixel'] * w * h
    peak_note = ''
    if peak:
        # vpdpwssd does 32 MACs where an fp32 FMA does 16: the int16 peak is twice fp32's
        lowp = 'int16' in core['device'] or 'int8' in core['device'] or 'amx' in core['device']
        peak_note = ('measured fp32 peak %.0f GFLOP/s (%d threads, %s; %.1f on one thread); sr-core fp32 reaches '
                     '%.0f GFLOP/s = %.0f%% of it' % (peak, args.threads, core['peak_isa'], core['peak_gflops_1thread'],
                                                      2 * core_fp32['gmacs_per_s'], 100 * 2 * core_fp32['gmacs_per_s'] / peak))
        if lowp:
            peak_note += ('; the %s path %.0f GOP/s (%.1fx fp32\'s measured peak)'
                          % (core['device'].split(', ')[-1], 2 * core['gmacs_per_s'],
                             2 * core['gmacs_per_s'] / peak))
        print(peak_note)
    fps = {r['name']: r['fps'] for r in rows}
    el = rows[0]['fps']
    ratios = {k: el / v for k, v in fps.items() if v and k != rows[0]['name']}
    for k, v in ratios.items():
        print('element / %s: %.1fx' % (k, v))
    # the targets as ratios of this run (None where a row is missing)
    def ratio(a, b):
        return a / b if a and b else None
    targets = {
        'element / PyTorch bf16 (>= 4)': ratio(element, peers.get((args.model, 'pytorch bf16 autocast + channels_last'))),
        'element / ONNX Runtime (>= 6)': ratio(element, peers.get((args.model, 'onnxruntime'))),
        'exit model: default threshold / full depth (>= 1.3)':
            ratio(exit_default and exit_default['fps'], exit_full and exit_full['fps']),
        'exit model at default threshold / plain model, sr-core (>= 1)':
            ratio(exit_default and exit_default['fps'], core['fps']),
        'element fps with SR_CPU_ISA=avx2 (>= 30)': element_avx2,
        'element / sr-core alone (>= 0.9)': ratio(element, core['fps']),
    }
    for k, v in targets.items():
        print('target %s: %s' % (k, '%.2f' % v if v else 'not measured'))
    report = {'clip': args.clip, 'element_frames': looped_input(meta, args.element_frames)[1], 'targets': targets, 'frames': meta['frames'], 'threads': args.threads, 'model': args.model,
              'macs_per_frame': macs, 'rows': rows, 'peak_gflops': peak, 'core': core, 'ratios': ratios}
    if args.plot:
        try:
            plot(rows, args.plot, os.path.basename(args.clip), w, h)
        except ImportError as e:  # the plot is optional; the table and JSON still get written
            print('no plot: %s' % e)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write('| what | fps | Y PSNR (dB) |\n|---|---|---|\n')
            for r in rows:
                f.write('| %s | %s | %s |\n' % (r['name'], '%.1f' % r['fps'] if r['fps'] else '–',
                                                '%.2f' % r['psnr_y'] if r['psnr_y'] else '–'))
            if peak:
                f.write('\n%s.\n' % (peak_note[0].upper() + peak_note[1:]))
            f.write('\n| target (ratio of this run) | measured |\n|---|---|\n')
            for k, v in targets.items():
                f.write('| %s | %s |\n' % (k, '%.2f' % v if v else 'not measured'))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('wrote', args.json)


def plot(rows, path, clip, w, h):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    sweep = [r for r in rows if 'exit-threshold' in r['name']]
    if sweep:
        ax.plot([r['fps'] for r in sweep], [r['psnr_y'] for r in sweep], 'o-', label='sr-core, exit thresholds')
        for r in sweep:
            ax.annotate(r['name'].split()[-1], (r['fps'], r['psnr_y']), textcoords='offset points', xytext=(4, 4),
                        fontsize=8)
    for r in rows:
        if r['fps'] and r['psnr_y'] and 'exit-threshold' not in r['name']:
            ax.plot([r['fps']], [r['psnr_y']], 's', label=r['name'])
    bic = [r for r in rows if r['name'].startswith('bicubic')]
    if bic:
        ax.axhline(bic[0]['psnr_y'], color='gray', ls='--', lw=1, label='bicubic (PIL)')
    ax.set_xscale('log')
    ax.set_xlabel('frames per second, %dx%d -> %dx%d (log)' % (w, h, 2 * w, 2 * h))
    ax.set_ylabel('Y PSNR (dB) vs the 720p original')
    ax.set_title('CPU speed vs quality on %s' % clip)
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == '__main__':
    main()
