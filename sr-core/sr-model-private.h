/* The in-memory network description that sr-model.c builds and the backends run. */
#ifndef SR_MODEL_PRIVATE_H
#define SR_MODEL_PRIVATE_H

#include "sr-core/sr-core.h"

/* Bounds that keep a hostile file from asking for absurd memory or time. */
#define SR_MAX_LAYERS 64
#define SR_MAX_CHANNELS 256
#define SR_MAX_KERNEL 7

typedef enum {
  SR_ACT_NONE,
  SR_ACT_RELU,
} SrActivation;

#define SR_MAX_BLOCKS 32  /* a net's exit depths (ghost blocks, plain hidden layers with exits) */
G_STATIC_ASSERT (SR_MAX_BLOCKS <= SR_MAX_DEPTH);

typedef struct {
  char *name;
  int in_ch;
  int out_ch;
  int kernel;          /* odd, square, zero padding kernel/2; 0 = fully connected */
  int stride;
  SrActivation act;
  float *weight;       /* [out_ch][in_ch][kernel][kernel] */
  float *bias;         /* [out_ch] */
} SrLayer;

/* What the CPU may run a net in, as the export chose it; the one precision enum of the CPU
 * backend's kernels too. */
typedef enum {
  SR_PRECISION_FP32,
  SR_PRECISION_BF16,
  SR_PRECISION_INT16,
  SR_PRECISION_INT8,
  SR_N_PRECISIONS
} SrPrecision;

/* "fp32", "bf16", "int16", "int8" as the SrPrecision, -1 for anything else. */
int sr_precision_from_name (const char *name);
const char *sr_precision_name (SrPrecision precision);

typedef enum {
  SR_ARCH_PLAIN,       /* a chain of convs */
  SR_ARCH_GHOST_EXIT,  /* head, ghost-shift blocks with a shared tail at every exit */
} SrArchType;

/* The ghost-exit network (models/train/ghostnet.py): head conv 1->C + ReLU; block k
 * computes y = ReLU(conv C->C/2) and adds [y, y shifted by (dy, dx) per channel] to its
 * input; the tail C->scale^2 runs on any block's output. */
typedef struct {
  int channels;
  int n_blocks;
  SrLayer head;
  SrLayer *blocks;     /* n_blocks convs C -> C/2 */
  gint8 (*shifts)[2];  /* [n_blocks * C/2] (dy, dx), each in -1..1 */
  SrLayer tail;
} SrGhostExit;

/* Adaptive exit: an exit after each of blocks 1..B, and a predictor that maps an LR tile of
 * `tile` pixels to the gain of blocks 2..B over the block before (a tile runs to the depth
 * whose gains, each less the threshold, sum highest). The ghost-exit net always has them (one tail shared
 * by every exit, gain in dB); a plain net when its file has "exits" (B its hidden layers, a
 * 3x3 tail per exit before the last, whose tail is the last layer; gain in the unit "gain"
 * names, for tools: the runtime only compares). */
typedef struct {
  int n_blocks;        /* B; 0: the net has no exits */
  int tile;
  SrLayer pred[3];     /* conv 1->W stride 2, conv W->W stride 2, linear W->B-1 */
  SrLayer *tails;      /* plain: exit d's tail at [d - 1], d < B; ghost: NULL */
} SrExits;

/* All nets run on the LR luma (1 channel in [0,1]); the last layer has scale*scale
 * outputs, pixel-shuffled, plus the input pixel added to each ("anchor"). */
struct _SrModel {
  char *name;
  double default_exit_threshold;
  int scale;
  SrArchType type;
  /* SR_ARCH_PLAIN */
  int n_layers;
  SrLayer *layers;
  int max_channels;
  guint precisions;        /* bit (1 << SrPrecision) for each one the export allows; fp32 always */
  float *act_max;         /* int8/int16: per layer, its input's calibrated maximum (ghost:
                           * the luma's 1, then the stream's after 0..B blocks) */
  /* SR_ARCH_GHOST_EXIT */
  SrGhostExit ghost;
  /* either, if it has adaptive exit */
  SrExits exits;
};

/* MACs per output pixel of one layer: in_ch * out_ch * kernel^2. */
guint64 sr_layer_macs (const SrLayer *l);
/* MACs per LR pixel of a net with exits: its head and blocks 1..depth (0..B), then also
 * exit `depth`'s tail (1..B). */
guint64 sr_exit_trunk_macs (const SrModel *model, int depth);
guint64 sr_exit_macs_per_pixel (const SrModel *model, int depth);
/* A net with exits as the GPU plan walks it: its head (ghost: 1 -> C; plain: layer 0) and
 * block j's conv (1..B; ghost: C -> C/2 before its ghost add; plain: hidden layer j). */
const SrLayer *sr_exit_head (const SrModel *model);
const SrLayer *sr_exit_block (const SrModel *model, int j);
/* The layer that makes exit `depth`'s residuals (1..B). */
const SrLayer *sr_exit_tail (const SrModel *model, int depth);
/* MACs of the exit predictor on a w x h tile (sr-exit-stats.c). */
double sr_exit_predictor_macs (const SrModel *model, int w, int h);
/* The GPU plan's reach in tiles: how far a tile's exit depth keeps its neighbours active. */
int sr_exit_reach_tiles (const SrModel *model, int tile);
/* A GPU backend's frame stats from the per-tile depths it read back (clamped into
 * tile_depths, which the stats then point at); MACs as the tile-list plan computes them. */
void sr_exit_gpu_stats (const SrModel *model, int width, int height, int tile,
    const gint32 *depths, guint8 *tile_depths, double threshold, SrFrameStats *stats);

#endif
