// The vectorised routines of cpu/row_taps.h, written with ATen's portable SIMD
// (at::vec::Vectorized). Each mirrors a function of the shared headers lane by
// lane: the same operations in the same order (bitwise & of masks where the
// scalar code has & of bools, blendv where it has ?:, the same integer tests),
// so the results are bitwise the scalar ones.
//
// Included only by a TU compiled for one CPU capability (cpu/row_taps_avx2.cpp),
// with CPU_CAPABILITY set as ATen's kernels have it: its contents then live in
// a namespace of that capability's name (as at::vec's own), so code compiled
// for different instruction sets never shares a symbol.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include "cpu/row_taps.h"

#ifndef CPU_CAPABILITY
#error "cpu/row_taps_vec.h belongs to a TU compiled for one CPU capability"
#endif

namespace vfi_ops::CPU_CAPABILITY {

using at::vec::Vectorized;

// a where the mask m is set (all bits of the lane), b elsewhere.
template <typename T>
inline Vectorized<T> select(const Vectorized<T>& m, const Vectorized<T>& a, const Vectorized<T>& b) {
  return Vectorized<T>::blendv(b, a, m);
}

// The column indices x0, x0 + 1, ... of a vector, and the same as scalars
// (exact: the callers check that every index of the row is).
template <typename T, typename I>
inline void lane_columns(I x0, Vectorized<I>& xi, Vectorized<T>& xf) {
  xf = Vectorized<T>::arange(static_cast<T>(x0), T(1));
  xi = Vectorized<I>::arange(x0, I(1));
}

// floor_index for positions already tested to lie in the index range: floor()
// is exact and converts exactly (what truncation plus its correction gives).
template <typename T>
inline auto floor_lanes(const Vectorized<T>& p, Vectorized<T>& floor_p) {
  floor_p = p.floor();
  return at::vec::convert_to_int_of_same_size(floor_p);
}

// ------------------------------------------------------------------ bilinear_taps

template <typename T, typename I>
struct TapsVec {
  Vectorized<I> offset[4];
  Vectorized<T> w[4], mask[4];
  Vectorized<T> ax, ay, dx, dy;
};

// bilinear_taps, lane by lane, for a padding mode known at compile time.
template <bool border, typename T, typename I>
inline TapsVec<T, I> bilinear_taps_vec(Vectorized<T> x, Vectorized<T> y, I H, I W) {
  using VT = Vectorized<T>;
  using VI = Vectorized<I>;
  const VT zero(T(0)), one(T(1));
  const T w_max = static_cast<T>(W - 1), h_max = static_cast<T>(H - 1);
  VT dx = one, dy = one;
  if constexpr (border) {
    const VT wm(w_max), hm(h_max);
    dx = select((x > zero) & (x < wm), one, zero);
    dy = select((y > zero) & (y < hm), one, zero);
    x = select(x < zero, zero, select(x > wm, wm, x));  // clamp_value: NaN stays NaN
    y = select(y < zero, zero, select(y > hm, hm, y));
  }
  const VT in = (x >= VT(-one)) & (x < VT(w_max + T(1))) & (y >= VT(-one)) & (y < VT(h_max + T(1)));
  x = select(in, x, zero);  // now safe to convert to an index
  y = select(in, y, zero);
  VT x0f, y0f;
  const VI x0 = floor_lanes(x, x0f), y0 = floor_lanes(y, y0f);
  const VI i_zero(I(0)), i_one(I(1)), i_w(W), i_h(H);
  const VI x1 = x0 + i_one, y1 = y0 + i_one;
  const VI left = (x0 >= i_zero) & (x0 < i_w), right = (x1 >= i_zero) & (x1 < i_w);
  const VI top = (y0 >= i_zero) & (y0 < i_h), bottom = (y1 >= i_zero) & (y1 < i_h);
  const VI in_i = at::vec::cast<I>(in);
  const VI inside[4] = {in_i & top & left, in_i & top & right, in_i & bottom & left, in_i & bottom & right};
  const VI row0 = y0 * i_w, row1 = y1 * i_w;
  const VI offset[4] = {row0 + x0, row0 + x1, row1 + x0, row1 + x1};
  TapsVec<T, I> t;
  t.ax = select(in, x - x0f, zero);  // x0f: x0 as T
  t.ay = select(in, y - y0f, zero);
  t.dx = select(in, dx, zero);
  t.dy = select(in, dy, zero);
  const VT bx = one - t.ax, by = one - t.ay;
  const VT w[4] = {bx * by, t.ax * by, bx * t.ay, t.ax * t.ay};
  for (int k = 0; k < 4; ++k) {
    const VT m = at::vec::cast<T>(inside[k]);
    t.offset[k] = inside[k] & offset[k];
    t.mask[k] = select(m, one, zero);
    t.w[k] = select(m, w[k], zero);
  }
  return t;
}

// bilinear_grad_coeffs, lane by lane.
template <typename T, typename I>
inline void bilinear_grad_coeffs_vec(const TapsVec<T, I>& t, Vectorized<T> cx[4], Vectorized<T> cy[4]) {
  const Vectorized<T> one(T(1));
  const Vectorized<T> by = (one - t.ay) * t.dx, ay = t.ay * t.dx;
  const Vectorized<T> bx = (one - t.ax) * t.dy, ax = t.ax * t.dy;
  cx[0] = by.neg() * t.mask[0];
  cx[1] = by * t.mask[1];
  cx[2] = ay.neg() * t.mask[2];
  cx[3] = ay * t.mask[3];
  cy[0] = bx.neg() * t.mask[0];
  cy[1] = ax.neg() * t.mask[1];
  cy[2] = bx * t.mask[2];
  cy[3] = ax * t.mask[3];
}

// row_taps_scalar, a vector of pixels at a time (the last one partial).
template <bool border, typename T, typename I>
void row_taps_vec(const T* u, const T* v, I y, I n, I H, I W, const RowTapsOut<T, I>& out) {
  using VT = Vectorized<T>;
  constexpr I kLanes = VT::size();
  const VT ys(static_cast<T>(y));
  for (I x = 0; x < n; x += kLanes) {
    const I count = n - x < kLanes ? n - x : kLanes;
    Vectorized<I> xi;
    VT xf;
    lane_columns(x, xi, xf);
    const auto t = bilinear_taps_vec<border, T, I>(xf + VT::loadu(u + x, count), ys + VT::loadu(v + x, count), H, W);
    for (int k = 0; k < 4; ++k) {
      t.offset[k].store(out.offset[k] + x, count);
      t.w[k].store(out.w[k] + x, count);
      if (out.mask[k] != nullptr) t.mask[k].store(out.mask[k] + x, count);
    }
    if (out.cx[0] != nullptr) {
      VT cx[4], cy[4];
      bilinear_grad_coeffs_vec(t, cx, cy);
      for (int k = 0; k < 4; ++k) {
        cx[k].store(out.cx[k] + x, count);
        cy[k].store(out.cy[k] + x, count);
      }
    }
  }
}

// ------------------------------------------------------------------ adaptive_window

// adaptive_window and adaptive_blend_weights for the pixels of a row, a vector
// at a time (adaptive_row_windows_scalar).
template <typename T, typename I>
void adaptive_row_windows_vec(const T* u_row, const T* v_row, I y, I H, I W, int F,
                              const RowWindowsOut<T, I>& out) {
  using VT = Vectorized<T>;
  using VI = Vectorized<I>;
  constexpr I kLanes = VT::size();
  const VT zero(T(0)), one(T(1));
  const VT half_w(static_cast<T>(W) / T(2)), half_h(static_cast<T>(H) / T(2));
  const VT w_max(static_cast<T>(W - 1)), h_max(static_cast<T>(H - 1));
  const VT ys(static_cast<T>(y));
  const VI i_w_max(W - 1), i_h_max(H - 1), shift(I(F / 2 - 1)), row_start(y * W);
  for (I x = 0; x < W; x += kLanes) {
    const I count = W - x < kLanes ? W - x : kLanes;
    VI xi;
    VT xf;
    lane_columns(x, xi, xf);
    const VT u = VT::loadu(u_row + x, count), v = VT::loadu(v_row + x, count);
    const VT xs = xf + u, ys_ = ys + v;
    const VT in = (xs >= zero) & (xs <= w_max) & (ys_ >= zero) & (ys_ <= h_max) & (u < half_w) &
                  (u.neg() < half_w) & (v < half_h) & (v.neg() < half_h);
    // xs, ys >= 0 where in, so floor is the truncation of the scalar code.
    VT Xf, Yf;
    const VI X = floor_lanes(select(in, xs, zero), Xf), Y = floor_lanes(select(in, ys_, zero), Yf);
    const VI in_i = at::vec::cast<I>(in);
    const VI valid_i = in_i & (X <= i_w_max) & (Y <= i_h_max);
    const VT valid = at::vec::cast<T>(valid_i);
    (Y - shift).store(out.top + x, count);  // Y - F/2 + 1
    (X - shift).store(out.left + x, count);
    (row_start + xi).store(out.self + x, count);
    const VT a = select(valid, xs - Xf, zero), b = select(valid, ys_ - Yf, zero);
    a.store(out.a + x, count);
    b.store(out.b + x, count);
    select(valid, one, zero).store(out.valid + x, count);
    // adaptive_blend_weights
    select(valid, (one - a) * (one - b), zero).store(out.bw[0] + x, count);
    select(valid, a * (one - b), zero).store(out.bw[1] + x, count);
    select(valid, (one - a) * b, zero).store(out.bw[2] + x, count);
    select(valid, a * b, zero).store(out.bw[3] + x, count);
  }
}

}  // namespace vfi_ops::CPU_CAPABILITY
