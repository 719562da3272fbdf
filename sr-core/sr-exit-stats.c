/* What a net with adaptive exits costs, shared by the backends: the predictor's MACs, and
 * the frame stats of the GPU backends' tile-list plan (docs/gpu-backends.md). */
#include "sr-model-private.h"

double
sr_exit_predictor_macs (const SrModel *model, int w, int h)
{
  const SrExits *m = &model->exits;
  int width = m->pred[0].out_ch;
  double a = (double) ((h + 1) / 2) * ((w + 1) / 2) * width * 9;
  double b = (double) ((h + 3) / 4) * ((w + 3) / 4) * width * width * 9;
  return a + b + (double) width * (m->n_blocks - 1);
}

/* A tile's exit keeps running, around it, every block up to its depth as far as the
 * receptive radius past the head (ghost: 2B + 1; plain 3x3: B + 1). */
int
sr_exit_reach_tiles (const SrModel *model, int tile)
{
  if (model->type == SR_ARCH_GHOST_EXIT)
    return (sr_model_get_receptive_radius (model) - 1 + tile - 1) / tile;
  /* hidden layers 1..B (one more than a tile needs) and the widest tail: exits are 3x3, the
   * last layer may be 1x1 */
  const int n = model->n_layers;
  const int radius = sr_model_get_receptive_radius (model) - model->layers[0].kernel / 2 -
      model->layers[n - 1].kernel / 2 + MAX (model->layers[n - 1].kernel / 2, 1);
  return (radius + tile - 1) / tile;
}

void
sr_exit_gpu_stats (const SrModel *model, int width, int height, int tile,
    const gint32 *depths, guint8 *tile_depths, double threshold, SrFrameStats *stats)
{
  const int T = tile, B = model->exits.n_blocks, R = sr_exit_reach_tiles (model, T);
  const int tiles_x = (width + T - 1) / T, tiles_y = (height + T - 1) / T;
  const int n_tiles = tiles_x * tiles_y;
  const double area = (double) width * height;
  /* the head everywhere, blocks 1..d around where some exit needs them, a tail per pixel */
  double macs = area * (double) sr_exit_trunk_macs (model, 0), depth_sum = 0;
  for (int t = 0; t < n_tiles; t++)
    tile_depths[t] = CLAMP (depths[t], 1, B);
  for (int t = 0; t < n_tiles; t++) {
    int tx = t % tiles_x, ty = t / tiles_x;
    int w = MIN (T, width - tx * T), h = MIN (T, height - ty * T), reach = 0;
    for (int ny = MAX (ty - R, 0); ny <= MIN (ty + R, tiles_y - 1); ny++)
      for (int nx = MAX (tx - R, 0); nx <= MIN (tx + R, tiles_x - 1); nx++)
        reach = MAX (reach, tile_depths[ny * tiles_x + nx]);
    /* every block up to the deepest exit in reach runs over the whole tile, then its exit's
     * tail */
    macs += (double) w * h * ((double) (sr_exit_trunk_macs (model, reach) -
        sr_exit_trunk_macs (model, 0)) +
        (double) sr_layer_macs (sr_exit_tail (model, tile_depths[t])));
    if (threshold > 0)
      macs += sr_exit_predictor_macs (model, w, h);
    stats->tiles_at_depth[tile_depths[t]]++;
    depth_sum += (double) w * h * tile_depths[t];
  }
  stats->n_tiles = n_tiles;
  stats->max_depth = B;
  stats->mean_depth = depth_sum / area;
  stats->tiles_x = tiles_x;
  stats->tiles_y = tiles_y;
  stats->tile_size = T;
  stats->tile_depths = tile_depths;
  stats->macs_per_pixel = macs / area;
  stats->macs_per_pixel_full = sr_exit_macs_per_pixel (model, B);
}
