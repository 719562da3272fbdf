/* The fp32 kernels (the k x k conv row, the tail's anchor and shuffle): plain C is the
 * reference; SIMD versions are chosen at run time through sr-cpu-dsp.h and tested against it
 * (tests/test-kernels.c). */
#ifndef SR_CPU_KERNELS_H
#define SR_CPU_KERNELS_H

#include "../sr-model-private.h"

/* One row of a k x k "same" conv (k = l->kernel: 1, 3, 5 or 7; stride 1) on padded planes:
 * for every output channel oc, out[oc * out_plane + x] for x in [0, n) is the row's output
 * pixel x, and `in` points at the top-left input of that row's first window (channel 0, k/2
 * rows above and k/2 columns left of the output pixel): tap (ky, kx) of output x of input
 * channel ic is in[ic * plane + ky * pitch + x + kx]. Sums bias, then ic, ky, kx in order;
 * ReLU if the layer has it. The C reference takes any k; the SIMD kernels run k = 3 as they
 * always did (its loops fixed at compile time) and any other k through the same loops with
 * k read at run time. */
typedef void (*SrConvRowFn) (const SrLayer *l, const float *in, gsize plane, gsize pitch,
    int n, float *out, gsize out_plane);

/* The last step of every net (scale 2) for n pixels of an LR row: pixel x's 4 sub-pixel
 * residuals res[x * x_stride + c * c_stride] (c = 2 dy + dx) plus its luma as the nearest
 * anchor, to 8 bits: u = (r + a / 255) * 255 + 0.5 clamped to [0, 255] and truncated (the
 * rounding of every path), written to HR pixel 2 x + dx of row dst[dy]; anchors
 * `anchor_step` bytes apart, HR pixels `dst_step` bytes apart. */
/* pixel (x, y) of a plane */
static inline guint8 *
sr_cpu_pixel (const SrPlane *p, int x, int y)
{
  return p->data + (gsize) y * p->stride + (gsize) x * p->pixel_stride;
}

typedef void (*SrTailRowFn) (const float *res, gsize x_stride, gsize c_stride,
    const guint8 *anchor, gsize anchor_step, int n, guint8 *dst0, guint8 *dst1,
    gsize dst_step);

void sr_tail_row_c (const float *res, gsize x_stride, gsize c_stride, const guint8 *anchor,
    gsize anchor_step, int n, guint8 *dst0, guint8 *dst1, gsize dst_step);
/* 8 pixels a step where the residuals are pixel-major (x_stride 4, c_stride 1) and anchors
 * and HR pixels are bytes next to each other; anything else goes to the C row */
void sr_tail_row_avx2 (const float *res, gsize x_stride, gsize c_stride, const guint8 *anchor,
    gsize anchor_step, int n, guint8 *dst0, guint8 *dst1, gsize dst_step);

void sr_conv_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n,
    float *out, gsize out_plane);
void sr_conv_row_avx2 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n,
    float *out, gsize out_plane);
void sr_conv_row_avx512 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n,
    float *out, gsize out_plane);

/* The exit predictor's 3x3 stride-2 conv with zero padding 1, then ReLU: out ([out_ch][oh][ow])
 * from `cols`, the input's rows split by column parity ([in_ch][h][2][cw]: row y's even
 * columns, then its odd ones shifted right by one, zero-filled), so tap kx of output ox reads
 * odd[ox], even[ox], odd[ox + 1]; input row 2 oy - 1 + ky, skipped outside [0, h). Each output
 * sums bias, then ic, ky, kx in order, multiplies and adds separate (as the GPU kernels): the
 * tiles' exit depths are bit-exact on every path. */
typedef void (*SrStride2ConvFn) (const SrLayer *l, const float *cols, int h, int oh, int ow,
    int cw, float *out);

void sr_stride2_conv_c (const SrLayer *l, const float *cols, int h, int oh, int ow, int cw,
    float *out);
void sr_stride2_conv_avx2 (const SrLayer *l, const float *cols, int h, int oh, int ow, int cw,
    float *out);

#endif
