// The plan, one invocation per tile: reach = the deepest tile within aux2 (= R) tiles;
// the tile joins active[j] (list j - 1) for j <= reach and exits[depth] (list B + depth - 1).
// The counts were zeroed before; aux = blocks (B).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;

layout(std430, binding = 3) buffer Lists { uint lists[]; };
layout(std430, binding = 6) readonly buffer Depths { uint depths[]; };

#include "common.glsl"

void main() {
  int t = int(gl_GlobalInvocationID.x);
  if (t >= pc.n_tiles)
    return;
  int tiles_y = pc.n_tiles / pc.tiles_x, tx = t % pc.tiles_x, ty = t / pc.tiles_x;
  int R = pc.aux2, B = pc.aux;
  int depth = int(depths[t]), reach = depth;
  for (int ny = max(ty - R, 0); ny <= min(ty + R, tiles_y - 1); ny++)
    for (int nx = max(tx - R, 0); nx <= min(tx + R, pc.tiles_x - 1); nx++)
      reach = max(reach, int(depths[ny * pc.tiles_x + nx]));
  for (int j = 1; j <= reach; j++) {
    uint i = atomicAdd(lists[j - 1], 1u);
    lists[LIST_BASE + (j - 1) * pc.n_tiles + int(i)] = uint(t);
  }
  uint i = atomicAdd(lists[B + depth - 1], 1u);
  lists[LIST_BASE + (B + depth - 1) * pc.n_tiles + int(i)] = uint(t);
}
