// sparse_masked_conv2d: the index math shared by the CPU and CUDA kernels.
//
// The convolution is computed as a GEMM over the active output positions only:
//   cols[k, j]  = input[b, ci, iy, ix]  (0 in the padding), the patch of active
//                 position j, with row k = (ci * kh + ky) * kw + kx;
//   out[c, j]   = sum_k weight[c, k] * cols[k, j]   (per group);
//   output[b, c, oy, ox] = out[c, j] + bias[c].
// Position j is the flat index (b * H_out + oy) * W_out + ox of the j-th active
// output element of the mask, in increasing order.
#pragma once

#include <cstdint>

#include "common.h"

namespace vfi_ops {

// Shapes and convolution parameters, in the index type of the kernels.
template <typename index_t>
struct ConvGeometry {
  index_t C_in, H, W, H_out, W_out;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};

template <typename index_t>
struct OutputPosition {
  index_t b, oy, ox;
};

template <typename index_t>
VFI_HOST_DEVICE OutputPosition<index_t> output_position(int64_t flat, const ConvGeometry<index_t>& g) {
  const index_t f = static_cast<index_t>(flat);
  const index_t ox = f % g.W_out, rows = f / g.W_out;
  return {rows / g.H_out, rows % g.H_out, ox};
}

// The input row and column read by kernel tap (ky, kx) at output (oy, ox);
// outside [0, H) x [0, W) they are zero padding.
template <typename index_t>
VFI_HOST_DEVICE index_t patch_row(index_t oy, int ky, const ConvGeometry<index_t>& g) {
  return oy * g.sh - g.ph + static_cast<index_t>(ky) * g.dh;
}

template <typename index_t>
VFI_HOST_DEVICE index_t patch_col(index_t ox, int kx, const ConvGeometry<index_t>& g) {
  return ox * g.sw - g.pw + static_cast<index_t>(kx) * g.dw;
}

// The offset in input [B, C_in, H, W] read by tap (ky, kx) of channel ci at
// position p, or -1 where the tap falls in the padding.
template <typename index_t>
VFI_HOST_DEVICE index_t patch_offset_at(const OutputPosition<index_t>& p, index_t ci, int ky, int kx,
                                        const ConvGeometry<index_t>& g) {
  const index_t iy = patch_row(p.oy, ky, g), ix = patch_col(p.ox, kx, g);
  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return -1;
  return ((p.b * g.C_in + ci) * g.H + iy) * g.W + ix;
}

// The same for cols[k, j], k = (ci * kh + ky) * kw + kx.
template <typename index_t>
VFI_HOST_DEVICE index_t patch_offset(index_t k, const OutputPosition<index_t>& p, const ConvGeometry<index_t>& g) {
  const index_t rest = k / g.kw;
  return patch_offset_at(p, rest / g.kh, static_cast<int>(rest % g.kh), static_cast<int>(k % g.kw), g);
}

// The offset in output [B, C_out, H_out, W_out] of channel c at position p.
template <typename index_t>
VFI_HOST_DEVICE index_t output_offset(index_t c, index_t C_out, const OutputPosition<index_t>& p,
                                      const ConvGeometry<index_t>& g) {
  return ((p.b * C_out + c) * g.H_out + p.oy) * g.W_out + p.ox;
}

}  // namespace vfi_ops
