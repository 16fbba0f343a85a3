// adaptive_warp: the per-element math, shared by the CPU and CUDA kernels
// (DAIN's adaptive warping layer, FilterInterpolation).
//
// At pixel p = (x, y) with flow (u, v) the sample point is (x', y') = (x+u, y+v).
// It is valid if finite, inside [0, W-1] x [0, H-1], |u| < W/2 and |v| < H/2.
// Valid: X = floor(x'), Y = floor(y'), a = x'-X, b = y'-Y; tap (m, n) of the
// F x F window reads I[clamp(Y-F/2+1+m), clamp(X-F/2+1+n)] with weight
// kernel[F*m+n]; the four quadrant sums S_TL, S_TR, S_BL, S_BR (m < F/2 or not,
// n < F/2 or not) are blended bilinearly:
//   O = (1-a)(1-b) S_TL + a(1-b) S_TR + (1-a)b S_BL + ab S_BR.
// Invalid: O = I(p), a copy (input gradient: the identity).
//
// Every output is then a weighted sum of F*F taps, O = sum_t w_t I[offset_t]
// with w_t = kernel_t * blend weight of t's quadrant (valid), or w_0 = 1 at
// offset p and all other w_t = 0 (invalid). The backward needs, per tap,
// R_t = sum_c g_c I_c[offset_t] (one read of the window per channel):
//   dL/dkernel_t = blend weight of t's quadrant * R_t
//   dL/du = (1-b)(K_TR - K_TL) + b(K_BR - K_BL),
//   dL/dv = (1-a)(K_BL - K_TL) + a(K_BR - K_TR), with K_q = sum_{t in q} kernel_t R_t,
// and nothing to kernel and flow at invalid pixels.
#pragma once

#include "common.h"

namespace vfi_ops {

template <typename acc_t, typename index_t>
struct AdaptiveWindow {
  index_t top, left;  // row and column of tap (0, 0) before clamping: Y-F/2+1, X-F/2+1
  index_t self;       // y * W + x, where an invalid pixel copies from
  acc_t a, b;         // position in the cell, in [0, 1)
  bool valid;
};

// The window of pixel (x, y) with flow (u, v) in an H x W image. The validity
// test comes before any conversion to an index, so NaN, infinite and huge
// flows are invalid, never an address; a second test in integers drops what
// rounding (beyond 2^24 in float32) put past the edge.
//
// At exact positions: x' = W-1 (or y' = H-1) is valid, with X = W-1 and a = 0;
// |u| = W/2 (or |v| = H/2) is invalid. On an integer x' the window is that of
// the cell [x', x'+1] (a = 0), so the flow gradient there is the derivative
// from the right, within that window (at x' = W-1, where moving right would
// make the pixel invalid, it is still that window's derivative).
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE AdaptiveWindow<acc_t, index_t> adaptive_window(index_t x, index_t y, acc_t u, acc_t v, index_t H,
                                                               index_t W, int F) {
  const acc_t xs = static_cast<acc_t>(x) + u, ys = static_cast<acc_t>(y) + v;
  const acc_t half_w = static_cast<acc_t>(W) / acc_t(2), half_h = static_cast<acc_t>(H) / acc_t(2);
  const bool in = (xs >= acc_t(0)) & (xs <= static_cast<acc_t>(W - 1)) & (ys >= acc_t(0)) &
                  (ys <= static_cast<acc_t>(H - 1)) & (u < half_w) & (-u < half_w) & (v < half_h) & (-v < half_h);
  // xs, ys >= 0 here, so truncation is floor.
  const index_t X = in ? static_cast<index_t>(xs) : index_t(0);
  const index_t Y = in ? static_cast<index_t>(ys) : index_t(0);
  const bool valid = in & (X <= W - 1) & (Y <= H - 1);
  AdaptiveWindow<acc_t, index_t> win;
  win.top = Y - F / 2 + 1;
  win.left = X - F / 2 + 1;
  win.self = y * W + x;
  win.a = valid ? xs - static_cast<acc_t>(X) : acc_t(0);
  win.b = valid ? ys - static_cast<acc_t>(Y) : acc_t(0);
  win.valid = valid;
  return win;
}

// Plane offset of tap (m, n): clamped into the image (replicate), or p itself
// at an invalid pixel.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE index_t adaptive_tap_offset(const AdaptiveWindow<acc_t, index_t>& win, int m, int n, index_t H,
                                            index_t W) {
  const index_t row = clamp_value<index_t>(win.top + m, 0, H - 1);
  const index_t col = clamp_value<index_t>(win.left + n, 0, W - 1);
  return win.valid ? row * W + col : win.self;
}

// Quadrant of tap (m, n): 0 TL, 1 TR, 2 BL, 3 BR.
VFI_HOST_DEVICE int adaptive_quadrant(int m, int n, int F) { return (m >= F / 2 ? 2 : 0) + (n >= F / 2 ? 1 : 0); }

// Bilinear blend weight of each quadrant; all 0 at an invalid pixel.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void adaptive_blend_weights(const AdaptiveWindow<acc_t, index_t>& win, acc_t bw[4]) {
  const acc_t a = win.a, b = win.b, one(1), zero(0);
  bw[0] = win.valid ? (one - a) * (one - b) : zero;
  bw[1] = win.valid ? a * (one - b) : zero;
  bw[2] = win.valid ? (one - a) * b : zero;
  bw[3] = win.valid ? a * b : zero;
}

// w_t of tap (m, n) with kernel value k; bw_q is the blend weight of the tap's
// quadrant (adaptive_blend_weights, adaptive_quadrant). O = sum_t w_t I[offset_t].
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE acc_t adaptive_tap_weight(const AdaptiveWindow<acc_t, index_t>& win, acc_t bw_q, acc_t k, int m,
                                          int n) {
  const acc_t copy = (m == 0) & (n == 0) ? acc_t(1) : acc_t(0);
  // Computed unconditionally: a conditional floating-point operation would keep
  // compilers from turning the select into vector code (it might trap).
  const acc_t weighted = k * bw_q;
  return win.valid ? weighted : copy;
}

// The backward of tap t from its tap product r = R_t: the kernel gradient
// (bw_q: the blend weight of t's quadrant, 0 at invalid pixels) ...
template <typename acc_t>
VFI_HOST_DEVICE acc_t adaptive_kernel_grad(acc_t bw_q, acc_t r) {
  return bw_q * r;
}

// ... and its term kernel_t * R_t of K_q, its quadrant's sum.
template <typename acc_t>
VFI_HOST_DEVICE acc_t adaptive_quadrant_term(acc_t k, acc_t r) {
  return k * r;
}

// Flow gradient from K_q = sum over the taps t of quadrant q of kernel_t * R_t.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE void adaptive_flow_grad(const AdaptiveWindow<acc_t, index_t>& win, const acc_t K[4], acc_t& du,
                                        acc_t& dv) {
  const acc_t a = win.a, b = win.b, one(1);
  du = win.valid ? (one - b) * (K[1] - K[0]) + b * (K[3] - K[2]) : acc_t(0);
  dv = win.valid ? (one - a) * (K[2] - K[0]) + a * (K[3] - K[1]) : acc_t(0);
}

}  // namespace vfi_ops
