// Bicubic x2 of a chroma plane, bit for bit sr_bicubic_x2 (sr-core/sr-bicubic.c): Keys'
// cubic (a = -0.5) in integers, taps (-3, 29, 111, -9) for even outputs from src[k-2..k+1],
// (-9, 111, 29, -3) for odd ones from src[k-1..k+2], borders repeated, rows first, then
// (acc + 8192) >> 14 clamped. One invocation: 4 output bytes of a row (one word).
// W, H: source; aux, aux2: destination size; tiles_x: destination words per row.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 2) writeonly buffer Dst { uint dst[]; };
layout(std430, binding = 5) readonly buffer Src { uint src[]; };

#include "common.glsl"

const int TAPS[8] = int[8](-3, 29, 111, -9, -9, 111, 29, -3);

int at(int x, int y) {
  uint i = uint(clamp(y, 0, pc.H - 1) * pc.W + clamp(x, 0, pc.W - 1));
  return int((src[i >> 2] >> ((i & 3u) * 8u)) & 255u);
}

void main() {
  int xw = int(gl_GlobalInvocationID.x), y = int(gl_GlobalInvocationID.y);
  if (xw >= pc.tiles_x || y >= pc.aux2)
    return;
  int y0 = y / 2 - 2 + (y & 1), wy = (y & 1) * 4;
  uint word = 0u;
  for (int j = 0; j < 4; j++) {
    int x = 4 * xw + j, x0 = x / 2 - 2 + (x & 1), wx = (x & 1) * 4;
    int acc = 0;
    for (int ty = 0; ty < 4; ty++) {
      int row = 0;
      for (int tx = 0; tx < 4; tx++)
        row += TAPS[wx + tx] * at(x0 + tx, y0 + ty);
      acc += TAPS[wy + ty] * row;
    }
    word |= uint(clamp((acc + 8192) >> 14, 0, 255)) << (8 * j);
  }
  dst[y * pc.tiles_x + xw] = word;
}
