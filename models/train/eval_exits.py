#!/usr/bin/python3
"""The adaptive-exit trade-off of a ghost-exit model, measured through the C runtime.

  GST_PLUGIN_PATH=builddir/gst models/train/eval_exits.py [--model M] [--ckpt CKPT]
      [--thresholds 0,0.02,0.05,...] [--clips clip1,clip2@start] [--json OUT] [--plot OUT.png]

Prints, for Set5 and Set14: PSNR at each fixed depth (PyTorch, from --ckpt), then for each
threshold: PSNR, mean depth, MACs per LR pixel (predictor included) and CPU ms per image,
all from the `superres` element (C reference runtime). Clips (frames are the ground truth,
LR by bicubic downscaling, via pipelines/compare.py) get the same sweep.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, 'tests'))
sys.path.insert(0, os.path.join(REPO, 'pipelines'))
import modelfile  # noqa: E402
import srdata  # noqa: E402
import sr_eval  # noqa: E402
import compare  # noqa: E402
from gsttools import Gst  # noqa: E402


def fixed_depths(ckpt, folder):
    import torch
    from export import model_from_checkpoint
    model, _, _ = model_from_checkpoint(ckpt)
    scores = []
    with torch.no_grad():
        for path in srdata.image_paths(folder):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
            outs = model.forward_all(torch.from_numpy(lr.astype(np.float32) / 255.0)[None, None])
            scores.append([srdata.psnr_y(hr, np.clip(np.round(o[0, 0].numpy() * 255), 0, 255)) for o in outs])
    return np.mean(scores, 0).tolist(), [model.macs_per_lr_pixel(d + 1) for d in range(model.n_blocks)]


def sweep_images(folder, model, thresholds):
    rows = []
    for t in thresholds:
        psnr, depth, frac, ms, area = [], [], [], [], []
        for path in srdata.image_paths(folder):
            hr, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
            st = {}
            sr = sr_eval.upscale_with_element(lr, 'model="%s" exit-threshold=%g' % (model, t), st)
            psnr.append(srdata.psnr_y(hr, sr))
            depth.append(st['mean-depth'])
            frac.append(st['macs-fraction'])
            ms.append(st['ms-per-frame'])
            area.append(lr.size)
        w = np.array(area) / np.sum(area)
        rows.append({'threshold': t, 'psnr': float(np.mean(psnr)), 'mean_depth': float(np.dot(w, depth)),
                     'macs_fraction': float(np.dot(w, frac)), 'ms': float(np.sum(ms))})
    return rows


def sweep_clip(clip, model, thresholds, frames, cache, start=0):
    meta = compare.prepare(clip, frames, cache, start)
    rows = []
    for t in thresholds:
        r = compare.measure(meta, 'superres name=up model="%s" exit-threshold=%g' % (model, t))
        rows.append({'threshold': t, 'psnr': r['psnr-y-mean'], 'mean_depth': r['superres']['mean-depth'],
                     'macs_fraction': r['superres']['macs-fraction'], 'ms': r['superres']['ms-per-frame']})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'superres-x2.safetensors'))
    ap.add_argument('--ckpt', help='training checkpoint, for PSNR at fixed depths')
    ap.add_argument('--data', default=os.path.join(REPO, 'tests', 'data'))
    ap.add_argument('--thresholds', default='0,0.01,0.02,0.03,0.05,0.08,0.12,0.2,0.35,0.6')
    ap.add_argument('--clips', default=os.path.join(REPO, 'tests', 'data', 'clips', 'flowers-720p.h264'))
    ap.add_argument('--frames', type=int, default=10)
    ap.add_argument('--cache', default=os.path.join(REPO, 'builddir', 'clip-cache'))
    ap.add_argument('--json')
    ap.add_argument('--plot')
    ap.add_argument('--default', type=float,
                    help="threshold to ring on the plot (default: the model file's default_exit_threshold)")
    args = ap.parse_args()
    if args.default is None:
        args.default = float(modelfile.read_safetensors(args.model)[0].get('default_exit_threshold', 0))
    Gst.init(None)
    thresholds = [float(t) for t in args.thresholds.split(',')]
    report = {'model': args.model, 'sets': {}, 'clips': {}}
    for name in ('set5', 'set14'):
        folder = os.path.join(args.data, name)
        entry = {}
        if args.ckpt:
            entry['fixed_depth_psnr'], entry['fixed_depth_macs'] = fixed_depths(args.ckpt, folder)
            print('%s fixed depth: %s' % (name, ' '.join('%d:%.2f' % (d + 1, p) for d, p in
                                                          enumerate(entry['fixed_depth_psnr']))))
        entry['sweep'] = sweep_images(folder, args.model, thresholds)
        report['sets'][name] = entry
    for spec in filter(None, args.clips.split(',')):
        clip, _, start = spec.partition('@')  # clip@N starts at frame N
        if os.path.exists(clip):
            report['clips'][os.path.basename(spec)] = sweep_clip(clip, args.model, thresholds, args.frames,
                                                                 args.cache, int(start or 0))
        else:
            print('skip %s: not here' % clip)
    for kind in ('sets', 'clips'):
        for name, entry in report[kind].items():
            rows = entry['sweep'] if kind == 'sets' else entry
            print('%s: %8s %8s %8s %8s %9s' % (name, 'thresh', 'PSNR', 'depth', 'MACs%', 'CPU ms'))
            for r in rows:
                print('%s  %8.3f %8.3f %8.2f %7.1f%% %9.1f' % (' ' * len(name), r['threshold'], r['psnr'],
                                                              r['mean_depth'], 100 * r['macs_fraction'], r['ms']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    if args.plot:
        plot(report, args.plot, args.default)


def plot(report, path, default):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [('Set14', report['sets']['set14']['sweep'])] + list(report['clips'].items())
    for name, rows in series:
        base = rows[0]['psnr']
        x0 = [100 * r['macs_fraction'] for r in rows]
        x1 = [r['ms'] / rows[0]['ms'] for r in rows]
        y = [r['psnr'] - base for r in rows]
        line, = axes[0].plot(x0, y, 'o-', label=name)
        axes[1].plot(x1, y, 'o-', label=name)
        if default in [r['threshold'] for r in rows]:  # ring the default threshold
            i = [r['threshold'] for r in rows].index(default)
            for ax, x in ((axes[0], x0), (axes[1], x1)):
                ax.plot([x[i]], [y[i]], 'o', ms=12, mfc='none', mec=line.get_color())
    axes[0].set_xlabel('MACs spent, % of full depth')
    axes[1].set_xlabel('CPU time (sr-core, best kernels), relative to threshold 0')
    for ax in axes:
        ax.set_ylabel('PSNR change vs full depth (dB)')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle('Adaptive patch exit: quality vs work over exit thresholds (ringed: default %g dB)' % default)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == '__main__':
    main()
