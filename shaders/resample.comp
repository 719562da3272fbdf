// sr_resample of an 8-bit plane, bit for bit (sr-core/sr-resample.c): the host uploads the
// tables the C code made (per output, the first source sample and the fixed-point weights
// of each tap, per axis), so the filter is described once. The vertical pass rounds each
// column the horizontal taps need to the same mid precision the C rows keep, in the same
// 32-bit integers. One invocation per 4-byte word (4 samples) of the output.
// W, H: source size; aux, aux2: output size; tiles_x: output words per row;
// in_ch, out_ch: horizontal and vertical taps; k, relu: the vertical and horizontal shifts.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 2) writeonly buffer Dst { uint dst[]; };
// first x [aux], weights x [in_ch][aux], first y [aux2], weights y [out_ch][aux2]
layout(std430, binding = 4) readonly buffer Tables { int tab[]; };
layout(std430, binding = 5) readonly buffer Src { uint src[]; };

#include "common.glsl"

int at(int x, int y) {
  uint i = uint(y * pc.W + x);
  return int((src[i >> 2] >> ((i & 3u) * 8u)) & 255u);
}

void main() {
  int xw = int(gl_GlobalInvocationID.x), y = int(gl_GlobalInvocationID.y);
  int dw = pc.aux, dh = pc.aux2, taps_x = pc.in_ch, taps_y = pc.out_ch;
  if (xw >= pc.tiles_x || y >= dh)
    return;
  int wx = dw, fy = dw + taps_x * dw, wy = fy + dh, row0 = tab[fy + y];
  int s1 = pc.k, s2 = pc.relu;
  uint word = 0u;
  for (int j = 0; j < 4 && 4 * xw + j < dw; j++) {
    int x = 4 * xw + j, col0 = tab[x], acc = 0;
    for (int t = 0; t < taps_x; t++) {
      int v = 0;
      for (int u = 0; u < taps_y; u++)
        v += tab[wy + u * dh + y] * at(col0 + t, row0 + u);
      acc += tab[wx + t * dw + x] * ((v + (1 << (s1 - 1))) >> s1);
    }
    word |= uint(clamp((acc + (1 << (s2 - 1))) >> s2, 0, 255)) << (8 * j);
  }
  dst[y * pc.tiles_x + xw] = word;
}
