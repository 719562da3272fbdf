/* The plain-C references of the fp32 kernels. */
#include "sr-cpu-kernels.h"

void
sr_conv_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int n, float *out,
    gsize out_plane)
{
  const int k = l->kernel, kk = k * k;
  for (int oc = 0; oc < l->out_ch; oc++) {
    float *o = out + oc * out_plane;
    for (int x = 0; x < n; x++)
      o[x] = l->bias[oc];
    for (int ic = 0; ic < l->in_ch; ic++) {
      const float *w = l->weight + ((gsize) oc * l->in_ch + ic) * kk;
      for (int ky = 0; ky < k; ky++) {
        const float *row = in + ic * plane + (gsize) ky * pitch;
        for (int kx = 0; kx < k; kx++) {
          const float wv = w[ky * k + kx], *ip = row + kx;
          for (int x = 0; x < n; x++)
            o[x] += wv * ip[x];
        }
      }
    }
    if (l->act == SR_ACT_RELU)
      for (int x = 0; x < n; x++)
        o[x] = o[x] > 0.f ? o[x] : 0.f;
  }
}

void
sr_tail_row_c (const float *res, gsize x_stride, gsize c_stride, const guint8 *anchor,
    gsize anchor_step, int n, guint8 *dst0, guint8 *dst1, gsize dst_step)
{
  guint8 *dst[2] = { dst0, dst1 };
  for (int x = 0; x < n; x++) {
    const float a = anchor[(gsize) x * anchor_step] * (1.f / 255.f);
    for (int c = 0; c < 4; c++) {
      float u = (res[(gsize) x * x_stride + c * c_stride] + a) * 255.f + 0.5f;
      u = u > 0.f ? u : 0.f; /* also keeps the cast defined for wild values (NaN: 0) */
      u = u < 255.f ? u : 255.f;
      dst[c / 2][(gsize) (2 * x + c % 2) * dst_step] = (guint8) (int) u;
    }
  }
}

void
sr_stride2_conv_c (const SrLayer *l, const float *cols, int h, int oh, int ow, int cw, float *out)
{
  const gsize plane = (gsize) h * 2 * cw;
  for (int oc = 0; oc < l->out_ch; oc++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float s = l->bias[oc];
        for (int ic = 0; ic < l->in_ch; ic++)
          for (int ky = 0; ky < 3; ky++) {
            const int iy = 2 * oy - 1 + ky;
            if (iy < 0 || iy >= h)
              continue;
            const float *even = cols + ic * plane + (gsize) iy * 2 * cw, *odd = even + cw;
            const float *w = l->weight + ((gsize) oc * l->in_ch + ic) * 9 + 3 * ky;
            s = ((s + w[0] * odd[ox]) + w[1] * even[ox]) + w[2] * odd[ox + 1];
          }
        out[((gsize) oc * oh + oy) * ow + ox] = s > 0.f ? s : 0.f;
      }
}
