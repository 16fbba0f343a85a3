// corr_lookup: the per-element math, shared by the CPU and CUDA kernels.
//
//   out[b, (j+r)(2r+1) + (i+r), y, x] =
//       sum_c fmap1[b, c, y, x] * bilinear(fmap2[b, c], cx + i, cy + j)
//
// with (cx, cy) = coords[b, :, y, x], i, j in [-r, r], and taps outside fmap2
// counting 0. All (2r+1)^2 samples of a pixel share one fraction: with
// X = floor(cx), a = cx - X (Y, b likewise), sample (i, j) blends the products
// D(u, v) = sum_c fmap1[c, y, x] * fmap2[c, v, u] at u in {X+i, X+i+1},
// v in {Y+j, Y+j+1}. So a pixel needs the (2r+2)^2 products of its window
// (the CPU kernels compute each once), or four per sample (the CUDA kernels).
#pragma once

#include "common.h"

namespace vfi_ops {

// The window of one pixel: left/top integer corner and fraction; `valid` is
// false for a NaN or infinite coordinate and for one so far out that no sample
// has a tap (or a derivative) inside: then the output and every gradient of
// the pixel are 0. The tests run in floating point, before any conversion.
template <typename acc_t, typename index_t>
struct LookupWindow {
  index_t X, Y;
  acc_t a, b;
  bool valid;
};

template <typename acc_t, typename index_t>
VFI_HOST_DEVICE LookupWindow<acc_t, index_t> lookup_window(acc_t cx, acc_t cy, index_t H2, index_t W2, index_t r) {
  const acc_t reach = static_cast<acc_t>(r + 1);
  // Some sample's cell [x, x+1] touches [0, W2-1] iff -(r+1) <= cx < W2 + r (NaN fails).
  const bool valid = (cx >= -reach) & (cx < static_cast<acc_t>(W2) + reach - acc_t(1)) & (cy >= -reach) &
                     (cy < static_cast<acc_t>(H2) + reach - acc_t(1));
  LookupWindow<acc_t, index_t> w;
  cx = valid ? cx : acc_t(0);
  cy = valid ? cy : acc_t(0);
  w.X = floor_index<index_t>(cx);
  w.Y = floor_index<index_t>(cy);
  w.a = cx - static_cast<acc_t>(w.X);
  w.b = cy - static_cast<acc_t>(w.Y);
  w.valid = valid;
  return w;
}

// The bilinear weights of the four taps (top-left, top-right, bottom-left, bottom-right).
template <typename acc_t>
VFI_HOST_DEVICE void lookup_weights(acc_t a, acc_t b, acc_t w[4]) {
  w[0] = (acc_t(1) - a) * (acc_t(1) - b);
  w[1] = a * (acc_t(1) - b);
  w[2] = (acc_t(1) - a) * b;
  w[3] = a * b;
}

// One sample from the products d[4] at its taps.
template <typename acc_t>
VFI_HOST_DEVICE acc_t lookup_blend(const acc_t w[4], const acc_t d[4]) {
  return w[0] * d[0] + w[1] * d[1] + w[2] * d[2] + w[3] * d[3];
}

// Adds g * d(sample)/d(cx) to gx and g * d(sample)/d(cy) to gy (the cell's
// derivative: on an integer, the cell to the right / below).
template <typename acc_t>
VFI_HOST_DEVICE void lookup_coords_grad(acc_t a, acc_t b, const acc_t d[4], acc_t g, acc_t& gx, acc_t& gy) {
  gx += g * ((acc_t(1) - b) * (d[1] - d[0]) + b * (d[3] - d[2]));
  gy += g * ((acc_t(1) - a) * (d[2] - d[0]) + a * (d[3] - d[1]));
}

// Whether fmap2 pixel (u, v) exists.
template <typename index_t>
VFI_HOST_DEVICE bool lookup_inside(index_t u, index_t v, index_t H2, index_t W2) {
  return u >= 0 && u < W2 && v >= 0 && v < H2;
}

// The product D(u, v) of one pixel of fmap1 with one of fmap2: `f1` and `f2`
// point at channel 0, channels `step1` and `step2` elements apart.
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE acc_t lookup_dot(const scalar_t* f1, index_t step1, const scalar_t* f2, index_t step2, index_t C) {
  acc_t sum = acc_t(0);
  for (index_t c = 0; c < C; ++c) sum += static_cast<acc_t>(f1[c * step1]) * static_cast<acc_t>(f2[c * step2]);
  return sum;
}

}  // namespace vfi_ops
