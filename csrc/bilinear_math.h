// Bilinear sampling of one H x W plane at a real-valued position (x, y),
// with pixel centres at integer coordinates (grid_sample's align_corners=True).
// Host and device code share these functions; callers do their own scatter.
#pragma once

#include "common.h"

namespace vfi_ops {

enum class Padding : int { Zeros = 0, Border = 1 };

// The four taps of one sample, in the order top-left, top-right, bottom-left,
// bottom-right. A tap outside the plane has mask 0, weight 0 and offset 0, so
// callers can read and write through every offset without branches and never
// leave the plane.
template <typename acc_t, typename index_t>
struct BilinearTaps {
  index_t offset[4];  // y * W + x of each tap
  acc_t w[4];         // bilinear weight of each tap (0 outside the plane)
  acc_t mask[4];      // 1 inside the plane, 0 outside
  acc_t ax, ay;       // position inside the cell, in [0, 1)
  acc_t dx, dy;       // d(sampled x)/d(x), d(sampled y)/d(y): 0 where border clamping holds it
};

// Taps of the sample at (x, y) in an H x W plane (H, W >= 1).
// "zeros": taps outside the plane contribute 0. "border": (x, y) is first clamped
// into the plane. NaN, infinite and huge coordinates are tested before any
// conversion to an integer, so they can never become an address.
//
// At exact positions (grid_sample's conventions): the cell of x is
// [floor(x), floor(x) + 1], so on an integer the weight is all on one tap and the
// derivative is that of the cell to the right (a tap outside the plane counting
// as 0 in "zeros" mode); in "border" mode the derivative is 0 wherever the
// position is clamped, the border itself (x <= 0 or x >= W - 1) included.
// Each tap is tested against the plane with integers, so no rounding of a
// float position (beyond 2^24 in float32) can make an address outside it.
//
// Written with selects instead of branches: no divergence on GPUs, no
// mispredicted jumps on CPUs.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE BilinearTaps<acc_t, index_t> bilinear_taps(acc_t x, acc_t y, index_t H, index_t W, Padding padding) {
  const acc_t zero(0), one(1);
  const acc_t w_max = static_cast<acc_t>(W - 1);
  const acc_t h_max = static_cast<acc_t>(H - 1);
  const bool border = padding == Padding::Border;
  // Border: clamp (NaN stays NaN and fails the range test below) and stop the
  // gradient where clamping holds the position, the border included.
  // (Bitwise & on bools: no short-circuit jumps.)
  const acc_t dx = border & !((x > zero) & (x < w_max)) ? zero : one;
  const acc_t dy = border & !((y > zero) & (y < h_max)) ? zero : one;
  const acc_t x_clamped = clamp_value(x, zero, w_max), y_clamped = clamp_value(y, zero, h_max);
  x = border ? x_clamped : x;
  y = border ? y_clamped : y;
  // Some tap is inside, or has a derivative, only if -1 <= x < W and -1 <= y < H;
  // NaN fails the test too.
  const bool in = (x >= -one) & (x < w_max + one) & (y >= -one) & (y < h_max + one);
  x = in ? x : zero;  // now safe to convert to an index
  y = in ? y : zero;
  const index_t x0 = floor_index<index_t>(x);
  const index_t y0 = floor_index<index_t>(y);
  const bool left = (x0 >= 0) & (x0 < W), right = (x0 + 1 >= 0) & (x0 + 1 < W);
  const bool top = (y0 >= 0) & (y0 < H), bottom = (y0 + 1 >= 0) & (y0 + 1 < H);
  const bool inside[4] = {bool(in & top & left), bool(in & top & right), bool(in & bottom & left),
                          bool(in & bottom & right)};
  const index_t offset[4] = {y0 * W + x0, y0 * W + x0 + 1, (y0 + 1) * W + x0, (y0 + 1) * W + x0 + 1};
  BilinearTaps<acc_t, index_t> t;
  t.ax = in ? x - static_cast<acc_t>(x0) : zero;
  t.ay = in ? y - static_cast<acc_t>(y0) : zero;
  t.dx = in ? dx : zero;
  t.dy = in ? dy : zero;
  const acc_t bx = one - t.ax, by = one - t.ay;
  const acc_t w[4] = {bx * by, t.ax * by, bx * t.ay, t.ax * t.ay};
  for (int k = 0; k < 4; ++k) {
    t.offset[k] = inside[k] ? offset[k] : index_t(0);
    t.mask[k] = inside[k] ? one : zero;
    t.w[k] = inside[k] ? w[k] : zero;
  }
  return t;
}

// sum_k c[k] * v[k] over the four tap values v: the sample itself with c = the
// weights, or its derivative with c = the gradient coefficients below.
template <typename acc_t>
VFI_HOST_DEVICE acc_t tap_dot(const acc_t c[4], const acc_t v[4]) {
  return c[0] * v[0] + c[1] * v[1] + c[2] * v[2] + c[3] * v[3];
}

// The values at the four taps; 0 for a tap outside the plane, whatever its
// offset (0) holds: an inf or NaN there must not reach samples that only have
// taps outside next to it (0 * inf is NaN).
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE void tap_values(const BilinearTaps<acc_t, index_t>& t, const scalar_t* plane, acc_t v[4]) {
  for (int k = 0; k < 4; ++k) v[k] = t.mask[k] != acc_t(0) ? static_cast<acc_t>(plane[t.offset[k]]) : acc_t(0);
}

template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t bilinear_sample(const BilinearTaps<acc_t, index_t>& t, const scalar_t* plane) {
  acc_t v[4];
  tap_values(t, plane, v);
  return tap_dot(t.w, v);
}

// Coefficients c such that d(sample)/dx = sum_k cx[k] * plane[offset[k]] (same for y),
// including the border-clamping factors dx, dy.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void bilinear_grad_coeffs(const BilinearTaps<acc_t, index_t>& t, acc_t cx[4], acc_t cy[4]) {
  const acc_t by = (acc_t(1) - t.ay) * t.dx, ay = t.ay * t.dx;
  const acc_t bx = (acc_t(1) - t.ax) * t.dy, ax = t.ax * t.dy;
  cx[0] = -by * t.mask[0];
  cx[1] = by * t.mask[1];
  cx[2] = -ay * t.mask[2];
  cx[3] = ay * t.mask[3];
  cy[0] = -bx * t.mask[0];
  cy[1] = -ax * t.mask[1];
  cy[2] = bx * t.mask[2];
  cy[3] = ax * t.mask[3];
}

}  // namespace vfi_ops
