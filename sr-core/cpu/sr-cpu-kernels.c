/* The plain-C reference of the fp32 3x3 conv row. */
#include "sr-cpu-kernels.h"

void
sr_conv3x3_row_c (const SrLayer *l, const float *in, gsize plane, gsize pitch, int y, int xa,
    int n, float *out, gsize out_plane)
{
  for (int oc = 0; oc < l->out_ch; oc++) {
    float *o = out + oc * out_plane;
    for (int x = 0; x < n; x++)
      o[x] = l->bias[oc];
    for (int ic = 0; ic < l->in_ch; ic++) {
      const float *w = l->weight + ((gsize) oc * l->in_ch + ic) * 9;
      for (int ky = 0; ky < 3; ky++) {
        const float *row = in + ic * plane + (gsize) (y + ky) * pitch + xa;
        for (int kx = 0; kx < 3; kx++) {
          const float wv = w[ky * 3 + kx], *ip = row + kx;
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
