// A "same" conv (odd kernel k <= 7, zero outside the frame) over a list of tiles.
// One work-group: an 8x8 block of a tile and a group of up to GROUP output channels;
// z = list index * n_ocg + channel group. Each input channel's 8x8 block plus halo is
// staged in shared memory; the weights are read uniformly.
// Built as is (float maps out, optional ReLU) and with TAIL (C -> 4 residuals plus the
// anchor, pixel shuffle x2, floor(v * max + 0.5) clamped: ORed into the zeroed HR bytes, or
// for wider samples stored as the 16-bit words of the HR plane);
// SRC16 / DST16 make the variants reading / writing fp16 feature maps (SR_VULKAN_PRECISION).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 8, local_size_y = 8) in;

#if defined(SRC16) || defined(DST16)
#extension GL_EXT_shader_16bit_storage : require
#endif

layout(std430, binding = 0) readonly buffer Weights { float wts[]; };
#ifdef SRC16 // fp16 feature maps: stored as half, computed in float
layout(std430, binding = 1) readonly buffer Src { float16_t src[]; };
#else
layout(std430, binding = 1) readonly buffer Src { float src[]; };
#endif
#ifdef TAIL
layout(std430, binding = 4) readonly buffer Anchor { float anchor[]; };
layout(std430, binding = 5) buffer Bytes { uint hr[]; };
#elif defined(DST16)
layout(std430, binding = 2) writeonly buffer Dst { float16_t dst[]; };
#else
layout(std430, binding = 2) writeonly buffer Dst { float dst[]; };
#endif
layout(std430, binding = 3) readonly buffer Lists { uint lists[]; };

#include "common.glsl"

// output channels per work-group (SR_VK_GROUP / SR_VK_TAIL_GROUP on the host)
#ifdef TAIL
const int GROUP = 4;
#else
const int GROUP = 16;
#endif
const int MAX_SIDE = 8 + 2 * 3;
shared float patch_[MAX_SIDE * MAX_SIDE];

void main() {
  int z = int(gl_WorkGroupID.z);
  int li = z / pc.n_ocg, og = z % pc.n_ocg;
  // past the list's count (it lives on the device): the whole work-group leaves
  int t;
  if (pc.list < 0)
    t = li < pc.n_tiles ? li : -1;
  else
    t = li < int(lists[pc.list]) ? int(lists[LIST_BASE + pc.list * pc.n_tiles + li]) : -1;
  if (t < 0)
    return;
  ivec4 r4 = tile_rect(t);
  int bx = r4.x + int(gl_WorkGroupID.x) * 8, by = r4.y + int(gl_WorkGroupID.y) * 8;
  int x1 = r4.x + r4.z, y1 = r4.y + r4.w;
  if (bx >= x1 || by >= y1)
    return; // a block past a clipped tile's edge
  int lx = int(gl_LocalInvocationID.x), ly = int(gl_LocalInvocationID.y), lid = ly * 8 + lx;
  int x = bx + lx, y = by + ly;
  int k = pc.k, r = k / 2, side = 8 + 2 * r, kk = k * k;
  int plane = pc.W * pc.H;
  int oc0 = og * GROUP, n_oc = min(GROUP, pc.out_ch - oc0);

  float acc[GROUP];
  for (int o = 0; o < GROUP; o++)
    acc[o] = o < n_oc ? wts[pc.b_off + oc0 + o] : 0.0;
  for (int ic = 0; ic < pc.in_ch; ic++) {
    for (int i = lid; i < side * side; i += 64) {
      int sy = by - r + i / side, sx = bx - r + i % side;
      bool inside = sx >= 0 && sx < pc.W && sy >= 0 && sy < pc.H;
      patch_[i] = inside ? float(src[ic * plane + sy * pc.W + sx]) : 0.0;
    }
    memoryBarrierShared();
    barrier();
    int wi = pc.w_off + (oc0 * pc.in_ch + ic) * kk;
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++) {
        float v = patch_[(ly + ky) * side + lx + kx];
        // a partial group repeats its last channel: no branch in the inner loop
        for (int o = 0; o < GROUP; o++)
          acc[o] += wts[wi + min(o, n_oc - 1) * pc.in_ch * kk + ky * k + kx] * v;
      }
    memoryBarrierShared();
    barrier();
  }
  if (x >= x1 || y >= y1)
    return;

#ifdef TAIL
  float a = anchor[y * pc.W + x];
  if (pc.s_max > 255) {
    // as sr_cpu_tail_wide: clamped as a float (a huge value never meets the conversion),
    // no fused multiply-add; samples 2x and 2x + 1 fill the word nobody else writes
    float m = float(pc.s_max);
    for (int dy = 0; dy < 2; dy++) {
      precise float v0 = floor((acc[2 * dy] + a) * m + 0.5);
      precise float v1 = floor((acc[2 * dy + 1] + a) * m + 0.5);
      uint q0 = uint(clamp(v0, 0.0, m)), q1 = uint(clamp(v1, 0.0, m));
      hr[uint(2 * y + dy) * uint(pc.W) + uint(x)] = (q0 | (q1 << 16)) << uint(pc.s_shift);
    }
    return;
  }
  for (int dy = 0; dy < 2; dy++) {
    uint q0 = uint(clamp(int(floor((acc[2 * dy] + a) * 255.0 + 0.5)), 0, 255));
    uint q1 = uint(clamp(int(floor((acc[2 * dy + 1] + a) * 255.0 + 0.5)), 0, 255));
    // HR row 2y + dy, bytes 2x and 2x + 1: the same word, which nobody else writes
    uint b = uint(2 * y + dy) * uint(2 * pc.W) + uint(2 * x);
    atomicOr(hr[b >> 2], (q0 | (q1 << 8)) << ((b & 3u) * 8u));
  }
#else
  for (int o = 0; o < GROUP; o++)
    if (o < n_oc)
#ifdef DST16
      dst[(oc0 + o) * plane + y * pc.W + x] = float16_t(pc.relu != 0 ? max(acc[o], 0.0) : acc[o]);
#else
      dst[(oc0 + o) * plane + y * pc.W + x] = pc.relu != 0 ? max(acc[o], 0.0) : acc[o];
#endif
#endif
}
