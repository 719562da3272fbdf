// The packed LR luma to input = v * in_scale, the CPU's 1 / max: bytes, or 16-bit words
// holding the sample shifted left by s_shift (10-bit video).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 2) writeonly buffer Dst { float dst[]; };
layout(std430, binding = 5) readonly buffer Bytes { uint lr[]; };

#include "common.glsl"

void main() {
  int x = int(gl_GlobalInvocationID.x), y = int(gl_GlobalInvocationID.y);
  if (x >= pc.W || y >= pc.H)
    return;
  uint i = uint(y * pc.W + x), v;
  if (pc.s_max > 255)
    v = ((lr[i >> 1] >> ((i & 1u) * 16u)) & 0xffffu) >> uint(pc.s_shift);
  else
    v = (lr[i >> 2] >> ((i & 3u) * 8u)) & 255u;
  dst[i] = float(v) * pc.in_scale;
}
