/* Plane-to-plane kernels on the device, bit for bit their C versions, so a frame's chroma
 * and its resampling to the output size do not cost the CPU: bicubic x2
 * (shaders/bicubic.comp, sr_bicubic_x2) and resampling (shaders/resample.comp,
 * sr_resample, with the tables sr-resample.c made). Like the luma frame, the buffers and
 * the one command buffer of a job are made once per (kernel, source size, destination
 * size); a few jobs are kept, as a frame resamples its luma and its chroma at two sizes. */
#include "sr-vk.h"

#include <string.h>

struct _SrVkPlaneJob {
  SrVkKernel kernel;         /* SR_VK_BICUBIC or SR_VK_RESAMPLE */
  int sw, sh, dw, dh;
  int words;                 /* destination words (4 bytes) per row */
  guint64 used;              /* when last run: the least recently used job is replaced */
  SrVkBuffer src, dst, up, down, tables;
  VkDescriptorPool desc_pool;
  VkDescriptorSet set;
  VkCommandBuffer cmd;
};

static void
job_free (SrVk *vk, SrVkPlaneJob *j)
{
  if (!j)
    return;
  if (j->cmd)
    vkFreeCommandBuffers (vk->dev.device, vk->pool, 1, &j->cmd);
  if (j->desc_pool)
    vkDestroyDescriptorPool (vk->dev.device, j->desc_pool, NULL);
  SrVkBuffer *bufs[] = { &j->src, &j->dst, &j->up, &j->down, &j->tables };
  for (guint i = 0; i < G_N_ELEMENTS (bufs); i++)
    sr_vk_buffer_free (&vk->dev, bufs[i]);
  g_free (j);
}

void
sr_vk_plane_jobs_free (SrVk *vk)
{
  for (int i = 0; i < SR_VK_PLANE_JOBS; i++) {
    job_free (vk, vk->plane_jobs[i]);
    vk->plane_jobs[i] = NULL;
  }
}

guint64
sr_vk_resample_table_bytes (const SrResamplePlan *plan)
{
  return 4 * ((guint64) (plan->ax.n_taps + 1) * plan->ax.n_out +
      (guint64) (plan->ay.n_taps + 1) * plan->ay.n_out);
}

void
sr_vk_resample_setup (const SrResamplePlan *plan, const SrPlane *src, const SrPlane *dst,
    SrVkBuffer *tables, SrVkPush *push)
{
  gint32 *t = tables->map;
  const SrResampleAxis *axes[2] = { &plan->ax, &plan->ay };
  for (int a = 0; a < 2; a++) {
    memcpy (t, axes[a]->first, sizeof (gint32) * axes[a]->n_out);
    t += axes[a]->n_out;
    memcpy (t, axes[a]->weight, sizeof (gint32) * axes[a]->n_out * axes[a]->n_taps);
    t += axes[a]->n_out * axes[a]->n_taps;
  }
  *push = (SrVkPush) {
    .W = src->width, .H = src->height, .tiles_x = (dst->width + 3) / 4,
    .aux = dst->width, .aux2 = dst->height,
    .in_ch = plan->ax.n_taps, .out_ch = plan->ay.n_taps,
    .k = sr_resample_vertical_shift (src), .relu = sr_resample_horizontal_shift (dst),
  };
}

static gboolean
record (SrVk *vk, SrVkPlaneJob *j, const SrVkPush *push, GError **error)
{
  if (!sr_vk_cmd_begin (vk, &j->cmd, 0, error))
    return FALSE;
  VkCommandBuffer cmd = j->cmd;
  VkBufferCopy up = { 0, 0, j->src.size }, down = { 0, 0, j->dst.size };
  vkCmdCopyBuffer (cmd, j->up.buffer, j->src.buffer, 1, &up);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
  vkCmdBindPipeline (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipelines[j->kernel]);
  vkCmdBindDescriptorSets (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout, 0, 1, &j->set, 0,
      NULL);
  vkCmdPushConstants (cmd, vk->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof *push, push);
  vkCmdDispatch (cmd, (j->words + SR_VK_BLOCK - 1) / SR_VK_BLOCK,
      (j->dh + SR_VK_BLOCK - 1) / SR_VK_BLOCK, 1);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
      VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  vkCmdCopyBuffer (cmd, j->dst.buffer, j->down.buffer, 1, &down);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  return sr_vk_check (vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error);
}

/* The job for this kernel and these sizes, made if none is kept (plan: resample's tables,
 * which depend on the sizes only, uploaded then). */
