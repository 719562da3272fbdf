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

typedef struct {
  char *name;
  int in_ch;
  int out_ch;
  int kernel;          /* odd, square, "same" zero padding */
  SrActivation act;
  float *weight;       /* [out_ch][in_ch][kernel][kernel] */
  float *bias;         /* [out_ch] */
} SrLayer;

/* Layers run in order on the LR luma (1 channel in [0,1]); the last one has
 * scale*scale outputs, pixel-shuffled, plus the input pixel added to each ("anchor"). */
struct _SrModel {
  char *name;
  int scale;
  int n_layers;
  SrLayer *layers;
  int max_channels;
};

#endif
