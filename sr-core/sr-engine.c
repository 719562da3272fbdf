/* The engine: picks a backend and checks every plane before handing it over. */
#include "sr-backend.h"
#include "sr-plane-private.h"
#include "sr-resample-private.h"

struct _SrEngine {
  const SrModel *model;
  const SrBackendOps *ops;
  gpointer state;
  double exit_threshold;
  SrFrameStats stats;
  char *fallback_note;
};

/* In the order `auto` tries them. */
static const SrBackendOps *const backends[] = {
#ifdef HAVE_VULKAN
  &sr_vulkan_backend,
#endif
#ifdef HAVE_OPENCL
  &sr_opencl_backend,
#endif
  &sr_cpu_backend,
};

const char *
sr_backend_kind_name (SrBackendKind kind)
{
  switch (kind) {
    case SR_BACKEND_AUTO: return "auto";
    case SR_BACKEND_CPU: return "cpu";
    case SR_BACKEND_VULKAN: return "vulkan";
    case SR_BACKEND_OPENCL: return "opencl";
  }
  return "unknown";
}

static const SrBackendOps *
find_backend (SrBackendKind kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    if (backends[i]->kind == kind)
      return backends[i];
  return NULL;
}

gboolean
sr_backend_is_built (SrBackendKind kind)
{
  return kind == SR_BACKEND_AUTO || find_backend (kind) != NULL;
}

SrEngine *
sr_engine_new (const SrModel *model, const SrEngineConfig *config, GError **error)
{
  SrEngineConfig defaults = { SR_BACKEND_AUTO, 0, 0, NULL };
  if (!config)
    config = &defaults;
  if (config->tile_size < 0 || config->n_threads < 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "tile size and thread count must be >= 0");
    return NULL;
  }
  SrEngine *engine = g_new0 (SrEngine, 1);
  engine->model = model;
  if (config->backend != SR_BACKEND_AUTO) {
    engine->ops = find_backend (config->backend);
    if (!engine->ops) {
      g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "the %s backend is not built in",
          sr_backend_kind_name (config->backend));
      g_free (engine);
      return NULL;
    }
    engine->state = engine->ops->create (model, config, FALSE, error);
  } else {
    /* try each in turn, noting why the ones before the winner did not start */
    GString *note = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (backends) && !engine->state; i++) {
      GError *failure = NULL;
      engine->ops = backends[i];
      engine->state = engine->ops->create (model, config, TRUE, &failure);
      if (!engine->state) {
        g_debug ("sr-core: %s backend failed to start: %s",
            sr_backend_kind_name (backends[i]->kind), failure->message);
        if (!g_error_matches (failure, SR_ERROR, SR_ERROR_NO_DEVICE))
          g_string_append_printf (note, "%s%s", note->len ? "; " : "", failure->message);
        if (i + 1 == G_N_ELEMENTS (backends))
          g_propagate_error (error, failure);
        else
          g_error_free (failure);
      }
    }
    engine->fallback_note = note->len ? g_string_free (note, FALSE) : NULL;
    if (!engine->fallback_note)
      g_string_free (note, TRUE);
  }
  if (!engine->state) {
    g_free (engine->fallback_note);
    g_free (engine);
    return NULL;
  }
  g_debug ("sr-core: using the %s backend", sr_backend_kind_name (engine->ops->kind));
  return engine;
}

void
sr_engine_free (SrEngine *engine)
{
  if (!engine)
    return;
  engine->ops->destroy (engine->state);
  g_free (engine->fallback_note);
  g_free (engine);
}

const char *
sr_engine_get_device_name (const SrEngine *engine)
{
  return engine->ops->device_name (engine->state);
}

const char *
sr_engine_get_precision (const SrEngine *engine)
{
  return engine->ops->precision_name ? engine->ops->precision_name (engine->state) : "fp32";
}

const char *
sr_engine_get_fallback_note (const SrEngine *engine)
{
  return engine->fallback_note;
}

SrBackendKind
sr_engine_get_backend (const SrEngine *engine)
{
  return engine->ops->kind;
}

gboolean
sr_engine_upscale_luma (SrEngine *engine, const SrPlane *src, SrPlane *dst, GError **error)
{
  if (!sr_plane_check (src, "source", error) || !sr_plane_check (dst, "destination", error))
    return FALSE;
  if (!sr_planes_same_samples (src, dst, error))
    return FALSE;
  if (sr_plane_is_wide (src) && engine->ops->kind != SR_BACKEND_CPU) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "the %s backend takes 8-bit planes only; "
        "%d-bit video runs on the cpu backend", sr_backend_kind_name (engine->ops->kind),
        src->bits);
    return FALSE;
  }
  const int s = engine->model->scale;
  if (dst->width != src->width * s || dst->height != src->height * s) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "destination %dx%d is not %dx the source %dx%d",
        dst->width, dst->height, s, src->width, src->height);
    return FALSE;
  }
  SrFrameStats stats = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok = engine->ops->upscale_luma (engine->state, src, dst, engine->exit_threshold,
      &stats, error);
  stats.seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (ok && engine->model->type != SR_ARCH_GHOST_EXIT) /* every pixel runs the whole plain net */
    stats.macs_per_pixel = stats.macs_per_pixel_full = sr_model_get_macs_per_pixel (engine->model);
  if (ok)
    engine->stats = stats;
  return ok;
}

gboolean
sr_engine_bicubic_x2 (SrEngine *engine, const SrPlane *src, SrPlane *dst, GError **error)
{
  /* the GPU backends' bicubic takes bytes: wider samples are done here */
  if (!engine->ops->bicubic_x2 || (src && sr_plane_is_wide (src) &&
          engine->ops->kind != SR_BACKEND_CPU))
    return sr_bicubic_x2 (src, dst, error);
  if (!sr_bicubic_x2_check (src, dst, error))
    return FALSE;
  return engine->ops->bicubic_x2 (engine->state, src, dst, error);
}

typedef struct {
  SrResamplePlan plan;
  const SrPlane *src;
  SrPlane *dst;
} ResampleJob;

static void
resample_band (gpointer ctx, int y0, int y1)
{
  ResampleJob *job = ctx;
  sr_resample_rows (&job->plan, job->src, job->dst, y0, y1);
}

gboolean
sr_engine_resample (SrEngine *engine, const SrPlane *src, SrPlane *dst, GError **error)
{
  if (!sr_resample_check (src, dst, error))
    return FALSE;
  ResampleJob job = { .src = src, .dst = dst };
  sr_resample_plan_best (&job.plan, src, dst);
  if (engine->ops->run_rows)
    engine->ops->run_rows (engine->state, dst->height, resample_band, &job);
  else
    resample_band (&job, 0, dst->height);
  sr_resample_plan_clear (&job.plan);
  return TRUE;
}

void
sr_engine_set_exit_threshold (SrEngine *engine, double threshold_db)
{
  engine->exit_threshold = MAX (threshold_db, 0.0);
}

double
sr_engine_get_exit_threshold (const SrEngine *engine)
{
  return engine->exit_threshold;
}

void
sr_engine_get_stats (const SrEngine *engine, SrFrameStats *stats)
{
  *stats = engine->stats;
}
