// The exit predictor, one work-group per tile (x, y = tile column, row): two stride-2 3x3
// convs with ReLU on the tile's own pixels (zero outside the clipped tile, as on the CPU),
// mean pool, linear, then the depth whose predicted gains, each less the threshold, sum
// highest. threshold <= 0: full depth, the predictor does not run.
// in_ch = predictor width, aux = blocks, w_off = the predictor's packed weights
// (conv1 w, b, conv2 w, b, fc w, b), aux2 = scratch floats per tile.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Weights { float wts[]; };
layout(std430, binding = 1) readonly buffer Src { float inp[]; };
layout(std430, binding = 4) buffer Scratch { float scratch[]; };
layout(std430, binding = 6) writeonly buffer Depths { uint depths[]; };
layout(std430, binding = 7) readonly buffer Params { float threshold; } params;

#include "common.glsl"

shared float pooled[64];

void main() {
  int t = int(gl_WorkGroupID.y) * pc.tiles_x + int(gl_WorkGroupID.x);
  int lid = int(gl_LocalInvocationID.x), B = pc.aux;
  float threshold = params.threshold;
  if (threshold <= 0.0) {
    if (lid == 0)
      depths[t] = uint(B);
    return;
  }
  ivec4 r4 = tile_rect(t);
  int w = r4.z, h = r4.w, Wp = pc.in_ch;
  int h1 = (h + 1) / 2, w1 = (w + 1) / 2, h2 = (h1 + 1) / 2, w2 = (w1 + 1) / 2;
  int w0_off = pc.w_off, b0_off = w0_off + Wp * 9, w1_off = b0_off + Wp;
  int b1_off = w1_off + Wp * Wp * 9, fc_off = b1_off + Wp, fcb_off = fc_off + max(B - 1, 1) * Wp;
  int a_off = t * pc.aux2, b_off = a_off + Wp * h1 * w1;

  // conv1: the tile's pixels -> Wp maps of h1 x w1
  for (int i = lid; i < Wp * h1 * w1; i += 64) {
    int oc = i / (h1 * w1), oy = (i / w1) % h1, ox = i % w1;
    float acc = wts[b0_off + oc];
    for (int ky = 0; ky < 3; ky++) {
      int iy = 2 * oy - 1 + ky;
      if (iy < 0 || iy >= h)
        continue;
      for (int kx = 0; kx < 3; kx++) {
        int ix = 2 * ox - 1 + kx;
        if (ix >= 0 && ix < w)
          acc += wts[w0_off + oc * 9 + ky * 3 + kx] * inp[(r4.y + iy) * pc.W + r4.x + ix];
      }
    }
    scratch[a_off + i] = max(acc, 0.0);
  }
  memoryBarrierBuffer();
  barrier();
  // conv2: Wp -> Wp maps of h2 x w2
  for (int i = lid; i < Wp * h2 * w2; i += 64) {
    int oc = i / (h2 * w2), oy = (i / w2) % h2, ox = i % w2;
    float acc = wts[b1_off + oc];
    for (int ic = 0; ic < Wp; ic++)
      for (int ky = 0; ky < 3; ky++) {
        int iy = 2 * oy - 1 + ky;
        if (iy < 0 || iy >= h1)
          continue;
        for (int kx = 0; kx < 3; kx++) {
          int ix = 2 * ox - 1 + kx;
          if (ix >= 0 && ix < w1)
            acc += wts[w1_off + (oc * Wp + ic) * 9 + ky * 3 + kx] *
                scratch[a_off + (ic * h1 + iy) * w1 + ix];
        }
      }
    scratch[b_off + i] = max(acc, 0.0);
  }
  memoryBarrierBuffer();
  barrier();
  // mean pool
  int n = h2 * w2;
  for (int c = lid; c < Wp; c += 64) {
    float sum = 0.0;
    for (int i = 0; i < n; i++)
      sum += scratch[b_off + c * n + i];
    pooled[c] = sum / float(n);
  }
  memoryBarrierShared();
  barrier();
  if (lid != 0)
    return;
  // the depth whose predicted gains, each less the threshold, sum highest (ties go deeper),
  // as on the CPU; block 1 always runs
  int depth = 1;
  float sum = 0.0, best = 0.0;
  for (int k = 2; k <= B; k++) {
    float gain = wts[fcb_off + k - 2];
    for (int c = 0; c < Wp; c++)
      gain += wts[fc_off + (k - 2) * Wp + c] * pooled[c];
    sum += gain - threshold;
    if (sum >= best) {
      best = sum;
      depth = k;
    }
  }
  depths[t] = uint(depth);
}
