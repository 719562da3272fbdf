/* The engine: picks a backend and checks every plane before handing it over. A GPU backend
 * that fails on a frame is replaced by the CPU backend, which redoes that frame. */
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
  guint64 max_frame_memory;
  SrEngineConfig config;  /* for the CPU backend a failover makes (device not kept) */
  char *failover_note;    /* why the GPU backend was dropped, until taken */
  gint64 gpu_frames;      /* luma frames given to a GPU backend */
  gint64 fail_at;         /* $SR_FAULT_GPU_FRAME: the GPU frame that fails on purpose; -1 */
  guint8 *x2;             /* the network's picture before resampling, where no backend op */
  gsize x2_size;          /* takes both in one pass */
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

void
sr_engine_config_init (SrEngineConfig *config)
{
  g_return_if_fail (config != NULL);
  *config = (SrEngineConfig) { .backend = SR_BACKEND_AUTO };
}

SrEngine *
sr_engine_new (const SrModel *model, const SrEngineConfig *config, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  SrEngineConfig defaults;
  sr_engine_config_init (&defaults);
  if (!config)
    config = &defaults;
  if (config->tile_size < 0 || config->n_threads < 0) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "tile size and thread count must be >= 0");
    return NULL;
  }
  for (guint i = 0; i < G_N_ELEMENTS (config->reserved); i++)
    if (config->reserved[i]) {
      g_set_error (error, SR_ERROR, SR_ERROR_INVALID,
          "the engine config's reserved fields are not zero (use sr_engine_config_init)");
      return NULL;
    }
  SrEngine *engine = g_new0 (SrEngine, 1);
  engine->model = model;
  engine->config = *config;
  engine->config.device = NULL;
  const char *fault = g_getenv ("SR_FAULT_GPU_FRAME");
  engine->fail_at = fault ? g_ascii_strtoll (fault, NULL, 10) : -1;
  const char *bound = g_getenv ("SR_MAX_FRAME_MEMORY");
  engine->max_frame_memory = bound ? g_ascii_strtoull (bound, NULL, 10) << 20 : SR_MAX_FRAME_MEMORY;
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
  g_free (engine->failover_note);
  g_free (engine->x2);
  g_free (engine);
}

const char *
sr_engine_get_device_name (const SrEngine *engine)
{
  g_return_val_if_fail (engine != NULL, NULL);
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
  g_return_val_if_fail (engine != NULL, NULL);
  return engine->fallback_note;
}

SrBackendKind
sr_engine_get_backend (const SrEngine *engine)
{
  g_return_val_if_fail (engine != NULL, SR_BACKEND_AUTO);
  return engine->ops->kind;
}

/* After a GPU backend failed with `failure` (consumed): the CPU backend replaces it; TRUE if
 * the frame should be redone there. Bad arguments are not the device's fault and fail as
 * they are, as does any failure on the CPU. */
static gboolean
fail_over (SrEngine *engine, GError *failure, GError **error)
{
  if (engine->ops->kind == SR_BACKEND_CPU || g_error_matches (failure, SR_ERROR, SR_ERROR_INVALID)) {
    g_propagate_error (error, failure);
    return FALSE;
  }
  GError *cpu_error = NULL;
  gpointer cpu = sr_cpu_backend.create (engine->model, &engine->config, FALSE, &cpu_error);
  if (!cpu) {
    g_propagate_prefixed_error (error, failure, "%s (and the cpu backend could not start: %s): ",
        sr_backend_kind_name (engine->ops->kind), cpu_error->message);
    g_error_free (cpu_error);
    return FALSE;
  }
  g_free (engine->failover_note);
  engine->failover_note = g_strdup_printf ("the %s backend failed on %s: %s; the cpu backend "
      "runs from this frame on", sr_backend_kind_name (engine->ops->kind),
      engine->ops->device_name (engine->state), failure->message);
  g_debug ("sr-core: %s", engine->failover_note);
  g_error_free (failure);
  engine->ops->destroy (engine->state);
  engine->ops = &sr_cpu_backend;
  engine->state = cpu;
  return TRUE;
}

