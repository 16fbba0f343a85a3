// adacof: the per-element math, shared by the CPU and CUDA kernels (AdaCoF,
// Lee et al., CVPR 2020: adaptive collaboration of flows; CDFI reuses it).
//
//   out[b, c, y, x] = sum_{t = iF+j} weight[b, t, y, x] * S_t,
//   S_t = bilinear(input[b, c], y + i*d + offset_y[b, t, y, x], x + j*d + offset_x[b, t, y, x])
//
// with the input padded by the caller ([B, C, H+(F-1)d, W+(F-1)d]).
//
// Tap t samples at (py, px) = (y + i*d + oy, x + j*d + ox). With oy' the offset
// clamped so that py lies in [-1, Hin-1] (outside it both taps of a row are the
// border's, so the value and its zero derivative are the same), Y = y + i*d +
// floor(oy') and b = oy' - floor(oy') (likewise X, a); the four taps are rows
// clamp(Y), clamp(Y+1) and columns clamp(X), clamp(X+1), clamped into the input
// (AdaCoF's replicate border), weighed (1-a)(1-b), a(1-b), (1-a)b, ab. With
// `truncate`, floor becomes truncation toward zero (AdaCoF's `(int) offset`), so
// that a negative fractional offset has b in (-1, 0): it extrapolates from rows
// Y and Y+1 instead of interpolating between Y-1 and Y. A NaN offset gives S_t = 0
// and no gradient (never an address).
//
// Gradients, with g = grad_output[b, c, y, x] and I00 .. I11 the four tap values:
//   dL/dweight_t   = sum_c g * S_t
//   dL/doffset_y_t = weight_t * sum_c g * ((1-a)(I10 - I00) + a(I11 - I01))
//   dL/doffset_x_t = weight_t * sum_c g * ((1-b)(I01 - I00) + b(I11 - I10))
//   dL/dinput      : g * weight_t * (tap weight) scattered to the four taps.
// On an integer position a = 0 (or b = 0): the cell to the right (below), whose
// derivative is the one-sided one from the right, as backward_warp.
#pragma once

#include "common.h"

namespace vfi_ops {

template <typename acc_t, typename index_t>
struct AdacofTap {
  index_t o00, o01, o10, o11;  // plane offsets of (top, left), (top, right), (bottom, left), (bottom, right)
  acc_t a, b;                  // position in the cell along x and y
  bool finite;                 // false for a NaN offset: the sample is 0
};

// The row (or column) of tap t's cell and its fraction, along one axis: base =
// y + i*d (or x + j*d), n = Hin (or Win).
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void adacof_axis(index_t base, acc_t offset, index_t n, bool truncate, index_t& first, acc_t& frac) {
  const acc_t lo = static_cast<acc_t>(-1 - base), hi = static_cast<acc_t>(n - 1 - base);
  const acc_t o = clamp_value(offset, lo, hi);  // NaN is handled by the caller
  const index_t whole = truncate ? static_cast<index_t>(o) : floor_index<index_t>(o);
  frac = o - static_cast<acc_t>(whole);
  first = base + whole;
}

template <typename acc_t, typename index_t>
VFI_HOST_DEVICE AdacofTap<acc_t, index_t> adacof_tap(index_t y, index_t x, int i, int j, int dilation, acc_t oy,
                                                     acc_t ox, index_t Hin, index_t Win, bool truncate) {
  AdacofTap<acc_t, index_t> t;
  t.finite = (oy == oy) & (ox == ox);
  index_t Y, X;
  adacof_axis<acc_t, index_t>(y + index_t(i) * dilation, t.finite ? oy : acc_t(0), Hin, truncate, Y, t.b);
  adacof_axis<acc_t, index_t>(x + index_t(j) * dilation, t.finite ? ox : acc_t(0), Win, truncate, X, t.a);
  const index_t r0 = clamp_value<index_t>(Y, 0, Hin - 1) * Win, r1 = clamp_value<index_t>(Y + 1, 0, Hin - 1) * Win;
  const index_t c0 = clamp_value<index_t>(X, 0, Win - 1), c1 = clamp_value<index_t>(X + 1, 0, Win - 1);
  t.o00 = r0 + c0;
  t.o01 = r0 + c1;
  t.o10 = r1 + c0;
  t.o11 = r1 + c1;
  return t;
}

// The four tap weights (1-a)(1-b), a(1-b), (1-a)b, ab; all 0 for a NaN offset.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void adacof_tap_weights(const AdacofTap<acc_t, index_t>& t, acc_t w[4]) {
  const acc_t one(1), zero(0);
  w[0] = t.finite ? (one - t.a) * (one - t.b) : zero;
  w[1] = t.finite ? t.a * (one - t.b) : zero;
  w[2] = t.finite ? (one - t.a) * t.b : zero;
  w[3] = t.finite ? t.a * t.b : zero;
}

// S_t in one plane.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t adacof_sample(const AdacofTap<acc_t, index_t>& t, const scalar_t* plane) {
  acc_t w[4];
  adacof_tap_weights(t, w);
  return w[0] * static_cast<acc_t>(plane[t.o00]) + w[1] * static_cast<acc_t>(plane[t.o01]) +
         w[2] * static_cast<acc_t>(plane[t.o10]) + w[3] * static_cast<acc_t>(plane[t.o11]);
}

// S_t and its derivatives along y and x in one plane, times g, added to s, dy, dx.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE void adacof_sample_grads(const AdacofTap<acc_t, index_t>& t, const scalar_t* plane, acc_t g, acc_t& s,
                                         acc_t& dy, acc_t& dx) {
  const acc_t one(1), zero(0);
  const acc_t i00 = static_cast<acc_t>(plane[t.o00]), i01 = static_cast<acc_t>(plane[t.o01]);
  const acc_t i10 = static_cast<acc_t>(plane[t.o10]), i11 = static_cast<acc_t>(plane[t.o11]);
  s += g * adacof_sample(t, plane);
  dy += t.finite ? g * ((one - t.a) * (i10 - i00) + t.a * (i11 - i01)) : zero;
  dx += t.finite ? g * ((one - t.b) * (i01 - i00) + t.b * (i11 - i10)) : zero;
}

}  // namespace vfi_ops
