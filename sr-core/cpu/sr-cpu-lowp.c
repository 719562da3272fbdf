/* The low-precision layers: their packing and the C reference kernels (the executor,
 * sr-cpu-net.c, runs them). */
#include "sr-cpu-lowp.h"

#include <math.h>
#include <string.h>

/* Levels of activations and of weights (either sign) of the integer formats. The int16 ones
 * keep 144 products per 16 input channels far from overflowing 32 bits. */
static int
activation_levels (SrPrecision precision)
{
  return precision == SR_PRECISION_INT8 ? 255 : SR_INT16_LEVELS;
}

static int
weight_levels (SrPrecision precision)
{
  return precision == SR_PRECISION_INT8 ? 127 : SR_INT16_WEIGHT_LEVELS;
}

gboolean
sr_lowp_sums_fit (SrPrecision precision, int in_ch)
{
  return precision == SR_PRECISION_BF16 ||
      (double) in_ch * 9 * activation_levels (precision) * weight_levels (precision) < G_MAXINT32;
}

void
sr_lowp_layer_init (SrLowpLayer *l, SrPrecision precision, const SrLayer *src, float in_scale,
    float out_scale, gboolean last)
{
  const int per_word = precision == SR_PRECISION_INT8 ? 4 : 2, bytes = 4 / per_word;
  const gboolean integer = precision != SR_PRECISION_BF16;
  memset (l, 0, sizeof *l);
  l->precision = precision;
  l->in_ch = src->in_ch;
  l->out_ch = src->out_ch;
  l->in_stride = (src->in_ch + per_word - 1) / per_word * 4;
  l->out_stride = (src->out_ch + per_word - 1) / per_word * 4;
  l->groups = l->in_stride / 4;
  l->blocks = (src->out_ch + 15) / 16;
  l->last = last;
  l->out_inv_scale = last || !integer ? 0.f : 1.f / out_scale;
  l->out_max = integer ? activation_levels (precision) : 0;
  l->weight = g_malloc0 ((gsize) l->blocks * 9 * l->groups * 64);
  l->mul = g_new0 (float, l->blocks * 16);
  l->bias = g_new0 (float, l->blocks * 16);
  for (int oc = 0; oc < src->out_ch; oc++) {
    const float *w = src->weight + (gsize) oc * src->in_ch * 9;
    float ws = 1.f;
    const int wl = integer ? weight_levels (precision) : 0;
    if (integer) {
      float max = 0.f;
      for (int i = 0; i < src->in_ch * 9; i++)
        max = MAX (max, fabsf (w[i]));
      ws = max > 0.f ? max / wl : 1.f;
      l->mul[oc] = in_scale * ws;
    }
    l->bias[oc] = src->bias[oc];
    int b = oc / 16, o = oc % 16;
    for (int ic = 0; ic < src->in_ch; ic++)
      for (int t = 0; t < 9; t++) {
        guint8 *word = l->weight + (((gsize) b * 9 + t) * l->groups + ic / per_word) * 64 + o * 4;
        if (precision == SR_PRECISION_INT8) {
          word[ic % 4] = (guint8) (gint8) CLAMP (lrintf (w[ic * 9 + t] / ws), -wl, wl);
        } else if (precision == SR_PRECISION_INT16) {
          gint16 v = CLAMP (lrintf (w[ic * 9 + t] / ws), -wl, wl);
          memcpy (word + (ic % 2) * bytes, &v, 2);
        } else {
          guint16 v = sr_bf16_from_float (w[ic * 9 + t] * in_scale);
          memcpy (word + (ic % 2) * bytes, &v, 2);
        }
      }
  }
  /* the most words a broadcast brings (the fewest broadcasts) that leave at most two
   * registers of sums a pixel */
  for (int k = 8; integer && src->out_ch <= 8 && k >= 2 && !l->k_words; k /= 2)
    if (l->groups % k == 0 && src->out_ch * k <= 32) {
      l->k_words = k;
      l->k_zmms = (src->out_ch * k + 15) / 16;
    }
  if (l->k_words) {
    const int k = l->k_words, h = l->k_zmms, per = 16 / k, quads = l->groups / k;
    l->weight_k = g_malloc0 ((gsize) 9 * quads * h * 64);
    for (int t = 0; t < 9; t++)
      for (int q = 0; q < quads; q++)
        for (int o = 0; o < src->out_ch; o++)
          for (int j = 0; j < k; j++)
            memcpy (l->weight_k + (((gsize) (t * quads + q) * h + o / per) * 16 + o % per * k +
                j) * 4, l->weight + ((gsize) t * l->groups + q * k + j) * 64 + o * 4, 4);
  }
}

void
sr_lowp_layer_clear (SrLowpLayer *l)
{
  g_free (l->weight);
  g_free (l->weight_k);
  g_free (l->mul);
  g_free (l->bias);
}

/* int8/16: requantise one pixel's 16 sums of output block b */
static inline void
integer_store (const SrLowpLayer *l, const gint32 *acc, int b, int x, gpointer out)
{
  const int bytes = l->precision == SR_PRECISION_INT8 ? 1 : 2;
  for (int o = 0; o < 16; o++) {
    int oc = b * 16 + o;
    float v = fmaf ((float) acc[o], l->mul[oc], l->bias[oc]);
    if (l->last) {
      if (oc < l->out_ch)
        ((float *) out)[(gsize) x * l->out_ch + oc] = v;
    } else if (oc * bytes < l->out_stride) {
      v = v > 0.f ? v : 0.f;
      long q = CLAMP (lrintf (v * l->out_inv_scale), 0, l->out_max);
      guint8 *dst = (guint8 *) out + (gsize) x * l->out_stride + oc * bytes;
      if (bytes == 1) {
        *dst = q;
      } else {
        gint16 s = q;
        memcpy (dst, &s, 2);
      }
    }
  }
}

