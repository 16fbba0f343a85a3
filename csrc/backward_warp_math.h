// backward_warp: the per-element math, shared by the CPU and CUDA kernels.
//
//   out[b, c, y, x] = bilinear(input[b, c], x + flow[b, 0, y, x], y + flow[b, 1, y, x])
//
// Input planes are Hin x Win, flow and output planes H x W (the sizes may differ).
//
// The CUDA kernels call these functions per element. The CPU kernels apply the
// same formulas a row at a time through the row taps (cpu/row_taps.h), vectorised
// where the CPU has AVX2, with results bitwise those of these definitions.
#pragma once

#include "bilinear_math.h"

namespace vfi_ops {

// Where output pixel (x, y) samples its input planes. `flow_b` points at the
// [2, H, W] flow of one batch item.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE BilinearTaps<acc_t, index_t> backward_warp_taps(const scalar_t* flow_b, index_t x, index_t y, index_t H,
                                                                index_t W, index_t Hin, index_t Win, Padding padding) {
  const index_t p = y * W + x;
  const acc_t sx = static_cast<acc_t>(x) + static_cast<acc_t>(flow_b[p]);
  const acc_t sy = static_cast<acc_t>(y) + static_cast<acc_t>(flow_b[H * W + p]);
  return bilinear_taps<acc_t, index_t>(sx, sy, Hin, Win, padding);
}

// Forward value of one output element; `input_plane` is input[b, c].
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t backward_warp_value(const BilinearTaps<acc_t, index_t>& taps, const scalar_t* input_plane) {
  return bilinear_sample(taps, input_plane);
}

// Backward of one output element with incoming gradient g: the input gradient
// is g * taps.w[k] at input_plane + taps.offset[k] (the caller scatters it), and
// the element's share of the flow gradient, g * d(out)/d(flow), is added to (gu, gv).
// cx, cy come from bilinear_grad_coeffs(taps, cx, cy), computed once per pixel.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE void backward_warp_flow_grad(const BilinearTaps<acc_t, index_t>& taps, const acc_t cx[4],
                                             const acc_t cy[4], const scalar_t* input_plane, acc_t g, acc_t& gu,
                                             acc_t& gv) {
  acc_t v[4];
  tap_values(taps, input_plane, v);
  gu += g * tap_dot(cx, v);
  gv += g * tap_dot(cy, v);
}

}  // namespace vfi_ops
