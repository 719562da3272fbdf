/* The plain-C reference network: the truth every faster path is tested against. */
#ifndef SR_CPU_REF_H
#define SR_CPU_REF_H

#include "sr-cpu-kernels.h"

/* Floats of scratch one tile of side `tile` needs (the halo included). */
gsize sr_cpu_ref_scratch_floats (const SrModel *model, int tile);

/* Upscale the LR rectangle (x0, y0, w, h) of src into the matching 2x rectangle of dst.
 * The tile reads a halo of the receptive radius around itself and zero-pads only at the
 * frame's edges, so its output equals a whole-frame run. w, h <= the scratch's tile.
 * 3x3 layers go through `conv3x3` (the C kernel or a SIMD one), others through C loops;
 * the anchor and shuffle through `tail`. */
void sr_cpu_ref_run_tile (const SrModel *model, const SrPlane *src, SrPlane *dst, int x0,
    int y0, int w, int h, float *scratch, SrConvRowFn conv3x3, SrTailRowFn tail);

/* The anchor add and x2 shuffle for planes of more than 8 bits (the fp32 path): the
 * residuals of LR pixels x0..x0+w-1 of row y (sub-pixel c at res[c * cs + x * xs]) plus the
 * fp32 anchor (1.0 = the plane's maximum), rounded and clamped, into dst. The 8-bit planes
 * take the SrTailRowFn kernels. */
void sr_cpu_tail_wide (const float *res, gsize xs, gsize cs, const float *anchor, int w,
    const SrPlane *dst, int x0, int y);

#endif
