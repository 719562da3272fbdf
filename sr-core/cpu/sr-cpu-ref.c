/* Plain-C reference of the network on one tile.
 *
 * Activations are planar float [channel][row][col] over the tile plus its halo. Each
 * layer shrinks the valid region by its kernel radius; positions outside the frame are
 * reset to zero after each layer, which is what a whole-frame "same" convolution sees. */
#include "sr-cpu-ref.h"
#include "../sr-plane-private.h"

#include <math.h>
#include <string.h>

void
sr_cpu_tail_wide (const float *res, gsize xs, gsize cs, const float *anchor, int w,
    const SrPlane *dst, int x0, int y)
{
  const float max = sr_plane_max (dst);
  for (int x = 0; x < w; x++)
    for (int c = 0; c < 4; c++) {
      /* clamped as a float first: a huge value must not reach the int conversion */
      float v = floorf ((res[c * cs + x * xs] + anchor[x]) * max + 0.5f);
      v = v > 0.f ? v : 0.f;
      v = v < max ? v : max;
      sr_plane_put (dst, ((gsize) y * 2 + c / 2) * dst->stride +
          ((gsize) (x0 + x) * 2 + c % 2) * dst->pixel_stride, (int) v);
    }
}

gsize
sr_cpu_ref_scratch_floats (const SrModel *model, int tile)
{
  gsize side = tile + 2 * sr_model_get_receptive_radius (model);
  return side * side * (1 + 2 * (gsize) model->max_channels);
}

/* One "same" convolution over rows/cols [m + r, side - m - r) given input valid on
 * [m, side - m). The inner loop runs along a row so compilers vectorize it. */
static void
conv_layer (const SrLayer *l, const float *in, float *out, int W, int H, int m,
    SrConvRowFn conv3x3)
{
  const int k = l->kernel, r = k / 2;
  const int x0 = m + r, n = W - 2 * (m + r);
  const gsize plane = (gsize) W * H;
  if (k == 3) {
    /* the kernel reads row y + ky - 1, column x + kx - 1 as its (ky, x + kx) */
    for (int y = m + r; y < H - m - r; y++)
      conv3x3 (l, in + (gsize) (y - 1) * W + x0 - 1, plane, W, 0, 0, n,
          out + (gsize) y * W + x0, plane);
    return;
  }
  for (int oc = 0; oc < l->out_ch; oc++) {
    for (int y = m + r; y < H - m - r; y++) {
      float *o = out + oc * plane + (gsize) y * W + x0;
      for (int x = 0; x < n; x++)
        o[x] = l->bias[oc];
      for (int ic = 0; ic < l->in_ch; ic++) {
        const float *w = l->weight + ((gsize) oc * l->in_ch + ic) * k * k;
        for (int ky = 0; ky < k; ky++) {
          const float *row = in + ic * plane + (gsize) (y + ky - r) * W + x0 - r;
          for (int kx = 0; kx < k; kx++) {
            const float wv = w[ky * k + kx];
            const float *ip = row + kx;
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
}

/* Zero the part of [m, side - m) that lies outside the frame; (ox, oy) is the frame
 * position of buffer (0, 0). */
static void
zero_outside_frame (float *buf, int channels, int W, int H, int m, int ox, int oy,
    int frame_w, int frame_h)
{
  const gsize plane = (gsize) W * H;
  int in_x0 = CLAMP (-ox, m, W - m), in_x1 = CLAMP (frame_w - ox, m, W - m);
  for (int c = 0; c < channels; c++)
    for (int y = m; y < H - m; y++) {
      float *row = buf + c * plane + (gsize) y * W;
      if (oy + y < 0 || oy + y >= frame_h) {
        memset (row + m, 0, sizeof (float) * (W - 2 * m));
        continue;
      }
      for (int x = m; x < in_x0; x++)
        row[x] = 0.f;
      for (int x = MAX (in_x1, m); x < W - m; x++)
        row[x] = 0.f;
    }
}

void
sr_cpu_ref_run_tile (const SrModel *model, const SrPlane *src, SrPlane *dst, int x0, int y0,
    int w, int h, float *scratch, SrConvRowFn conv3x3, SrTailRowFn tail)
{
  const int R = sr_model_get_receptive_radius (model);
  const int W = w + 2 * R, H = h + 2 * R;
  const int ox = x0 - R, oy = y0 - R;
  const gsize plane = (gsize) W * H;
  float *input = scratch;
  float *bufs[2] = { input + plane, input + plane + plane * model->max_channels };

  /* samples to [0, 1] (8 bits: x 1/255 as before; wider: their own maximum) */
  const float in_scale = 1.f / sr_plane_max (src);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int fx = ox + x, fy = oy + y;
      gboolean inside = fx >= 0 && fx < src->width && fy >= 0 && fy < src->height;
      input[(gsize) y * W + x] = inside ? sr_plane_get (src, (gsize) fy * src->stride +
          (gsize) fx * src->pixel_stride) * in_scale : 0.f;
    }

  const float *in = input;
  int m = 0;
  for (int i = 0; i < model->n_layers; i++) {
    const SrLayer *l = &model->layers[i];
    float *out = bufs[i & 1];
    conv_layer (l, in, out, W, H, m, conv3x3);
    m += l->kernel / 2;
    if (i + 1 < model->n_layers)
      zero_outside_frame (out, l->out_ch, W, H, m, ox, oy, src->width, src->height);
    in = out;
  }

  /* m == R: `in` holds the 4 sub-pixel residuals (planar) on the tile; anchor, shuffle */
  for (int y = 0; y < h; y++)
    if (sr_plane_is_wide (dst))
      sr_cpu_tail_wide (in + (gsize) (y + R) * W + R, 1, plane, input + (gsize) (y + R) * W + R,
          w, dst, x0, y0 + y);
    else
      tail (in + (gsize) (y + R) * W + R, 1, plane, sr_cpu_pixel (src, x0, y0 + y),
          src->pixel_stride, w, sr_cpu_pixel (dst, 2 * x0, 2 * (y0 + y)),
          sr_cpu_pixel (dst, 2 * x0, 2 * (y0 + y) + 1), dst->pixel_stride);
}