char *
sr_engine_take_failover_note (SrEngine *engine)
{
  return g_steal_pointer (&engine->failover_note);
}

/* The GPU frame $SR_FAULT_GPU_FRAME names fails as a lost device would (fault injection
 * for the failover tests). */
static gboolean
injected_fault (SrEngine *engine, GError **error)
{
  if (engine->ops->kind == SR_BACKEND_CPU || engine->gpu_frames++ != engine->fail_at)
    return FALSE;
  g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "injected fault at GPU frame %" G_GINT64_FORMAT
      " (SR_FAULT_GPU_FRAME)", engine->fail_at);
  return TRUE;
}

gboolean
sr_engine_check_frame_size (const SrEngine *engine, int width, int height, GError **error)
{
  guint64 bytes = engine->ops->frame_bytes ? engine->ops->frame_bytes (engine->state, width,
      height) : 0;
  if (bytes <= engine->max_frame_memory)
    return TRUE;
  g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "a %dx%d frame needs %" G_GUINT64_FORMAT
      " MiB of working memory on the %s backend, more than the %" G_GUINT64_FORMAT " MiB limit",
      width, height, bytes >> 20, sr_backend_kind_name (engine->ops->kind),
      engine->max_frame_memory >> 20);
  return FALSE;
}

/* The planes a luma upscale takes, whatever dst's size. */
static gboolean
check_luma (SrEngine *engine, const SrPlane *src, const SrPlane *dst, GError **error)
{
  if (!sr_plane_check (src, "source", error) || !sr_plane_check (dst, "destination", error))
    return FALSE;
  return sr_planes_same_samples (src, dst, error);
}

/* The network on the backend, resampled there to dst with plan's tables when plan is not
 * NULL (a backend with upscale_luma_resampled). A failure without a plan fails over to the
 * CPU and redoes the frame; with one it is left in `failure` for the caller to do so. */
static gboolean
run_network (SrEngine *engine, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    GError **failure, GError **error)
{
  SrFrameStats stats = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  gboolean ok;
  do { /* the size is checked again on the backend a failover brings */
    ok = sr_engine_check_frame_size (engine, src->width, src->height, failure) &&
        !injected_fault (engine, failure) && (plan ?
        engine->ops->upscale_luma_resampled (engine->state, src, dst, plan,
            engine->exit_threshold, &stats, failure) :
        engine->ops->upscale_luma (engine->state, src, dst, engine->exit_threshold, &stats,
            failure));
  } while (!ok && !plan && fail_over (engine, g_steal_pointer (failure), error));
  stats.seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (ok && !engine->model->exits.n_blocks) /* every pixel runs the whole net */
    stats.macs_per_pixel = stats.macs_per_pixel_full = sr_model_get_macs_per_pixel (engine->model);
  if (ok)
    engine->stats = stats;
  return ok;
}

gboolean
sr_engine_upscale_luma (SrEngine *engine, const SrPlane *src, SrPlane *dst, GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (src != NULL, FALSE);
  g_return_val_if_fail (dst != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_luma (engine, src, dst, error))
    return FALSE;
  const int s = engine->model->scale;
  if (dst->width != src->width * s || dst->height != src->height * s) {
    g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "destination %dx%d is not %dx the source %dx%d",
        dst->width, dst->height, s, src->width, src->height);
    return FALSE;
  }
  GError *failure = NULL;
  return run_network (engine, src, dst, NULL, &failure, error);
}

