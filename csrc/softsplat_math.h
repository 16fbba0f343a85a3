// softsplat: the per-element math of softmax splatting (forward warping),
// shared by the CPU and CUDA kernels.
//
// Every source pixel p of a batch item lands at q = p + flow[p] and adds, to each
// of the four pixels t around q that lie inside the image (bilinear taps,
// bilinear_math.h), with the tap's bilinear weight w_t:
//   num[c, t] += w_t z_p input[c, p],   den[t] += w_t z_p.
// z_p is the source's splat factor: 1 for "sum" and "avg", Z_p / M for "linear"
// and exp(Z_p - M) for "soft", Z being the metric and M the item's largest
// metric among the sources that land. The output is num ("sum"), or num / den
// where den > 0 and 0 where nothing landed (the other modes). Dividing Z by M, or
// subtracting M, leaves num / den unchanged and keeps z in (0, 1]: no overflow
// for any finite metric.
//
// A source is dropped (z = 0, no contribution, zero gradients) if its target is
// not finite or no tap of it is inside, if its metric is not finite ("linear",
// "soft") or not positive ("linear"), or if z underflows to 0.
//
// Scatter stays with the callers: the CPU splits the work by target rows so that
// no two tasks write one pixel, the CUDA kernels use atomics. The backward is a
// gather: each source reads its four targets.
#pragma once

#include <cmath>
#include <limits>

#include "bilinear_math.h"

namespace vfi_ops {

enum class SplatMode : int { Sum = 0, Avg = 1, Linear = 2, Soft = 3 };

// Whether the output is num / den (all modes but "sum").
VFI_HOST_DEVICE bool splat_normalized(SplatMode mode) { return mode != SplatMode::Sum; }

// Whether the mode weighs the sources by a metric.
VFI_HOST_DEVICE bool splat_uses_metric(SplatMode mode) { return mode == SplatMode::Linear || mode == SplatMode::Soft; }

// The taps of source pixel (x, y) with flow (fx, fy): bilinear around
// q = (x + fx, y + fy) in an H x W image, taps outside it dropped (mask 0).
// At a target exactly on an integer the cell to its right and below is taken
// (fraction 0): a target exactly on column W - 1 is inside, its right tap
// dropped; one exactly on column -1 has the cell [-1, 0], whose one inside tap
// has weight 0 but a derivative. Non-finite and far targets have no tap.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE BilinearTaps<acc_t, index_t> splat_taps(index_t x, index_t y, acc_t fx, acc_t fy, index_t H,
                                                        index_t W) {
  return bilinear_taps<acc_t, index_t>(static_cast<acc_t>(x) + fx, static_cast<acc_t>(y) + fy, H, W, Padding::Zeros);
}

// floor(qy), the row of the top taps (in [-1, H - 1]), of a source that lands
// (splat_taps has checked its target, so the conversion is safe).
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE index_t splat_top_row(index_t y, acc_t fy) {
  return floor_index<index_t>(static_cast<acc_t>(y) + fy);
}

// Whether some tap of the source is inside the image (possibly with weight 0).
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE bool splat_lands(const BilinearTaps<acc_t, index_t>& t) {
  return t.mask[0] + t.mask[1] + t.mask[2] + t.mask[3] > acc_t(0);
}

// The metric of a source that lands and whose metric the mode can use (finite;
// positive for "linear"), -inf otherwise. M is the maximum of these keys over a
// batch item's sources (-inf if none lands).
template <typename acc_t>
VFI_HOST_DEVICE acc_t splat_metric_key(bool lands, acc_t Z, SplatMode mode) {
  const bool finite = Z - Z == acc_t(0);  // false for NaN and +-inf
  const bool usable = lands & finite & ((mode != SplatMode::Linear) | (Z > acc_t(0)));
  return usable ? Z : -std::numeric_limits<acc_t>::infinity();
}

// The splat factor z of a source (see the top of this file); 0 drops it. Z is
// its metric and M its item's maximum key (both unused by "sum" and "avg").
template <typename acc_t>
VFI_HOST_DEVICE acc_t splat_factor(bool lands, acc_t Z, acc_t M, SplatMode mode) {
  if (!splat_uses_metric(mode)) return lands ? acc_t(1) : acc_t(0);
  const bool usable = splat_metric_key(lands, Z, mode) > -std::numeric_limits<acc_t>::infinity();
  // M >= Z is finite for a usable source; others compute on a harmless 0.
  const acc_t z = mode == SplatMode::Linear ? (usable ? Z : acc_t(0)) / (usable ? M : acc_t(1))
                                            : std::exp(usable ? Z - M : acc_t(0));
  return usable ? z : acc_t(0);
}

