#!/usr/bin/python3
"""Neighbouring tiles that exit at different depths must leave no visible seam.

Through the element on Set5/Set14, at the model's default exit threshold (or --threshold,
for a model whose default is 0: full depth) and at twice it, on every image:
- the picture: the mean gradient across exit-tile borders relative to the interior may
  grow by at most 0.04 over the same ratio at full depth (where no seam can exist);
- the change that exiting makes (output minus full-depth output): its mean step across
  tile borders may exceed its mean step inside tiles by at most 0.3 gray levels (a
  fraction of one quantisation step, far below what an eye sees).
Skips (77) when the model has no exits (or its default is 0 and no --threshold is given).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'models', 'train'))
import sr_eval  # noqa: E402
import srdata  # noqa: E402
from sr_eval import Gst  # noqa: E402

BORDER_RATIO_MARGIN = 0.04   # border/interior gradient ratio may grow by at most this much
DELTA_STEP_LIMIT = 0.3       # gray levels the exit's change may step more at borders than inside


def border_interior(img, tile):
    """Mean |gradient| across tile borders and elsewhere, both axes together."""
    img = img.astype(np.float64)
    gx, gy = np.abs(np.diff(img, axis=1)), np.abs(np.diff(img, axis=0))
    bx = (np.arange(gx.shape[1]) + 1) % tile == 0
    by = (np.arange(gy.shape[0]) + 1) % tile == 0
    border = np.concatenate([gx[:, bx].ravel(), gy[by, :].ravel()])
    inner = np.concatenate([gx[:, ~bx].ravel(), gy[~by, :].ravel()])
    return border.mean(), inner.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threshold', type=float, help='test this threshold and twice it, not the default')
    args = ap.parse_args()
    Gst.init(None)
    el = Gst.ElementFactory.make('superres', None)
    if el is None:
        print('superres not found')
        return 1
    st = {}
    probe = np.full((64, 64), 128, np.uint8)
    sr_eval.upscale_with_element(probe, 'post-stats=false', st)
    default_t = args.threshold or st['exit-threshold']
    if default_t <= 0 or st.get('mean-depth', 0) == 0:  # a net without exits reports depth 0
        print('SKIP: the model has no exits or no default threshold')
        return 77
    failed = False
    tile = 64  # 32 LR pixels: the exit tile at 2x
    for t in (default_t, 2 * default_t):
        ratios, steps = [], []
        for name in ('set5', 'set14'):
            for path in srdata.image_paths(os.path.join(HERE, 'data', name)):
                _, lr = srdata.hr_lr_pair(srdata.load_rgb(path))
                full = sr_eval.upscale_with_element(lr, 'exit-threshold=0')
                st = {}
                out = sr_eval.upscale_with_element(lr, 'exit-threshold=%g' % t, st)
                b0, i0 = border_interior(full, tile)
                b1, i1 = border_interior(out, tile)
                ratios.append(b1 / i1 - b0 / i0)
                bd, idl = border_interior(out.astype(np.float64) - full, tile)
                steps.append(bd - idl)
        worst_ratio, worst_step = max(ratios), max(steps) if steps else 0.0
        ok = worst_ratio <= BORDER_RATIO_MARGIN and worst_step <= DELTA_STEP_LIMIT
        failed |= not ok
        print('threshold %.3f: border/interior gradient ratio grows by at most %+.4f (limit %.2f); '
              'the exit change steps %+.3f gray levels more at borders than inside (limit %.2f), %d images: %s'
              % (t, worst_ratio, BORDER_RATIO_MARGIN, worst_step, DELTA_STEP_LIMIT, len(steps), 'ok' if ok else 'FAIL'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
