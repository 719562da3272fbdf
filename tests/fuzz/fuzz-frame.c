/* libFuzzer harness: the frame path (docs/reliability.md). The input picks a shipped model
 * and CPU precision, a format (the element's five), a frame size, row padding, pixel strides,
 * destination sizes (sometimes wrong on purpose) and an exit threshold; the rest are the
 * pixels. Every plane is allocated to exactly what its size and strides claim, so any read or
 * write past it is an ASan error; wrong sizes must give an error, never a crash. */
#include <sr-core/sr-core.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { PLAIN, PLAIN_FP32, GHOST, GHOST_FP32, INT8, N_ENGINES };

static SrModel *models[N_ENGINES];
static SrEngine *engines[N_ENGINES];

static SrEngine *
engine_for (int which)
{
  if (engines[which])
    return engines[which];
  const char *files[] = { SR_PLAIN_MODEL, SR_PLAIN_MODEL, SR_GHOST_MODEL, SR_GHOST_MODEL,
    SR_INT8_MODEL };
  gboolean fp32 = which == PLAIN_FP32 || which == GHOST_FP32;
  if (fp32)
    g_setenv ("SR_CPU_PRECISION", "fp32", TRUE);
  GError *error = NULL;
  models[which] = sr_model_load (files[which], &error);
  if (!models[which])
    g_error ("%s", error->message);
  /* one thread: libFuzzer wants each input to run the same way; 16-pixel tiles cut even
   * small frames into several */
  SrEngineConfig config = { SR_BACKEND_CPU, 1, 16, NULL };
  engines[which] = sr_engine_new (models[which], &config, &error);
  if (!engines[which])
    g_error ("%s", error->message);
  g_unsetenv ("SR_CPU_PRECISION");
  return engines[which];
}

typedef struct {
  const uint8_t *data;
  size_t size, at;
} Input;

static int
take (Input *in, int range)
{
  return in->at < in->size ? in->data[in->at++] % range : 0;
}

/* A plane of w x h with `pad` extra bytes per row and pixel stride ps, filled from the input
 * (cycled); allocated to exactly (h - 1) * stride + (w - 1) * ps + 1 bytes. */
static SrPlane
plane_new (Input *in, int w, int h, int pad, int ps)
{
  SrPlane p = { NULL, w, h, (gsize) (w - 1) * ps + 1 + pad, ps };
  gsize bytes = (gsize) (h - 1) * p.stride + (gsize) (w - 1) * ps + 1;
  p.data = malloc (bytes);
  for (gsize i = 0; i < bytes; i++)
    p.data[i] = in->at < in->size ? in->data[in->at + i % (in->size - in->at)] : (uint8_t) i;
  return p;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Input in = { data, size, 0 };
  SrEngine *engine = engine_for (take (&in, N_ENGINES));
  /* I420, NV12, Y42B, Y444, GRAY8: chroma subsampling and pixel stride */
  static const int sub_x[] = { 2, 2, 2, 1, 0 }, sub_y[] = { 2, 2, 1, 1, 0 }, chroma_ps[] = {
    1, 2, 1, 1, 0 };
  int format = take (&in, 5);
  int w = 1 + take (&in, 48), h = 1 + take (&in, 40);
  int pad = take (&in, 4), ps = take (&in, 8) == 0 ? 2 : 1;
  /* one input in 16 asks for a wrong destination size */
  int dw = 2 * w, dh = 2 * h;
  if (take (&in, 16) == 0) {
    dw += take (&in, 5) - 2;
    dh += take (&in, 5) - 2;
  }
  sr_engine_set_exit_threshold (engine, take (&in, 8) * 0.05);
  SrPlane src = plane_new (&in, w, h, pad, ps);
  SrPlane dst = plane_new (&in, MAX (dw, 1), MAX (dh, 1), take (&in, 4), 1);
  GError *error = NULL;
  gboolean ok = sr_engine_upscale_luma (engine, &src, &dst, &error);
  if (ok != (dw == 2 * w && dh == 2 * h) || ok != (error == NULL))
    __builtin_trap (); /* right sizes must work, wrong ones must fail with an error */
  g_clear_error (&error);
  free (src.data);
  free (dst.data);

  if (sub_x[format]) {
    /* the chroma of a w x h frame and of its 2w x 2h upscale, as GStreamer sizes them */
    int cw = (w + sub_x[format] - 1) / sub_x[format], ch = (h + sub_y[format] - 1) / sub_y[format];
    int ow = (2 * w + sub_x[format] - 1) / sub_x[format], oh = (2 * h + sub_y[format] - 1) / sub_y[format];
    int cps = chroma_ps[format];
    SrPlane csrc = plane_new (&in, cw, ch, take (&in, 4), cps);
    SrPlane cdst = plane_new (&in, ow, oh, take (&in, 4), cps);
    if (!sr_engine_bicubic_x2 (engine, &csrc, &cdst, &error))
      __builtin_trap (); /* every format's chroma sizes are valid */
    free (csrc.data);
    free (cdst.data);
  }
  return 0;
}
