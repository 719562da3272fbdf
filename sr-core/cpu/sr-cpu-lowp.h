/* The nets in low precision, for models whose file says which one keeps quality
 * (models/train/choose_precision.py): int8 or int16 with AVX-512 VNNI, bf16 with AVX-512
 * BF16.
 *
 * Activations are pixel-major: each pixel's channels are consecutive, padded to whole
 * 32-bit words (4 x u8, 2 x s16 or 2 x bf16: what one vpdpbusd / vpdpwssd / vdpbf16ps lane
 * reads), so a word of activations is broadcast against 16 output channels' weights.
 * - int8 / int16: non-negative activations (every layer's input is a ReLU output or the
 *   8-bit luma) of 8 / 12 bits, value = q * scale with one scale per layer input (the
 *   calibrated maximum / 255 or 4095; the luma's is 1/255); weights of 8 / 10 bits with one
 *   scale per output channel. Sums are exact in 32 bits, then v = fmaf (acc, in_scale *
 *   w_scale[oc], bias[oc]), ReLU, q = rint (v / out_scale) clamped to the levels. int16
 *   keeps PSNR within 0.02 dB of fp32 on every clip; int8 loses 0.07-0.15 dB.
 * - bf16: products are exact in fp32 and summed in vdpbf16ps' order (the odd element of a
 *   pair first), from the bias; ReLU outputs round to bf16 (nearest even). The luma enters
 *   as its integer value (exact in bf16) with 1/255 folded into the first layer's weights.
 * The last layer keeps its fp32 result as the residual. Each step is exact or one IEEE
 * rounding, so the SIMD kernels equal their C references bit for bit. */
#ifndef SR_CPU_LOWP_H
#define SR_CPU_LOWP_H

#include "sr-cpu-kernels.h"

#include <string.h>

typedef struct {
  SrPrecision precision;      /* bf16, int16 or int8 */
  int in_ch, out_ch;
  int in_stride, out_stride;  /* bytes per pixel: whole 32-bit words of channels */
  int groups;                 /* words per input pixel */
  int blocks;                 /* output channels in blocks of 16 */
  guint8 *weight;             /* [block][tap 0..8][group][16 outputs][one word] */
  float *mul, *bias;          /* [blocks * 16], zero past out_ch; mul: int8 only */
  float out_inv_scale;        /* int8/16: 1 / the next layer's input scale */
  int out_max;                /* int8/16: the largest activation level */
  gboolean last;              /* fp32 output, no ReLU */
  /* int8/16 layers of at most 8 outputs: the same weights for the rows that sum k_words
   * words of a pixel per dot product in each of k_zmms zmm of 16 / k_words outputs (AVX-512
   * VNNI; the 256-bit rows' tails, k_words 8, as four ymm), packed once here so that the rows
   * load them as they are: [tap 0..8][groups / k_words][k_zmms][16 / k_words outputs]
   * [k_words words]. Else NULL, 0. */
  int k_words, k_zmms;
  guint8 *weight_k;
} SrLowpLayer;

/* One row: n output pixels from `in`, which points at the input pixel up and left of the
 * first one (rows `pitch` pixels apart). Writes out_stride bytes per pixel, or for the
 * last layer out_ch floats per pixel. */
typedef void (*SrLowpRowFn) (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);

void sr_int8_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_int8_conv3x3_row_vnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_int8_conv3x3_row_avxvnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_int16_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_int16_conv3x3_row_vnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
/* 256-bit int16 rows for CPUs without AVX-512: vpmaddwd + vpaddd (AVX2), vpdpwssd (AVX-VNNI) */
void sr_int16_conv3x3_row_avx2 (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_int16_conv3x3_row_avxvnni (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_bf16_conv3x3_row_c (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
void sr_bf16_conv3x3_row_avx512 (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);

/* AMX: bf16 rows of layers with 16 input channels and at most 16 outputs (others go to the
 * AVX-512 kernel); reads up to 17 pixels past a row (the executor's rings have the slack). */
void sr_bf16_conv3x3_row_amx (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out);
gboolean sr_bf16_amx_takes (const SrLowpLayer *l);
/* Asks the kernel for the AMX tile state (once per process); FALSE if refused. */
gboolean sr_amx_request (void);

/* The ghost net's residual add in its low-precision paths (sr-cpu-net.c), for 16 channels:
 * the block's 8 intrinsic maps and their 8 shifted copies. The shifted copies are read from
 * the neighbouring pixels by groups: all channels shifted the same way come from one pixel. */
typedef struct {
  int n;              /* distinct directions among the 8 channels */
  gssize offset[9];   /* bytes from a pixel's intrinsic maps to those of the pixel it reads */
  guint8 lanes[9];    /* bit c: channel c reads there */
  float intr_scale;   /* int16: what one level of the intrinsic maps is worth */
  float feat_inv_scale; /* int16: levels of feat_b per unit of feat (1 / its scale) */
} SrGhostAdd;

/* Channel c (< 8) reads its shifted copy `offset` bytes away: joins that direction's group. */
void sr_ghost_add_shift (SrGhostAdd *add, gssize offset, int c);

/* n pixels: feat[c] += intr[c], feat[8 + c] += the neighbour's intr[c] (c < 8), then feat_b
 * = feat in the next conv's format. Pixel-major: feat 16 floats, feat_b 16 and intr 8 words
 * of 16 bits a pixel (32 and 16 bytes).
 * - bf16: intr widened exactly; feat_b rounded to bf16 (nearest even).
 * - int16: intr levels times intr_scale (one rounding); feat_b = rint (feat *
 *   feat_inv_scale) clamped to 0..SR_INT16_LEVELS (in float, before rounding).
 * Each step is one IEEE rounding: the SIMD kernels equal the C ones bit for bit. */
typedef void (*SrGhostAddFn) (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n);
void sr_ghost_add_row_bf16_c (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n);
void sr_ghost_add_row_bf16_avx512 (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n);
void sr_ghost_add_row_int16_c (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n);
void sr_ghost_add_row_int16_avx2 (float *feat, guint8 *feat_b, const guint8 *intr,
    const SrGhostAdd *add, int n);

/* The levels of int16 activations (12 bits), and of its weights (10 bits, either sign). */
#define SR_INT16_LEVELS 4095
#define SR_INT16_WEIGHT_LEVELS 511

/* Whether a layer of in_ch inputs keeps every sum of products within 32 bits in `precision`
 * (always for bf16). */
gboolean sr_lowp_sums_fit (SrPrecision precision, int in_ch);

/* fp32 to bf16, rounding to nearest even (as vcvtneps2bf16), and back; inline, as the ghost
 * path converts every residual value */
static inline guint16
sr_bf16_from_float (float f)
{
  guint32 bits;
  memcpy (&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) /* NaN stays NaN */
    return (bits >> 16) | 0x40;
  return (bits + 0x7fff + ((bits >> 16) & 1)) >> 16;
}

static inline float
sr_bf16_to_float (guint16 b)
{
  guint32 bits = (guint32) b << 16;
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

/* Packs one layer as the net does (tests use it too). in_scale: what one unit of the input
 * is worth (1/255 for the luma); out_scale: int8/16 only, the next layer's input scale. */
void sr_lowp_layer_init (SrLowpLayer *l, SrPrecision precision, const SrLayer *src,
    float in_scale, float out_scale, gboolean last);
void sr_lowp_layer_clear (SrLowpLayer *l);

#endif