void
sr_int8_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out)
{
  for (int x = 0; x < n; x++)
    for (int b = 0; b < l->blocks; b++) {
      gint32 acc[16] = { 0 };
      const gint8 *w = (const gint8 *) l->weight + (gsize) b * 9 * l->groups * 64;
      for (int t = 0; t < 9; t++) {
        const guint8 *p = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;
        for (int g = 0; g < l->groups; g++, w += 64)
          for (int o = 0; o < 16; o++)
            for (int i = 0; i < 4; i++)
              acc[o] += p[g * 4 + i] * w[o * 4 + i];
      }
      integer_store (l, acc, b, x, out);
    }
}

void
sr_int16_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  for (int x = 0; x < n; x++)
    for (int b = 0; b < l->blocks; b++) {
      gint32 acc[16] = { 0 };
      const guint8 *w = l->weight + (gsize) b * 9 * l->groups * 64;
      for (int t = 0; t < 9; t++) {
        const guint8 *p = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;
        for (int g = 0; g < l->groups; g++, w += 64)
          for (int o = 0; o < 16; o++)
            for (int i = 0; i < 2; i++) {
              gint16 a, c;
              memcpy (&a, p + g * 4 + 2 * i, 2);
              memcpy (&c, w + o * 4 + 2 * i, 2);
              acc[o] += a * c;
            }
      }
      integer_store (l, acc, b, x, out);
    }
}

static inline float
bf16_at (const guint8 *p)
{
  guint16 v;
  memcpy (&v, p, 2);
  return sr_bf16_to_float (v);
}

void
sr_bf16_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n, gpointer out)
{
  for (int x = 0; x < n; x++)
    for (int b = 0; b < l->blocks; b++) {
      float acc[16];
      memcpy (acc, l->bias + b * 16, sizeof acc);
      const guint8 *w = l->weight + (gsize) b * 9 * l->groups * 64;
      for (int t = 0; t < 9; t++) {
        const guint8 *p = in + ((t / 3) * pitch + x + t % 3) * l->in_stride;
        for (int g = 0; g < l->groups; g++, w += 64)
          for (int o = 0; o < 16; o++) {
            /* the products are exact; the two sums round as vdpbf16ps' do, odd first */
            acc[o] += bf16_at (w + o * 4 + 2) * bf16_at (p + g * 4 + 2);
            acc[o] += bf16_at (w + o * 4) * bf16_at (p + g * 4);
          }
      }
      for (int o = 0; o < 16; o++) {
        int oc = b * 16 + o;
        if (l->last) {
          if (oc < l->out_ch)
            ((float *) out)[(gsize) x * l->out_ch + oc] = acc[o];
        } else if (oc * 2 < l->out_stride) {
          guint16 v = sr_bf16_from_float (acc[o] > 0.f ? acc[o] : 0.f);
          memcpy ((guint8 *) out + (gsize) x * l->out_stride + oc * 2, &v, 2);
        }
      }
    }
}

void
sr_ghost_add_shift (SrGhostAdd *add, gssize offset, int c)
{
  int i = 0;
  while (i < add->n && add->offset[i] != offset)
    i++;
  if (i == add->n) {
    add->offset[i] = offset;
    add->lanes[add->n++] = 0;
  }
  add->lanes[i] |= 1u << c;
}

/* word c of a pixel's 16-bit words as a float: bf16 widened, int16 levels scaled */
static inline float
ghost_word (SrPrecision precision, const guint8 *p, int c, float scale)
{
  if (precision == SR_PRECISION_BF16)
    return bf16_at (p + 2 * c);
  gint16 q;
  memcpy (&q, p + 2 * c, 2);
  return q * scale;
}

static inline void
ghost_add_row (SrPrecision precision, float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n)
{
  const float s = add->intr_scale;
  for (int x = 0; x < n; x++, feat += 16, feat_b += 32, intr += 16) {
    for (int c = 0; c < 8; c++)
      feat[c] += ghost_word (precision, intr, c, s);
    for (int i = 0; i < add->n; i++)
      for (int c = 0; c < 8; c++)
        if (add->lanes[i] & (1u << c))
          feat[8 + c] += ghost_word (precision, intr + add->offset[i], c, s);
    for (int c = 0; c < 16; c++) {
      guint16 v;
      if (precision == SR_PRECISION_BF16)
        v = sr_bf16_from_float (feat[c]);
      else
        v = (gint16) lrintf (CLAMP (feat[c] * add->feat_inv_scale, 0.f, SR_INT16_LEVELS));
      memcpy (feat_b + 2 * c, &v, 2);
    }
  }
}

void
sr_ghost_add_row_bf16_c (float *feat, guint8 *feat_b, const guint8 *intr, const SrGhostAdd *add,
    int n)
{
  ghost_add_row (SR_PRECISION_BF16, feat, feat_b, intr, add, n);
}

void
sr_ghost_add_row_int16_c (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n)
{
  ghost_add_row (SR_PRECISION_INT16, feat, feat_b, intr, add, n);
}
