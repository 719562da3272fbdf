/* The fp32 3x3 conv row: plain C is the reference; AVX2 and AVX-512 versions are chosen at
 * run time through sr-cpu-dsp.h and tested against it (tests/test-kernels.c). */
#ifndef SR_CPU_KERNELS_H
#define SR_CPU_KERNELS_H

#include "../sr-model-private.h"

/* One row of a 3x3 "same" conv (stride 1) on padded planes: for every output channel oc,
 * out[oc * out_plane + x] for x in [0, n) is output pixel (y, xa + x); input pixel
 * (y', x') is in[ic * plane + (y' + 1) * pitch + x' + 1]. Sums bias, then ic, ky, kx in
 * order; ReLU if the layer has it. */
typedef void (*SrConvRowFn) (const SrLayer *l, const float *in, gsize plane, gsize pitch,
    int y, int xa, int n, float *out, gsize out_plane);

void sr_conv3x3_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane);
void sr_conv3x3_row_avx2 (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y,
    int xa, int n, float *out, gsize out_plane);
void sr_conv3x3_row_avx512 (const SrLayer *l, const float *in, gsize plane, gsize pitch,
    int y, int xa, int n, float *out, gsize out_plane);

#endif
