/* The Vulkan backend's SrBackendOps: create (device, pipelines, weights), upscale (pack
 * the strided source into staging, submit the frame's command buffer, unpack the HR or
 * resampled bytes, fill the stats), bicubic x2 and resampling (sr-vk-planes.c), destroy. */
#include "sr-vk.h"

#include <string.h>

static void
vk_destroy (gpointer state)
{
  SrVk *vk = state;
  if (vk->dev.device) {
    vkDeviceWaitIdle (vk->dev.device); /* nothing may be pending; device loss is fine here */
    sr_vk_frame_free (vk, vk->frame);
    sr_vk_plane_jobs_free (vk);
    sr_vk_buffer_free (&vk->dev, &vk->weights);
    sr_vk_buffer_free (&vk->dev, &vk->params);
    sr_vk_pipelines_free (vk);
    if (vk->fence)
      vkDestroyFence (vk->dev.device, vk->fence, NULL);
    if (vk->timestamps)
      vkDestroyQueryPool (vk->dev.device, vk->timestamps, NULL);
    if (vk->pool)
      vkDestroyCommandPool (vk->dev.device, vk->pool, NULL);
  }
  sr_vk_device_close (&vk->dev);
  g_free (vk->layers);
  g_free (vk->exit_tails);
  g_free (vk->name);
  g_free (vk);
}

static gpointer
vk_create (const SrModel *model, const SrEngineConfig *config, gboolean automatic,
    GError **error)
{
  if (model->scale != 2) {
    g_set_error (error, SR_ERROR, SR_ERROR_UNSUPPORTED, "vulkan: only scale 2 is supported");
    return NULL;
  }
  SrVk *vk = g_new0 (SrVk, 1);
  vk->model = model;
  /* fp16 feature maps halve the memory traffic; fp32 stays the default (the tests compare
   * with the CPU's fp32 within 1/255) */
  gboolean want_fp16 = g_strcmp0 (g_getenv ("SR_VULKAN_PRECISION"), "fp16") == 0;
  if (!sr_vk_device_open (&vk->dev, config->device, automatic, want_fp16, error))
    goto fail;
  vk->fp16 = vk->dev.storage16;
  if (want_fp16 && !vk->fp16)
    g_debug ("sr-core: vulkan: %s has no 16-bit storage, using fp32", vk->dev.props.deviceName);
  vk->name = g_strdup_printf ("%s%s", vk->dev.props.deviceName,
      vk->fp16 ? ", fp16 feature maps" : "");
  VkCommandPoolCreateInfo cpci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .queueFamilyIndex = vk->dev.queue_family,
  };
  if (!sr_vk_check (vkCreateCommandPool (vk->dev.device, &cpci, NULL, &vk->pool),
          "vkCreateCommandPool", error)) {
    vk->pool = VK_NULL_HANDLE;
    goto fail;
  }
  VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  if (!sr_vk_check (vkCreateFence (vk->dev.device, &fci, NULL, &vk->fence), "vkCreateFence",
          error)) {
    vk->fence = VK_NULL_HANDLE;
    goto fail;
  }
  /* the device time of the network (stats.device_seconds), where the queue has timestamps */
  VkQueryPoolCreateInfo qpci = {
    .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
    .queryType = VK_QUERY_TYPE_TIMESTAMP,
    .queryCount = 2,
  };
  if (vk->dev.timestamp_bits == 0 ||
      vkCreateQueryPool (vk->dev.device, &qpci, NULL, &vk->timestamps) != VK_SUCCESS)
    vk->timestamps = VK_NULL_HANDLE;
  if (!sr_vk_pipelines_new (vk, error) || !sr_vk_weights_upload (vk, error) ||
      !sr_vk_buffer_new (&vk->dev, &vk->params, 16, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, TRUE,
          error))
    goto fail;
  memset (vk->params.map, 0, 16);
  g_debug ("sr-core: vulkan on %s", vk->name);
  return vk;
fail:
  vk_destroy (vk);
  return NULL;
}

static const char *
vk_device_name (gpointer state)
{
  SrVk *vk = state;
  return vk->name;
}

/* The network, resampled on the device to dst's size with a plan. */
static gboolean
upscale (SrVk *vk, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    double exit_threshold, SrFrameStats *stats, GError **error)
{
  if (!sr_vk_frame_ensure (vk, src, dst, plan, error))
    return FALSE;
  SrVkFrame *f = vk->frame;
  sr_plane_pack (src, f->up.map);
  float threshold = exit_threshold > 0 ? exit_threshold : 0;
  memcpy (vk->params.map, &threshold, sizeof threshold);

  if (!sr_vk_submit_wait (vk, f->cmd, error))
    return FALSE;

  VkDevice device = vk->dev.device;
  sr_plane_unpack (f->down.map, f->out_w ? (gsize) f->out_words * 4 :
      (gsize) dst->width * (sr_plane_is_wide (dst) ? 2 : 1), dst);
  guint64 ts[2];
  if (vk->timestamps && vkGetQueryPoolResults (device, vk->timestamps, 0, 2, sizeof ts, ts,
          sizeof ts[0], VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
    guint64 mask = vk->dev.timestamp_bits >= 64 ? G_MAXUINT64
        : (G_GUINT64_CONSTANT (1) << vk->dev.timestamp_bits) - 1;
    stats->device_seconds = (double) ((ts[1] - ts[0]) & mask) *
        vk->dev.props.limits.timestampPeriod * 1e-9;
  }
  if (vk->model->exits.n_blocks) {
    sr_exit_gpu_stats (vk->model, f->width, f->height, f->tile,
        (const gint32 *) ((const guint8 *) f->down.map + f->picture_bytes), f->tile_depths,
        exit_threshold, stats);
  } else {
    stats->n_tiles = f->n_tiles;
  }
  return TRUE;
}

static gboolean
vk_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, double exit_threshold,
    SrFrameStats *stats, GError **error)
{
  return upscale (state, src, dst, NULL, exit_threshold, stats, error);
}

static gboolean
vk_upscale_luma_resampled (gpointer state, const SrPlane *src, SrPlane *dst,
    const SrResamplePlan *plan, double exit_threshold, SrFrameStats *stats, GError **error)
{
  return upscale (state, src, dst, plan, exit_threshold, stats, error);
}

static gboolean
vk_bicubic_x2 (gpointer state, const SrPlane *src, SrPlane *dst, GError **error)
{
  return sr_vk_bicubic_x2 (state, src, dst, error);
}

static gboolean
vk_resample (gpointer state, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    GError **error)
{
  return sr_vk_resample (state, src, dst, plan, error);
}

static guint64
vk_frame_bytes (gpointer state, int width, int height)
{
  return sr_vk_frame_bytes (state, width, height);
}

const SrBackendOps sr_vulkan_backend = {
  .kind = SR_BACKEND_VULKAN,
  .create = vk_create,
  .upscale_luma = vk_upscale_luma,
  .upscale_luma_resampled = vk_upscale_luma_resampled,
  .destroy = vk_destroy,
  .device_name = vk_device_name,
  .bicubic_x2 = vk_bicubic_x2,
  .resample = vk_resample,
  .frame_bytes = vk_frame_bytes,
};
