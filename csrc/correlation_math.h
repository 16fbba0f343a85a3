// correlation: the per-element math, shared by the CPU and CUDA kernels.
//
//   out[b, (j+d)(2d+1) + (i+d), yo, xo] =
//       sum_c input1[b, c, yo*s, xo*s] * input2[b, c, yo*s + j*k, xo*s + i*k]
//
// for i (x offset), j (y offset) in [-d, d]; s = stride, k = dilation; a position
// outside input2 contributes 0. Each output element reads one pixel of each
// input, so both gradients are gathers: the element of input1 at (yo*s, xo*s)
// gathers over the output channels of (yo, xo); the element of input2 at (y2, x2)
// gathers over the channels whose displacement leads back to a sampled pixel.
//
// Sums over channels (forward) and over output channels (backward) run in
// ascending order in both backends. The CUDA kernels call the element functions
// below; the CPU kernels compute the same sums a row at a time (the loops over
// x vectorise), with the same geometry (correlation_displacement,
// correlation_columns, correlation_source).
#pragma once

#include "common.h"

namespace vfi_ops {

template <typename index_t>
struct CorrelationSizes {
  index_t B, C, H, W, Ho, Wo;
  index_t d, stride, dilation;
  VFI_HOST_DEVICE index_t side() const { return 2 * d + 1; }
  VFI_HOST_DEVICE index_t channels() const { return side() * side(); }
};

// floor(a / b) and ceil(a / b) for b > 0 and any sign of a.
template <typename index_t>
VFI_HOST_DEVICE index_t floor_div(index_t a, index_t b) {
  const index_t q = a / b;
  return (q * b > a) ? q - 1 : q;
}

template <typename index_t>
VFI_HOST_DEVICE index_t ceil_div(index_t a, index_t b) {
  return -floor_div<index_t>(-a, b);
}

// The displacement (dx, dy), in input pixels, of output channel `ch`.
template <typename index_t>
VFI_HOST_DEVICE void correlation_displacement(const CorrelationSizes<index_t>& s, index_t ch, index_t& dx,
                                              index_t& dy) {
  const index_t n = s.side();
  dy = (ch / n - s.d) * s.dilation;
  dx = (ch % n - s.d) * s.dilation;
}

// The output columns [lo, hi) whose input2 column xo*stride + shift lies in
// [0, extent), clipped to [0, out_extent) (hi == lo when there are none). Rows alike.
template <typename index_t>
VFI_HOST_DEVICE void correlation_columns(index_t shift, index_t extent, index_t stride, index_t out_extent, index_t& lo,
                                         index_t& hi) {
  lo = ceil_div<index_t>(-shift, stride);
  lo = lo < 0 ? index_t(0) : lo;
  hi = floor_div<index_t>(extent - 1 - shift, stride) + 1;
  hi = hi > out_extent ? out_extent : hi;
  hi = hi < lo ? lo : hi;
}

// For an input2 coordinate p2 and a displacement `shift` along the same axis:
// whether p2 - shift is a sampled input1 coordinate o*stride with 0 <= o < out_extent,
// and o.
template <typename index_t>
VFI_HOST_DEVICE bool correlation_source(index_t p2, index_t shift, index_t stride, index_t out_extent, index_t& o) {
  const index_t p1 = p2 - shift;
  o = p1 >= 0 ? p1 / stride : index_t(0);
  return p1 >= 0 && p1 % stride == 0 && o < out_extent;
}

// One output element: `a` and `b` point at channel 0 of the input1 and input2
// pixels, channels `plane` elements apart.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t correlation_dot(const scalar_t* a, const scalar_t* b, index_t C, index_t plane) {
  acc_t sum = acc_t(0);
  for (index_t c = 0; c < C; ++c) sum += static_cast<acc_t>(a[c * plane]) * static_cast<acc_t>(b[c * plane]);
  return sum;
}

// Forward of output element (b, ch, yo, xo); in1, in2 point at batch item b.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t correlation_value(const CorrelationSizes<index_t>& s, const scalar_t* in1, const scalar_t* in2,
                                        index_t ch, index_t yo, index_t xo) {
  index_t dx, dy;
  correlation_displacement(s, ch, dx, dy);
  const index_t y1 = yo * s.stride, x1 = xo * s.stride, y2 = y1 + dy, x2 = x1 + dx;
  if (y2 < 0 || y2 >= s.H || x2 < 0 || x2 >= s.W) return acc_t(0);
  return correlation_dot<acc_t>(in1 + y1 * s.W + x1, in2 + y2 * s.W + x2, s.C, s.H * s.W);
}

// Gradient of input1 at (y1, x1) of one plane: `g` points at grad_output[b, 0]
// ([channels, Ho, Wo]), `in2_plane` at input2[b, c]. 0 where (y1, x1) is not sampled.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t correlation_grad_input1(const CorrelationSizes<index_t>& s, const scalar_t* g,
                                              const scalar_t* in2_plane, index_t y1, index_t x1) {
  acc_t sum = acc_t(0);
  if (y1 % s.stride != 0 || x1 % s.stride != 0) return sum;
  const index_t yo = y1 / s.stride, xo = x1 / s.stride, out_plane = s.Ho * s.Wo;
  for (index_t ch = 0; ch < s.channels(); ++ch) {
    index_t dx, dy;
    correlation_displacement(s, ch, dx, dy);
    const index_t y2 = y1 + dy, x2 = x1 + dx;
    if (y2 < 0 || y2 >= s.H || x2 < 0 || x2 >= s.W) continue;
    sum += static_cast<acc_t>(g[ch * out_plane + yo * s.Wo + xo]) * static_cast<acc_t>(in2_plane[y2 * s.W + x2]);
  }
  return sum;
}

// Gradient of input2 at (y2, x2) of one plane: `g` as above, `in1_plane` at input1[b, c].
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t correlation_grad_input2(const CorrelationSizes<index_t>& s, const scalar_t* g,
                                              const scalar_t* in1_plane, index_t y2, index_t x2) {
  acc_t sum = acc_t(0);
  const index_t out_plane = s.Ho * s.Wo;
  for (index_t ch = 0; ch < s.channels(); ++ch) {
    index_t dx, dy, yo, xo;
    correlation_displacement(s, ch, dx, dy);
    if (!correlation_source(y2, dy, s.stride, s.Ho, yo) || !correlation_source(x2, dx, s.stride, s.Wo, xo)) continue;
    sum += static_cast<acc_t>(g[ch * out_plane + yo * s.Wo + xo]) *
           static_cast<acc_t>(in1_plane[yo * s.stride * s.W + xo * s.stride]);
  }
  return sum;
}

}  // namespace vfi_ops
