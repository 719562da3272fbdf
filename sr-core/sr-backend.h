/* The interface every backend implements; sr-engine.c picks one and checks arguments. */
#ifndef SR_BACKEND_H
#define SR_BACKEND_H

#include "sr-model-private.h"
#include "sr-resample-private.h"

typedef struct {
  SrBackendKind kind;
  /* automatic: chosen by AUTO, so a GPU backend must refuse software devices */
  gpointer (*create) (const SrModel *model, const SrEngineConfig *config, gboolean automatic,
      GError **error);
  /* src and dst are already checked: dst = scale x src. Fills stats except seconds. */
  /* fills stats->n_tiles (and, for the ghost net, its exit stats); the engine fills the rest */
  gboolean (*upscale_luma) (gpointer state, const SrPlane *src, SrPlane *dst,
      double exit_threshold, SrFrameStats *stats, GError **error);
  void (*destroy) (gpointer state);
  const char *(*device_name) (gpointer state);
  /* optional: the arithmetic the network runs in ("fp32", "bf16", "int16", "int8"); NULL: fp32 */
  const char *(*precision_name) (gpointer state);
  /* optional: run fn over [0, n_rows) in bands on the backend's CPU threads (the
   * resampler); without it, one call on the caller's thread */
  void (*run_rows) (gpointer state, int n_rows, void (*fn) (gpointer ctx, int y0, int y1),
      gpointer ctx);
  /* optional: sr_bicubic_x2 on the device; planes already checked */
  gboolean (*bicubic_x2) (gpointer state, const SrPlane *src, SrPlane *dst, GError **error);
  /* optional: upscale_luma, then its picture resampled to dst (any size) with plan's tables
   * on the device, in one pass: the network's picture never leaves it; 8-bit planes */
  gboolean (*upscale_luma_resampled) (gpointer state, const SrPlane *src, SrPlane *dst,
      const SrResamplePlan *plan, double exit_threshold, SrFrameStats *stats, GError **error);
  /* optional: sr_resample of 8-bit planes on the device, with the tables of `plan` (made by
   * the engine, so the filter is described once, in sr-resample.c); planes already checked */
  gboolean (*resample) (gpointer state, const SrPlane *src, SrPlane *dst,
      const SrResamplePlan *plan, GError **error);
  /* the working memory (host and device) it allocates for frames of that size, beyond
   * the frames themselves */
  guint64 (*frame_bytes) (gpointer state, int width, int height);
} SrBackendOps;

/* The tile side both GPU backends dispatch the plain net's convs over (the ghost net uses its
 * exit tile, from the model file). */
#define SR_GPU_PLAIN_TILE 32

extern const SrBackendOps sr_cpu_backend;
#ifdef HAVE_VULKAN
extern const SrBackendOps sr_vulkan_backend;
#endif
#ifdef HAVE_OPENCL
extern const SrBackendOps sr_opencl_backend;
#endif

#endif
