/* The bf16 conv row with AMX (built with -mamx-tile -mamx-bf16 -mavx512f -mavx512bw
 * -mavx512vl -mavx512bf16; called only when the CPU has AMX and the kernel lets this process
 * use it). For a layer of 16 input channels (one pixel = 32 bytes of bf16) a tile row of 64
 * bytes is two neighbouring pixels, i.e. the taps kx = 0 and 1 of a kernel row, whose weights
 * are the packed layout's 16 consecutive 64-byte rows; tap kx = 2 is a second, half-width
 * product. 16 pixels x 16 outputs per tile, 6 tdpbf16ps per 16 pixels. A one-channel layer
 * (the head) takes a kernel row per product: 12 bytes = 3 neighbouring pixels. The sums run in AMX's
 * order (even element of a pair first), not vdpbf16ps', so the results differ from the C
 * reference by rounding: tests/test-kernels.c states the tolerance. */
#include "sr-cpu-lowp.h"

#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct {
  guint8 palette, start_row;
  guint8 reserved[14];
  guint16 colsb[16];
  guint8 rows[16];
} __attribute__ ((packed)) TileConfig;

gboolean
sr_amx_request (void)
{
  static gsize done = 0;
  static gboolean ok = FALSE;
  if (g_once_init_enter (&done)) {
    ok = syscall (SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    g_once_init_leave (&done, 1);
  }
  return ok;
}

/* tmm0 sums 16 pixels x 16 outputs; tmm1/tmm2 the kx = 0, 1 product, tmm3/tmm4 kx = 2 (16
 * input channels); tmm5/tmm6 a whole kernel row of a one-channel layer (the luma: one word a
 * pixel, so 3 neighbouring pixels are the 3 taps) */
static void
load_config (void)
{
  TileConfig c = { .palette = 1 };
  c.colsb[0] = 64, c.rows[0] = 16;
  c.colsb[1] = 64, c.rows[1] = 16;
  c.colsb[2] = 64, c.rows[2] = 16;
  c.colsb[3] = 32, c.rows[3] = 16;
  c.colsb[4] = 64, c.rows[4] = 8;
  c.colsb[5] = 12, c.rows[5] = 16;
  c.colsb[6] = 64, c.rows[6] = 3;
  _tile_loadconfig (&c);
}

static inline void
store (const SrLowpLayer *l, __m512 acc, int x, gpointer out)
{
  if (l->last) {
    _mm512_mask_storeu_ps ((float *) out + (gsize) x * l->out_ch,
        (__mmask16) ((1u << l->out_ch) - 1), acc);
    return;
  }
  const __m256bh v = _mm512_cvtneps_pbh (_mm512_max_ps (acc, _mm512_setzero_ps ()));
  _mm256_mask_storeu_epi16 ((guint8 *) out + (gsize) x * l->out_stride,
      (__mmask16) ((1u << (l->out_stride / 2)) - 1), (__m256i) v);
}

gboolean
sr_bf16_amx_takes (const SrLowpLayer *l)
{
  return l->precision == SR_PRECISION_BF16 && (l->in_stride == 32 || l->in_stride == 4) &&
      l->blocks == 1;
}

/* Reads up to 18 pixels past the row's last output (the tile runner's scratch has the
 * slack); writes only the n outputs. */
void
sr_bf16_conv3x3_row_amx (const SrLowpLayer *l, const guint8 *in, gsize pitch, int n,
    gpointer out)
{
  if (!sr_bf16_amx_takes (l)) {
    sr_bf16_conv3x3_row_avx512 (l, in, pitch, n, out);
    return;
  }
  float bias[16][16], sums[16][16];
  for (int r = 0; r < 16; r++)
    memcpy (bias[r], l->bias, sizeof bias[r]);
  load_config ();
  for (int x = 0; x < n; x += 16) {
    _tile_loadd (0, bias, 64);
    for (int ky = 0; ky < 3; ky++) {
      const guint8 *row = in + ((gsize) ky * pitch + x) * l->in_stride;
      const guint8 *w = l->weight + (gsize) (3 * ky) * l->groups * 64;
      if (l->in_stride == 4) {
        _tile_loadd (5, row, 4);
        _tile_loadd (6, w, 64);
        _tile_dpbf16ps (0, 5, 6);
        continue;
      }
      _tile_loadd (1, row, 32);
      _tile_loadd (2, w, 64);
      _tile_dpbf16ps (0, 1, 2);
      _tile_loadd (3, row + 2 * 32, 32);
      _tile_loadd (4, w + 2 * 8 * 64, 64);
      _tile_dpbf16ps (0, 3, 4);
    }
    _tile_stored (0, sums, 64);
    for (int r = 0; r < MIN (16, n - x); r++)
      store (l, _mm512_loadu_ps (sums[r]), x + r, out);
  }
  _tile_release ();
}
