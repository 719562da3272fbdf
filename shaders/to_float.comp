// The packed 8-bit LR luma to input = v / 255 (the CPU multiplies by 1/255 too).
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
  uint i = uint(y * pc.W + x);
  uint v = (lr[i >> 2] >> ((i & 3u) * 8u)) & 255u;
  dst[i] = float(v) * (1.0 / 255.0);
}
