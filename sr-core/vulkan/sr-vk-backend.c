/* The Vulkan backend's SrBackendOps: create (device, pipelines, weights), upscale (pack
 * the strided source into staging, submit the frame's command buffer, unpack the HR bytes,
 * fill the stats), bicubic x2 (sr-vk-chroma.c), destroy. */
#include "sr-vk.h"

#include <string.h>

static void
vk_destroy (gpointer state)
{
  SrVk *vk = state;
  if (vk->dev.device) {
    vkDeviceWaitIdle (vk->dev.device); /* nothing may be pending; device loss is fine here */
    sr_vk_frame_free (vk, vk->frame);
    sr_vk_chroma_free (vk, vk->chroma);
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

void
sr_vk_pack_plane (const SrPlane *src, guint8 *out)
{
  for (int y = 0; y < src->height; y++) {
    const guint8 *row = src->data + (gsize) y * src->stride;
    guint8 *o = out + (gsize) y * src->width;
    if (src->pixel_stride == 1)
      memcpy (o, row, src->width);
    else
      for (int x = 0; x < src->width; x++)
        o[x] = row[(gsize) x * src->pixel_stride];
  }
}

void
sr_vk_unpack_plane (const guint8 *in, gsize in_stride, SrPlane *dst)
{
  for (int y = 0; y < dst->height; y++) {
    const guint8 *i = in + (gsize) y * in_stride;
    guint8 *row = dst->data + (gsize) y * dst->stride;
    if (dst->pixel_stride == 1)
      memcpy (row, i, dst->width);
    else
      for (int x = 0; x < dst->width; x++)
        row[(gsize) x * dst->pixel_stride] = i[x];
  }
}

static double
predictor_macs (const SrGhostExit *m, int w, int h)
{
  int width = m->pred[0].out_ch;
  double a = (double) ((h + 1) / 2) * ((w + 1) / 2) * width * 9;
  double b = (double) ((h + 3) / 4) * ((w + 3) / 4) * width * width * 9;
  return a + b + (double) width * (m->n_blocks - 1);
}

/* The ghost net's stats from the depths read back; the MACs are what the GPU computed:
 * the head and the tails over the frame, each block over its active tiles (the plan's rule,
 * replayed here), the predictor when it ran. */
static void
ghost_stats (SrVk *vk, const guint32 *depths, double threshold, SrFrameStats *stats)
{
  const SrGhostExit *m = &vk->model->ghost;
  SrVkFrame *f = vk->frame;
  const int T = f->tile, B = m->n_blocks, R = (2 * B + 1 + T - 1) / T;
  const double area = (double) f->width * f->height;
  const double block_macs = (double) m->blocks[0].in_ch * m->blocks[0].out_ch * 9;
  double macs = area * (m->head.in_ch * m->head.out_ch * 9 + m->tail.in_ch * m->tail.out_ch * 9);
  double depth_sum = 0;
  for (int t = 0; t < f->n_tiles; t++)
    f->tile_depths[t] = CLAMP (depths[t], 1, (guint32) B);
  for (int t = 0; t < f->n_tiles; t++) {
    int tx = t % f->tiles_x, ty = t / f->tiles_x;
    int w = MIN (T, f->width - tx * T), h = MIN (T, f->height - ty * T), reach = 0;
    for (int ny = MAX (ty - R, 0); ny <= MIN (ty + R, f->tiles_y - 1); ny++)
      for (int nx = MAX (tx - R, 0); nx <= MIN (tx + R, f->tiles_x - 1); nx++)
        reach = MAX (reach, f->tile_depths[ny * f->tiles_x + nx]);
    macs += (double) w * h * reach * block_macs;
    if (threshold > 0)
      macs += predictor_macs (m, w, h);
    stats->tiles_at_depth[f->tile_depths[t]]++;
    depth_sum += (double) w * h * f->tile_depths[t];
  }
  stats->n_tiles = f->n_tiles;
  stats->max_depth = B;
  stats->mean_depth = depth_sum / area;
  stats->tiles_x = f->tiles_x;
  stats->tiles_y = f->tiles_y;
  stats->tile_size = T;
  stats->tile_depths = f->tile_depths;
  stats->macs_per_pixel = macs / area;
  stats->macs_per_pixel_full = sr_ghost_macs_per_pixel (vk->model, B);
}

static gboolean
vk_upscale_luma (gpointer state, const SrPlane *src, SrPlane *dst, double exit_threshold,
    SrFrameStats *stats, GError **error)
{
  SrVk *vk = state;
  if (!sr_vk_frame_ensure (vk, src->width, src->height, error))
    return FALSE;
  SrVkFrame *f = vk->frame;
  sr_vk_pack_plane (src, f->up.map);
  float threshold = exit_threshold > 0 ? exit_threshold : 0;
  memcpy (vk->params.map, &threshold, sizeof threshold);

  if (!sr_vk_submit_wait (vk, f->cmd, error))
    return FALSE;

  VkDevice device = vk->dev.device;
  sr_vk_unpack_plane (f->down.map, dst->width, dst);
  guint64 ts[2];
  if (vk->timestamps && vkGetQueryPoolResults (device, vk->timestamps, 0, 2, sizeof ts, ts,
          sizeof ts[0], VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
    guint64 mask = vk->dev.timestamp_bits >= 64 ? G_MAXUINT64
        : (G_GUINT64_CONSTANT (1) << vk->dev.timestamp_bits) - 1;
    stats->device_seconds = (double) ((ts[1] - ts[0]) & mask) *
        vk->dev.props.limits.timestampPeriod * 1e-9;
  }
  if (vk->model->type == SR_ARCH_GHOST_EXIT) {
    ghost_stats (vk, (const guint32 *) ((const guint8 *) f->down.map + f->hr_bytes),
        exit_threshold, stats);
  } else {
    stats->n_tiles = f->n_tiles;
    stats->macs_per_pixel = stats->macs_per_pixel_full =
        sr_model_get_macs_per_pixel (vk->model);
  }
  return TRUE;
}

static gboolean
vk_bicubic_x2 (gpointer state, const SrPlane *src, SrPlane *dst, GError **error)
{
  return sr_vk_bicubic_x2 (state, src, dst, error);
}

const SrBackendOps sr_vulkan_backend = {
  .kind = SR_BACKEND_VULKAN,
  .create = vk_create,
  .upscale_luma = vk_upscale_luma,
  .destroy = vk_destroy,
  .device_name = vk_device_name,
  .bicubic_x2 = vk_bicubic_x2,
};
