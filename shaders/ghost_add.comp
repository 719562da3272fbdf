// The ghost residual over a list of tiles: feat[c] += intr[c] and
// feat[c + half] += intr[c] read at (y + dy, x + dx), zero outside the frame (the shift is
// an offset in the read, never a copy). out_ch = half; aux = offset of the block's
// (dy, dx) pairs in the weight buffer. z = list index.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;

#ifdef FP16 // fp16 feature maps: stored as half, added in float
#extension GL_EXT_shader_16bit_storage : require
#define MAP_T float16_t
#else
#define MAP_T float
#endif

layout(std430, binding = 0) readonly buffer Weights { float wts[]; };
layout(std430, binding = 1) readonly buffer Src { MAP_T intr[]; };
layout(std430, binding = 2) buffer Dst { MAP_T feat[]; };
layout(std430, binding = 3) readonly buffer Lists { uint lists[]; };

#include "common.glsl"

void main() {
  int li = int(gl_WorkGroupID.z);
  if (li >= int(lists[pc.list]))
    return;
  ivec4 r4 = tile_rect(int(lists[LIST_BASE + pc.list * pc.n_tiles + li]));
  int x = r4.x + int(gl_WorkGroupID.x) * 8 + int(gl_LocalInvocationID.x);
  int y = r4.y + int(gl_WorkGroupID.y) * 8 + int(gl_LocalInvocationID.y);
  if (x >= r4.x + r4.z || y >= r4.y + r4.w)
    return; // only this tile: the add is in place
  int plane = pc.W * pc.H, half_ = pc.out_ch, p = y * pc.W + x;
  for (int c = 0; c < half_; c++) {
    float v = float(intr[c * plane + p]);
    feat[c * plane + p] = MAP_T(float(feat[c * plane + p]) + v);
    int sy = y + int(wts[pc.aux + 2 * c]), sx = x + int(wts[pc.aux + 2 * c + 1]);
    bool inside = sx >= 0 && sx < pc.W && sy >= 0 && sy < pc.H;
    float s = inside ? float(intr[c * plane + sy * pc.W + sx]) : 0.0;
    feat[(c + half_) * plane + p] = MAP_T(float(feat[(c + half_) * plane + p]) + s);
  }
}
