// Shared by every kernel: the push constants (one layout for all pipelines, mirrored by
// SrVkPush in sr-core/vulkan/sr-vk.h) and the tile-list lookup.

layout(push_constant) uniform Push {
  int W, H;        // LR frame size
  int T, tiles_x;  // tile side and tiles per row
  int n_tiles;     // tiles in the frame, also the capacity of every list
  int list;        // the tile list to run over; -1: every tile
  int in_ch, out_ch;
  int k, relu;     // kernel side (odd), ReLU flag
  int w_off, b_off; // weight and bias offsets in floats
  int n_ocg;       // output-channel groups (conv.comp)
  int aux, aux2;   // kernel-specific (see each kernel)
  int s_max, s_shift; // the luma's samples: largest value (255: bytes, more: 16-bit words),
                      // and their shift in the word
  float in_scale;  // to_float's factor, the CPU's 1 / s_max
} pc;

// The list counts sit at the start of the list buffer, list i at LIST_BASE + i * n_tiles.
const int LIST_BASE = 64;

// The first pixel of tile t and its size (edge tiles are clipped to the frame).
ivec4 tile_rect(int t) {
  int x0 = (t % pc.tiles_x) * pc.T, y0 = (t / pc.tiles_x) * pc.T;
  return ivec4(x0, y0, min(pc.T, pc.W - x0), min(pc.T, pc.H - y0));
}
