// sparse_masked_conv2d: the index math shared by the CPU and CUDA kernels.
//
// The convolution is computed as a GEMM over the active output positions only:
//   cols   the patches of the active positions: input[b, ci, iy, ix] (0 in the
//          padding) for patch row k and active position j;
//   values sum_k weight[c, k] * cols[k, j]   (per group);
//   output[b, c, oy, ox] = values[c, j] + bias[c].
// Position j is the flat index (b * H_out + oy) * W_out + ox of the j-th active
// output element of the mask, in increasing order.
//
// The tensors are either all NCHW (contiguous) or all NHWC (channels-last), and
// the matrices follow, so that each one's fastest index walks memory in order:
//   NCHW: cols [K, n] with k = (ci * kh + ky) * kw + kx (weight's own order);
//         values [C_out, n].
//   NHWC: cols [n, K] with k = ((group * kh + ky) * kw + kx) * C_in_g + ci_g,
//         ci = group * C_in_g + ci_g (one tap of one group is a run of
//         channels, contiguous in the input); values [n, C_out].
#pragma once

#include <cstdint>

#include "common.h"

namespace vfi_ops {

// Shapes and convolution parameters, in the index type of the kernels.
template <typename index_t>
struct ConvGeometry {
  index_t C_in, H, W, C_out, H_out, W_out, C_in_g;  // C_in_g: input channels per group
  int kh, kw, sh, sw, ph, pw, dh, dw;
  bool channels_last;
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

// The offset of [b, c, y, x] in a [B, C, H, W] tensor, NCHW or NHWC.
template <typename index_t>
VFI_HOST_DEVICE index_t tensor_offset(index_t b, index_t c, index_t y, index_t x, index_t C, index_t H, index_t W,
                                      bool channels_last) {
  return channels_last ? ((b * H + y) * W + x) * C + c : ((b * C + c) * H + y) * W + x;
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

// The offset in input read by tap (ky, kx) of channel ci at position p, or -1
// where the tap falls in the padding.
template <typename index_t>
VFI_HOST_DEVICE index_t patch_offset_at(const OutputPosition<index_t>& p, index_t ci, int ky, int kx,
                                        const ConvGeometry<index_t>& g) {
  const index_t iy = patch_row(p.oy, ky, g), ix = patch_col(p.ox, kx, g);
  if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return -1;
  return tensor_offset(p.b, ci, iy, ix, g.C_in, g.H, g.W, g.channels_last);
}

// NHWC: the patch row of channel ci_g of `group` at tap t = ky * kw + kx
// (patch_offset below reads it back).
template <typename index_t>
VFI_HOST_DEVICE index_t nhwc_patch_row(index_t group, index_t t, index_t ci_g, index_t taps, index_t C_in_g) {
  return (group * taps + t) * C_in_g + ci_g;
}

// The same for patch row k, in the layout's order (see above).
template <typename index_t>
VFI_HOST_DEVICE index_t patch_offset(index_t k, const OutputPosition<index_t>& p, const ConvGeometry<index_t>& g) {
  if (g.channels_last) {
    const index_t tap_group = k / g.C_in_g, taps = static_cast<index_t>(g.kh) * g.kw;
    const index_t group = tap_group / taps, tap = tap_group % taps;
    return patch_offset_at(p, group * g.C_in_g + k % g.C_in_g, static_cast<int>(tap / g.kw),
                           static_cast<int>(tap % g.kw), g);
  }
  const index_t rest = k / g.kw;
  return patch_offset_at(p, rest / g.kh, static_cast<int>(rest % g.kh), static_cast<int>(k % g.kw), g);
}

// The offset in output [B, C_out, H_out, W_out] of channel c at position p.
template <typename index_t>
VFI_HOST_DEVICE index_t output_offset(index_t c, const OutputPosition<index_t>& p, const ConvGeometry<index_t>& g) {
  return tensor_offset(p.b, c, p.oy, p.ox, g.C_out, g.H_out, g.W_out, g.channels_last);
}

// Element i of a matrix of `rows` rows (patch rows or channels) by n positions,
// stored in the layout's order: its row and its position j.
template <typename index_t>
struct MatrixEntry {
  index_t row, j;
};

template <typename index_t>
VFI_HOST_DEVICE MatrixEntry<index_t> matrix_entry(index_t i, index_t rows, index_t n, bool channels_last) {
  return channels_last ? MatrixEntry<index_t>{i % rows, i / rows} : MatrixEntry<index_t>{i / n, i % n};
}

}  // namespace vfi_ops