static SrVkPlaneJob *
find_job (SrVk *vk, SrVkKernel kernel, const SrPlane *src, const SrPlane *dst,
    const SrResamplePlan *plan, GError **error)
{
  int slot = 0;
  for (int i = 0; i < SR_VK_PLANE_JOBS; i++) {
    SrVkPlaneJob *j = vk->plane_jobs[i];
    if (j && j->kernel == kernel && j->sw == src->width && j->sh == src->height &&
        j->dw == dst->width && j->dh == dst->height)
      return j;
    if (!j || (vk->plane_jobs[slot] && j->used < vk->plane_jobs[slot]->used))
      slot = i;
  }
  /* the limits first: nothing is allocated for a size the device cannot take */
  const int words = (dst->width + 3) / 4;
  const guint64 src_bytes = ((guint64) src->width * src->height + 3) / 4 * 4;
  const guint64 dst_bytes = (guint64) words * 4 * dst->height;
  const guint64 table_bytes = plan ? sr_vk_resample_table_bytes (plan) : 0;
  const VkPhysicalDeviceLimits *lim = &vk->dev.props.limits;
  const guint64 limit = MIN ((guint64) lim->maxStorageBufferRange, vk->dev.max_alloc);
  const guint64 groups_x = (words + SR_VK_BLOCK - 1) / SR_VK_BLOCK;
  const guint64 groups_y = (dst->height + SR_VK_BLOCK - 1) / SR_VK_BLOCK;
  if (MAX (MAX (src_bytes, dst_bytes), table_bytes) > limit ||
      groups_x > lim->maxComputeWorkGroupCount[0] ||
      groups_y > lim->maxComputeWorkGroupCount[1]) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: %s of a %dx%d plane to %dx%d is "
        "over the limits of %s", plan ? "resampling" : "bicubic x2", src->width, src->height,
        dst->width, dst->height, vk->dev.props.deviceName);
    return NULL;
  }
  job_free (vk, vk->plane_jobs[slot]);
  vk->plane_jobs[slot] = NULL;
  SrVkPlaneJob *j = g_new0 (SrVkPlaneJob, 1);
  j->kernel = kernel;
  j->sw = src->width;
  j->sh = src->height;
  j->dw = dst->width;
  j->dh = dst->height;
  j->words = words;
  const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
      VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  gboolean ok = sr_vk_buffer_new (&vk->dev, &j->src, src_bytes, storage, FALSE, error) &&
      sr_vk_buffer_new (&vk->dev, &j->dst, dst_bytes, storage, FALSE, error) &&
      sr_vk_buffer_new (&vk->dev, &j->up, src_bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, TRUE,
          error) &&
      sr_vk_buffer_new (&vk->dev, &j->down, dst_bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, TRUE,
          error);
  SrVkPush push = { .W = j->sw, .H = j->sh, .tiles_x = words, .aux = j->dw, .aux2 = j->dh };
  /* small and written once: read from host-visible memory */
  if (ok && plan && (ok = sr_vk_buffer_new (&vk->dev, &j->tables, table_bytes,
              VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, TRUE, error)))
    sr_vk_resample_setup (plan, src, dst, &j->tables, &push);
  if (ok) {
    SrVkBuffer *bufs[1][SR_VK_N_BINDINGS];
    for (int b = 0; b < SR_VK_N_BINDINGS; b++)
      bufs[0][b] = &vk->weights; /* unused by the kernels, but valid */
    bufs[0][SR_VK_B_DST] = &j->dst;
    bufs[0][SR_VK_B_BYTES] = &j->src;
    if (plan)
      bufs[0][SR_VK_B_AUX] = &j->tables;
    ok = sr_vk_sets_new (vk, 1, bufs, &j->desc_pool, &j->set, error) &&
        record (vk, j, &push, error);
  }
  if (!ok) {
    job_free (vk, j);
    return NULL;
  }
  vk->plane_jobs[slot] = j;
  return j;
}

static gboolean
run (SrVk *vk, SrVkKernel kernel, const SrPlane *src, SrPlane *dst,
    const SrResamplePlan *plan, GError **error)
{
  SrVkPlaneJob *j = find_job (vk, kernel, src, dst, plan, error);
  if (!j)
    return FALSE;
  j->used = ++vk->plane_jobs_run;
  sr_plane_pack (src, j->up.map);
  if (!sr_vk_submit_wait (vk, j->cmd, error))
    return FALSE;
  sr_plane_unpack (j->down.map, (gsize) j->words * 4, dst);
  return TRUE;
}

gboolean
sr_vk_bicubic_x2 (SrVk *vk, const SrPlane *src, SrPlane *dst, GError **error)
{
  return run (vk, SR_VK_BICUBIC, src, dst, NULL, error);
}

gboolean
sr_vk_resample (SrVk *vk, const SrPlane *src, SrPlane *dst, const SrResamplePlan *plan,
    GError **error)
{
  return run (vk, SR_VK_RESAMPLE, src, dst, plan, error);
}
