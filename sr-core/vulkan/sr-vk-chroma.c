/* Bicubic x2 of chroma planes on the device (shaders/bicubic.comp, bit for bit
 * sr_bicubic_x2), so a frame's chroma does not cost the CPU. Like the luma frame, the
 * buffers and the one command buffer are made once per (source, destination) size. */
#include "sr-vk.h"

struct _SrVkChroma {
  int sw, sh, dw, dh;
  int words;                 /* destination words (4 bytes) per row */
  SrVkBuffer src, dst, up, down;
  VkDescriptorPool desc_pool;
  VkDescriptorSet set;
  VkCommandBuffer cmd;
};

void
sr_vk_chroma_free (SrVk *vk, SrVkChroma *c)
{
  if (!c)
    return;
  if (c->cmd)
    vkFreeCommandBuffers (vk->dev.device, vk->pool, 1, &c->cmd);
  if (c->desc_pool)
    vkDestroyDescriptorPool (vk->dev.device, c->desc_pool, NULL);
  sr_vk_buffer_free (&vk->dev, &c->src);
  sr_vk_buffer_free (&vk->dev, &c->dst);
  sr_vk_buffer_free (&vk->dev, &c->up);
  sr_vk_buffer_free (&vk->dev, &c->down);
  g_free (c);
}

static gboolean
record (SrVk *vk, SrVkChroma *c, GError **error)
{
  if (!sr_vk_cmd_begin (vk, &c->cmd, 0, error))
    return FALSE;
  VkCommandBuffer cmd = c->cmd;
  VkBufferCopy up = { 0, 0, c->src.size }, down = { 0, 0, c->dst.size };
  vkCmdCopyBuffer (cmd, c->up.buffer, c->src.buffer, 1, &up);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);
  SrVkPush push = { .W = c->sw, .H = c->sh, .tiles_x = c->words, .aux = c->dw, .aux2 = c->dh };
  vkCmdBindPipeline (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->pipelines[SR_VK_BICUBIC]);
  vkCmdBindDescriptorSets (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vk->layout, 0, 1, &c->set, 0,
      NULL);
  vkCmdPushConstants (cmd, vk->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
  vkCmdDispatch (cmd, (c->words + SR_VK_BLOCK - 1) / SR_VK_BLOCK,
      (c->dh + SR_VK_BLOCK - 1) / SR_VK_BLOCK, 1);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
      VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  vkCmdCopyBuffer (cmd, c->dst.buffer, c->down.buffer, 1, &down);
  sr_vk_barrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
      VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
  return sr_vk_check (vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error);
}

static gboolean
ensure (SrVk *vk, const SrPlane *src, const SrPlane *dst, GError **error)
{
  SrVkChroma *c = vk->chroma;
  if (c && c->sw == src->width && c->sh == src->height && c->dw == dst->width &&
      c->dh == dst->height)
    return TRUE;
  /* the limits first: nothing is allocated for a size the device cannot take */
  const int words = (dst->width + 3) / 4;
  const guint64 src_bytes = ((guint64) src->width * src->height + 3) / 4 * 4;
  const guint64 dst_bytes = (guint64) words * 4 * dst->height;
  const VkPhysicalDeviceLimits *lim = &vk->dev.props.limits;
  const guint64 limit = MIN ((guint64) lim->maxStorageBufferRange, vk->dev.max_alloc);
  const guint64 groups_x = (words + SR_VK_BLOCK - 1) / SR_VK_BLOCK;
  const guint64 groups_y = (dst->height + SR_VK_BLOCK - 1) / SR_VK_BLOCK;
  if (MAX (src_bytes, dst_bytes) > limit || groups_x > lim->maxComputeWorkGroupCount[0] ||
      groups_y > lim->maxComputeWorkGroupCount[1]) {
    g_set_error (error, SR_ERROR, SR_ERROR_BACKEND, "vulkan: bicubic x2 of a %dx%d plane is "
        "over the limits of %s", src->width, src->height, vk->dev.props.deviceName);
    return FALSE;
  }
  sr_vk_chroma_free (vk, vk->chroma);
  vk->chroma = NULL;
  c = g_new0 (SrVkChroma, 1);
  c->sw = src->width;
  c->sh = src->height;
  c->dw = dst->width;
  c->dh = dst->height;
  c->words = words;
  const VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
      VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  gboolean ok = sr_vk_buffer_new (&vk->dev, &c->src, src_bytes, storage, FALSE, error) &&
      sr_vk_buffer_new (&vk->dev, &c->dst, dst_bytes, storage, FALSE, error) &&
      sr_vk_buffer_new (&vk->dev, &c->up, src_bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, TRUE,
          error) &&
      sr_vk_buffer_new (&vk->dev, &c->down, dst_bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, TRUE,
          error);
  if (ok) {
    SrVkBuffer *bufs[1][SR_VK_N_BINDINGS];
    for (int b = 0; b < SR_VK_N_BINDINGS; b++)
      bufs[0][b] = &vk->weights; /* unused by the kernel, but valid */
    bufs[0][SR_VK_B_DST] = &c->dst;
    bufs[0][SR_VK_B_BYTES] = &c->src;
    ok = sr_vk_sets_new (vk, 1, bufs, &c->desc_pool, &c->set, error) && record (vk, c, error);
  }
  if (!ok) {
    sr_vk_chroma_free (vk, c);
    return FALSE;
  }
  vk->chroma = c;
  return TRUE;
}

gboolean
sr_vk_bicubic_x2 (SrVk *vk, const SrPlane *src, SrPlane *dst, GError **error)
{
  if (!ensure (vk, src, dst, error))
    return FALSE;
  SrVkChroma *c = vk->chroma;
  sr_plane_pack (src, c->up.map);
  if (!sr_vk_submit_wait (vk, c->cmd, error))
    return FALSE;
  sr_plane_unpack (c->down.map, (gsize) c->words * 4, dst);
  return TRUE;
}