gboolean
sr_engine_upscale_luma_resampled (SrEngine *engine, const SrPlane *src, SrPlane *dst,
    GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (src != NULL, FALSE);
  g_return_val_if_fail (dst != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_luma (engine, src, dst, error) || !sr_resample_check (src, dst, error))
    return FALSE;
  const int s = engine->model->scale, sample = sr_plane_is_wide (src) ? 2 : 1;
  SrPlane x2 = { NULL, s * src->width, s * src->height, (gsize) s * src->width * sample, sample,
    src->bits, src->shift };
  if (dst->width == x2.width && dst->height == x2.height)
    return sr_engine_upscale_luma (engine, src, dst, error);
  /* before anything of that size is allocated */
  if (!sr_engine_check_frame_size (engine, src->width, src->height, error))
    return FALSE;
  if (engine->ops->upscale_luma_resampled && !sr_plane_is_wide (src)) {
    /* one pass on the device: the network's picture never comes back to the host */
    SrResamplePlan plan;
    sr_resample_plan_init (&plan, &x2, dst, NULL, NULL);
    GError *failure = NULL;
    gboolean ok = run_network (engine, src, dst, &plan, &failure, error);
    sr_resample_plan_clear (&plan);
    if (ok)
      return TRUE;
    if (!fail_over (engine, failure, error))
      return FALSE;
  }
  const gsize size = x2.stride * x2.height;
  if (engine->x2_size < size) {
    g_free (engine->x2);
    engine->x2 = g_try_malloc (size);
    engine->x2_size = engine->x2 ? size : 0;
    if (!engine->x2) {
      g_set_error (error, SR_ERROR, SR_ERROR_INVALID, "cannot allocate the %dx%d picture to "
          "resample", x2.width, x2.height);
      return FALSE;
    }
  }
  x2.data = engine->x2;
  return sr_engine_upscale_luma (engine, src, &x2, error) &&
      sr_engine_resample (engine, &x2, dst, error);
}

gboolean
sr_engine_bicubic_x2 (SrEngine *engine, const SrPlane *src, SrPlane *dst, GError **error)
{
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (src != NULL, FALSE);
  g_return_val_if_fail (dst != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  /* the GPU backends' bicubic takes bytes: wider samples are done here */
  if (!engine->ops->bicubic_x2 || (sr_plane_is_wide (src) && engine->ops->kind != SR_BACKEND_CPU))
    return sr_bicubic_x2 (src, dst, error);
  if (!sr_bicubic_x2_check (src, dst, error))
    return FALSE;
  GError *failure = NULL;
  if (engine->ops->bicubic_x2 (engine->state, src, dst, &failure))
    return TRUE;
  return fail_over (engine, failure, error) && sr_engine_bicubic_x2 (engine, src, dst, error);
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
  g_return_val_if_fail (engine != NULL, FALSE);
  g_return_val_if_fail (src != NULL, FALSE);
  g_return_val_if_fail (dst != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!sr_resample_check (src, dst, error))
    return FALSE;
  /* the GPU backends' resampler takes bytes, like their bicubic: wider samples are done here */
  if (engine->ops->resample && !sr_plane_is_wide (src)) {
    SrResamplePlan plan;
    sr_resample_plan_init (&plan, src, dst, NULL, NULL);
    GError *failure = NULL;
    gboolean ok = engine->ops->resample (engine->state, src, dst, &plan, &failure);
    sr_resample_plan_clear (&plan);
    if (ok)
      return TRUE;
    return fail_over (engine, failure, error) && sr_engine_resample (engine, src, dst, error);
  }
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
sr_engine_set_exit_threshold (SrEngine *engine, double threshold)
{
  g_return_if_fail (engine != NULL);
  engine->exit_threshold = MAX (threshold, 0.0);
}

double
sr_engine_get_exit_threshold (const SrEngine *engine)
{
  g_return_val_if_fail (engine != NULL, 0.0);
  return engine->exit_threshold;
}

void
sr_engine_get_stats (const SrEngine *engine, SrFrameStats *stats)
{
  g_return_if_fail (engine != NULL);
  g_return_if_fail (stats != NULL);
  *stats = engine->stats;
}