// dL/dZ of a source from s = dL/dz: s / M for "linear" (z = Z / M), s z for
// "soft" (z = exp(Z - M)). (Dividing by M rather than multiplying by 1 / M
// keeps s = 0 at 0 when 1 / M overflows.)
template <typename acc_t>
VFI_HOST_DEVICE acc_t splat_metric_grad(acc_t s, acc_t z, acc_t M, SplatMode mode) {
  if (mode == SplatMode::Linear) return z > acc_t(0) ? s / M : acc_t(0);
  return mode == SplatMode::Soft ? s * z : acc_t(0);
}

// The output of one pixel from its accumulated num and den.
template <typename acc_t>
VFI_HOST_DEVICE acc_t splat_output(acc_t num, acc_t den, SplatMode mode) {
  if (!splat_normalized(mode)) return num;
  return den > acc_t(0) ? num / den : acc_t(0);
}

// Backward of one source that splats (z > 0), as a gather from its four
// targets t_k. With g the incoming gradient and O the output:
//   normalised modes: dO[c,t]/dinput[c,p] = w_t z / den[t],  dO[c,t]/d(w_t z) = (input[c,p] - O[c,t]) / den[t]
//   "sum":            dO[c,t]/dinput[c,p] = w_t z,           dO[c,t]/d(w_t z) = input[c,p]
// Targets with den = 0 (only zero weights landed there) contribute nothing.
//
// SplatGrad collects G_k = sum_c g[c,t_k] dO[c,t_k]/d(w_k z) over the channels
// (add_channel), then gives the gradients to the target position and to z:
//   dL/dqx = z sum_k (dw_k/dqx) G_k,  dL/dqy likewise,  dL/dz = sum_k w_k G_k.
// At a target exactly on an integer, dw_k/dq are the one-sided derivatives of the
// cell the taps belong to; dropped taps contribute nothing.
template <typename acc_t, typename index_t>
struct SplatGrad {
  const BilinearTaps<acc_t, index_t>& t;
  acc_t z;
  bool normalized;
  acc_t scale[4];  // per tap: 1 / den ("sum": 1), or 0 where the tap is dropped or den = 0
  acc_t G[4] = {acc_t(0), acc_t(0), acc_t(0), acc_t(0)};

  // den_b: the den plane of the source's batch item.
  template <typename den_t>
  VFI_HOST_DEVICE SplatGrad(const BilinearTaps<acc_t, index_t>& taps, acc_t z_, SplatMode mode, const den_t* den_b)
      : t(taps), z(z_), normalized(splat_normalized(mode)) {
    for (int k = 0; k < 4; ++k) {
      const acc_t d = static_cast<acc_t>(den_b[t.offset[k]]);
      scale[k] = !normalized ? t.mask[k] : (t.mask[k] != acc_t(0)) & (d > acc_t(0)) ? acc_t(1) / d : acc_t(0);
    }
  }

  // One channel: value = input[c, p], g_plane and out_plane the planes of channel c
  // (out_plane is not read by "sum"). Returns dL/dinput[c, p].
  template <typename grad_t, typename out_t>
  VFI_HOST_DEVICE acc_t add_channel(acc_t value, const grad_t* g_plane, const out_t* out_plane) {
    acc_t grad_input = acc_t(0);
    for (int k = 0; k < 4; ++k) {
      const acc_t g = static_cast<acc_t>(g_plane[t.offset[k]]) * scale[k];
      const acc_t o = normalized ? static_cast<acc_t>(out_plane[t.offset[k]]) : acc_t(0);
      G[k] += g * (value - o);
      grad_input += t.w[k] * g;
    }
    return grad_input * z;
  }

  // dL/dqx, dL/dqy (= dL/dflow) and dL/dz, once every channel was added.
  VFI_HOST_DEVICE void finish(acc_t& gx, acc_t& gy, acc_t& gz) const {
    acc_t cx[4], cy[4];
    bilinear_grad_coeffs(t, cx, cy);
    finish(cx, cy, gx, gy, gz);
  }

  // The same, given the taps' gradient coefficients (bilinear_grad_coeffs).
  VFI_HOST_DEVICE void finish(const acc_t cx[4], const acc_t cy[4], acc_t& gx, acc_t& gy, acc_t& gz) const {
    gx = z * tap_dot(cx, G);
    gy = z * tap_dot(cy, G);
    gz = tap_dot(t.w, G);
  }
};

}  // namespace vfi_ops
