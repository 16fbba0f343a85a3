// Bilinear sampling of one H x W plane at a real-valued position (x, y),
// with pixel centres at integer coordinates (grid_sample's align_corners=True).
// Host and device code share these functions; callers do their own scatter.
#pragma once

#include "common.h"

namespace vfi_ops {

enum class Padding : int { Zeros = 0, Border = 1 };

// The four taps of one sample, in the order top-left, top-right, bottom-left,
// bottom-right. A tap outside the plane has mask 0 and offset 0, so callers can
// read and write through every offset without branches and never leave the plane.
template <typename acc_t, typename index_t>
struct BilinearTaps {
  index_t offset[4];  // y * W + x of each tap
  acc_t mask[4];      // 1 inside the plane, 0 outside
  acc_t ax, ay;       // position inside the cell, in [0, 1)
  acc_t dx, dy;       // d(sampled x)/d(x), d(sampled y)/d(y): 0 where border clamping holds it
};

// Taps of the sample at (x, y) in an H x W plane (H, W >= 1).
// "zeros": taps outside the plane contribute 0. "border": (x, y) is first clamped
// into the plane. NaN, infinite and huge coordinates are tested before any
// conversion to an integer, so they can never become an address.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE BilinearTaps<acc_t, index_t> bilinear_taps(acc_t x, acc_t y, index_t H, index_t W, Padding padding) {
  BilinearTaps<acc_t, index_t> t;
  for (int k = 0; k < 4; ++k) {
    t.offset[k] = 0;
    t.mask[k] = acc_t(0);
  }
  t.ax = t.ay = t.dx = t.dy = acc_t(0);
  const acc_t w_max = static_cast<acc_t>(W - 1);
  const acc_t h_max = static_cast<acc_t>(H - 1);
  acc_t dx = acc_t(1), dy = acc_t(1);
  if (padding == Padding::Border) {
    if (is_nan(x) || is_nan(y)) return t;  // nothing to clamp to: out of range
    dx = (x < acc_t(0) || x > w_max) ? acc_t(0) : acc_t(1);
    dy = (y < acc_t(0) || y > h_max) ? acc_t(0) : acc_t(1);
    x = clamp_value(x, acc_t(0), w_max);
    y = clamp_value(y, acc_t(0), h_max);
  }
  // Some tap is inside only if -1 < x < W and -1 < y < H; NaN fails the test too.
  if (!(x > acc_t(-1) && x < w_max + acc_t(1) && y > acc_t(-1) && y < h_max + acc_t(1))) return t;
  const acc_t fx = floor_value(x);
  const acc_t fy = floor_value(y);
  const index_t x0 = static_cast<index_t>(fx);  // in [-1, W - 1]
  const index_t y0 = static_cast<index_t>(fy);  // in [-1, H - 1]
  const bool left = x0 >= 0, right = x0 + 1 < W, top = y0 >= 0, bottom = y0 + 1 < H;
  const bool inside[4] = {top && left, top && right, bottom && left, bottom && right};
  const index_t offset[4] = {y0 * W + x0, y0 * W + x0 + 1, (y0 + 1) * W + x0, (y0 + 1) * W + x0 + 1};
  for (int k = 0; k < 4; ++k) {
    t.offset[k] = inside[k] ? offset[k] : index_t(0);
    t.mask[k] = inside[k] ? acc_t(1) : acc_t(0);
  }
  t.ax = x - fx;
  t.ay = y - fy;
  t.dx = dx;
  t.dy = dy;
  return t;
}

// The weight of each tap (0 for taps outside the plane).
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void bilinear_weights(const BilinearTaps<acc_t, index_t>& t, acc_t w[4]) {
  const acc_t bx = acc_t(1) - t.ax, by = acc_t(1) - t.ay;
  w[0] = t.mask[0] * bx * by;
  w[1] = t.mask[1] * t.ax * by;
  w[2] = t.mask[2] * bx * t.ay;
  w[3] = t.mask[3] * t.ax * t.ay;
}

template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t bilinear_sample(const BilinearTaps<acc_t, index_t>& t, const scalar_t* plane) {
  acc_t w[4];
  bilinear_weights(t, w);
  acc_t sum = acc_t(0);
  for (int k = 0; k < 4; ++k) sum += w[k] * static_cast<acc_t>(plane[t.offset[k]]);
  return sum;
}

// Derivatives of the sampled value with respect to the sample's x and y
// (before border clamping; multiply by t.dx, t.dy for the clamped ones).
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE void bilinear_sample_grad_xy(const BilinearTaps<acc_t, index_t>& t, const scalar_t* plane, acc_t& gx,
                                             acc_t& gy) {
  acc_t v[4];
  for (int k = 0; k < 4; ++k) v[k] = t.mask[k] * static_cast<acc_t>(plane[t.offset[k]]);
  gx = (acc_t(1) - t.ay) * (v[1] - v[0]) + t.ay * (v[3] - v[2]);
  gy = (acc_t(1) - t.ax) * (v[2] - v[0]) + t.ax * (v[3] - v[1]);
}

}  // namespace vfi_ops
