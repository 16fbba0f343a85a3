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

// A lane mask of T as the same bits in integer lanes of T's width (at::vec's
// generic cast goes through memory, and this runs once per tap and vector).
template <typename I, typename T>
inline Vectorized<I> int_mask(const Vectorized<T>& m) {
#if defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<T, float>) {
    return Vectorized<I>(_mm256_castps_si256(m));
  } else {
    return Vectorized<I>(_mm256_castpd_si256(m));
  }
#else
  return at::vec::cast<I>(m);
#endif
}

// floor_index for positions already tested to lie in the index range: floor()
// is exact and converts exactly (what truncation plus its correction gives).
template <typename T>
inline auto floor_to_index(const Vectorized<T>& floor_p) {
  return at::vec::convert_to_int_of_same_size(floor_p);
}

// ------------------------------------------------------------------ bilinear_taps

// bilinear_taps (and, where out.cx is set, bilinear_grad_coeffs) lane by lane
// for pixels x .. x + count - 1 of a row, sampling at (x + u, ys + v), for a
// padding mode known at compile time; stored straight into out. (No vector is
// default-constructed: GCC calls at::vec's default constructors out of line.)
template <bool border, typename T, typename I>
C10_ALWAYS_INLINE void bilinear_taps_vec(Vectorized<T> x, Vectorized<T> y, I H, I W, const RowTapsOut<T, I>& out, I at,
                                         I count) {
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
  const VT minus_one(T(-1));  // (no unary minus on Vectorized in older torch)
  const VT in = (x >= minus_one) & (x < VT(w_max + T(1))) & (y >= minus_one) & (y < VT(h_max + T(1)));
  x = select(in, x, zero);  // now safe to convert to an index
  y = select(in, y, zero);
  const VT x0f = x.floor(), y0f = y.floor();
  const VI x0 = floor_to_index(x0f), y0 = floor_to_index(y0f);
  const VI i_zero(I(0)), i_one(I(1)), i_w(W), i_h(H);
  const VI x1 = x0 + i_one, y1 = y0 + i_one;
  const VI left = (x0 >= i_zero) & (x0 < i_w), right = (x1 >= i_zero) & (x1 < i_w);
  const VI top = (y0 >= i_zero) & (y0 < i_h), bottom = (y1 >= i_zero) & (y1 < i_h);
  const VI in_i = int_mask<I>(in);
  const VI inside[4] = {in_i & top & left, in_i & top & right, in_i & bottom & left, in_i & bottom & right};
  const VI row0 = y0 * i_w, row1 = y1 * i_w;
  const VI offset[4] = {row0 + x0, row0 + x1, row1 + x0, row1 + x1};
  const VT ax = select(in, x - x0f, zero);
  const VT ay = select(in, y - y0f, zero);
  const VT bx = one - ax, by = one - ay;
  const VT w[4] = {bx * by, ax * by, bx * ay, ax * ay};
  const VT mask[4] = {select(at::vec::cast<T>(inside[0]), one, zero), select(at::vec::cast<T>(inside[1]), one, zero),
                      select(at::vec::cast<T>(inside[2]), one, zero), select(at::vec::cast<T>(inside[3]), one, zero)};
  for (int k = 0; k < 4; ++k) {
    (inside[k] & offset[k]).store(out.offset[k] + at, count);
    select(at::vec::cast<T>(inside[k]), w[k], zero).store(out.w[k] + at, count);
    if (out.mask[k] != nullptr) mask[k].store(out.mask[k] + at, count);
  }
  if (out.cx[0] == nullptr) return;
  // bilinear_grad_coeffs
  const VT ddx = select(in, dx, zero), ddy = select(in, dy, zero);
  const VT gy0 = (one - ay) * ddx, gy1 = ay * ddx;
  const VT gx0 = (one - ax) * ddy, gx1 = ax * ddy;
  (gy0.neg() * mask[0]).store(out.cx[0] + at, count);
  (gy0 * mask[1]).store(out.cx[1] + at, count);
  (gy1.neg() * mask[2]).store(out.cx[2] + at, count);
  (gy1 * mask[3]).store(out.cx[3] + at, count);
  (gx0.neg() * mask[0]).store(out.cy[0] + at, count);
  (gx1.neg() * mask[1]).store(out.cy[1] + at, count);
  (gx0 * mask[2]).store(out.cy[2] + at, count);
  (gx1 * mask[3]).store(out.cy[3] + at, count);
}

// row_taps_scalar, a vector of pixels at a time (the last one partial).
template <bool border, typename T, typename I>
void row_taps_vec_padded(const T* u, const T* v, I y, I n, I H, I W, const RowTapsOut<T, I>& out) {
  using VT = Vectorized<T>;
  constexpr I kLanes = VT::size();
  const VT ys(static_cast<T>(y));
  for (I x = 0; x < n; x += kLanes) {
    const I count = n - x < kLanes ? n - x : kLanes;
    const VT xf = VT::arange(static_cast<T>(x), T(1));  // exact: the callers check that every index is
    bilinear_taps_vec<border, T, I>(xf + VT::loadu(u + x, count), ys + VT::loadu(v + x, count), H, W, out, x, count);
  }
}

// The same, the padding mode chosen at run time.
template <typename T, typename I>
void row_taps_vec(const T* u, const T* v, I y, I n, I H, I W, Padding padding, const RowTapsOut<T, I>& out) {
  if (padding == Padding::Border) {
    row_taps_vec_padded<true>(u, v, y, n, H, W, out);
  } else {
    row_taps_vec_padded<false>(u, v, y, n, H, W, out);
  }
}

// ------------------------------------------------------------------ adaptive_window

// adaptive_window and adaptive_blend_weights for the pixels of a row, a vector
// at a time (adaptive_row_windows_scalar).
template <typename T, typename I>
void adaptive_row_windows_vec(const T* u_row, const T* v_row, I y, I H, I W, int F, const RowWindowsOut<T, I>& out) {
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
    const VT xf = VT::arange(static_cast<T>(x), T(1));  // exact: the callers check that every index is
    const VI xi = VI::arange(x, I(1));
    const VT u = VT::loadu(u_row + x, count), v = VT::loadu(v_row + x, count);
    const VT xs = xf + u, ys_ = ys + v;
    const VT in = (xs >= zero) & (xs <= w_max) & (ys_ >= zero) & (ys_ <= h_max) & (u < half_w) & (u.neg() < half_w) &
                  (v < half_h) & (v.neg() < half_h);
    // xs, ys >= 0 where in, so floor is the truncation of the scalar code.
    const VT Xf = select(in, xs, zero).floor(), Yf = select(in, ys_, zero).floor();
    const VI X = floor_to_index(Xf), Y = floor_to_index(Yf);
    const VI in_i = int_mask<I>(in);
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
