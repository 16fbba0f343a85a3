// flow_projection: the per-element math, shared by the CPU and CUDA kernels.
//
// Every source pixel p = (x, y) with displacement f and weight w lands at
// q = p + f. If q lies in [0, W-1] x [0, H-1], the 2x2 footprint
// (T, L), (T, R), (Bo, L), (Bo, R) with L = floor(qx), T = floor(qy),
// R = min(L+1, W-1), Bo = min(T+1, H-1) (DAIN's: repeated at the right and
// bottom edges) each get num += w * f, den += w. The output is -num / den where
// den > 0; pixels nobody lands on (den == 0) are holes.
//
// The sums are taken in double, of the weights times a power of two per batch
// item (2^-e, e the exponent of the item's largest usable weight, see
// flow_projection_weights.h). The result does not change (it is invariant to
// scaling all weights), but no product or sum can overflow or underflow: any
// finite positive weights give the exact result, float32 ones of any range,
// float64 ones whose ratio within an item stays below 2^1000.
//
// Holes are optionally filled with the mean of the output at the nearest
// non-hole pixel along each of the four rays (left, right, up, down) that finds
// one; then the holes no ray reached (a corner uncovered both ways) are filled
// by the same rule from all the pixels filled so far. Two passes fill every
// hole of an item where anything landed: after the first, every row and column
// holding a landed pixel is full, so the second finds a value along every
// column. (DAIN stops after the first and leaves such corners at 0.) Each pass
// is a scan along each row and each column: for_each_hole_neighbour below does
// it for one line, so both backends run it line by line in O(H*W) whatever the
// fraction of holes.
//
// Scatter stays with the callers: the CPU splits the work so that no two tasks
// write one pixel, the CUDA kernels use atomics.
#pragma once

#include <cstdint>

#include "common.h"

namespace vfi_ops {

// Where one source pixel lands: four plane offsets (with repetitions at the
// edges), or none.
template <typename index_t>
struct ProjectionFootprint {
  index_t offset[4];    // (T, L), (T, R), (Bo, L), (Bo, R) as y * W + x
  index_t top, bottom;  // the rows T and Bo
  bool valid;           // lands inside the plane with a usable weight
};

// Weights must be positive and finite; anything else (0, negative, NaN, inf)
// drops the source, so den is a sum of positive terms and -num/den is finite.
template <typename acc_t>
VFI_HOST_DEVICE bool projection_weight_ok(acc_t w) {
  return (w > acc_t(0)) & (w - w == acc_t(0));  // w - w is NaN for inf and NaN
}

// The footprint of source pixel (x, y) with displacement (fx, fy) in an H x W
// plane (weight_ok: its weight is usable). The landing position is computed in
// pos_t (float for float32 flows: beyond 2^24 px it is rounded to a multiple of
// 2, 4, ...); the range test in pos_t comes before any conversion to an index,
// so NaN, infinite and huge displacements are dropped, and a second test in
// integers drops what rounding put past the edge, so that no rounding can make
// an address outside the plane. A landing exactly on W-1 or H-1 is inside.
template <typename pos_t, typename index_t>
VFI_HOST_DEVICE ProjectionFootprint<index_t> projection_footprint(index_t x, index_t y, pos_t fx, pos_t fy,
                                                                  bool weight_ok, index_t H, index_t W) {
  const pos_t qx = static_cast<pos_t>(x) + fx, qy = static_cast<pos_t>(y) + fy;
  const bool in = (qx >= pos_t(0)) & (qx <= static_cast<pos_t>(W - 1)) & (qy >= pos_t(0)) &
                  (qy <= static_cast<pos_t>(H - 1)) & weight_ok;
  // q >= 0 here, so truncation is floor.
  const index_t L = in ? static_cast<index_t>(qx) : index_t(0);
  const index_t T = in ? static_cast<index_t>(qy) : index_t(0);
  const index_t R = L + 1 < W ? L + 1 : L;
  const index_t Bo = T + 1 < H ? T + 1 : T;
  ProjectionFootprint<index_t> fp;
  fp.valid = in & (L <= W - 1) & (T <= H - 1);
  fp.offset[0] = T * W + L;
  fp.offset[1] = T * W + R;
  fp.offset[2] = Bo * W + L;
  fp.offset[3] = Bo * W + R;
  fp.top = T;
  fp.bottom = Bo;
  return fp;
}

// The projected value of one pixel from its accumulated num and den.
template <typename acc_t>
VFI_HOST_DEVICE acc_t projected_value(acc_t num, acc_t den) {
  return den > acc_t(0) ? -num / den : acc_t(0);
}

// Gradient of one valid source p with displacement (fx, fy), weight w and its
// item's weight scale s (den holds the scaled sums). Its footprint targets n have
// den_n > 0, output O_n and incoming gradient g_n (planes of one batch item;
// c = 0, 1 are x and y):
//   dL/df_{p,c} = sum_n -g_{n,c} * w / den_n = sum_n -g_{n,c} * (w s) / (s den_n)
//   dL/dw_p     = sum_n sum_c -g_{n,c} * (f_{p,c} + O_{n,c}) / den_n
// summed over the four targets with their repetitions, in double.
template <typename index_t, typename grad_t, typename out_t>
VFI_HOST_DEVICE void projection_source_grad(const ProjectionFootprint<index_t>& fp, double fx, double fy, double w,
                                            double s, const grad_t* g0, const grad_t* g1, const out_t* out0,
                                            const out_t* out1, const double* den, double& gfx, double& gfy,
                                            double& gw) {
  double sx = 0.0, sy = 0.0, sw = 0.0;
  for (int k = 0; k < 4; ++k) {
    const index_t n = fp.offset[k];
    const double inv = 1.0 / den[n];
    const double gx = static_cast<double>(g0[n]) * inv, gy = static_cast<double>(g1[n]) * inv;
    sx += gx;
    sy += gy;
    sw += gx * (fx + static_cast<double>(out0[n])) + gy * (fy + static_cast<double>(out1[n]));
  }
  gfx = -(w * s) * sx;
  gfy = -(w * s) * sy;
  gw = -s * sw;
}

// Which pixels hold a value at the start of a fill pass: those something landed
// on (den > 0) and, in the second pass, those the first filled (ray count > 0).
template <typename index_t>
struct Known {
  const double* den;
  const uint8_t* filled;  // the first pass's ray counts, or null in the first pass
  index_t HW;
  VFI_HOST_DEVICE Known for_batch(index_t b) const {
    return {den + b * HW, filled != nullptr ? filled + b * HW : nullptr, HW};
  }
  VFI_HOST_DEVICE bool operator()(index_t at) const {
    return (den[at] > 0.0) | ((filled != nullptr) && (filled[at] > 0));
  }
};

// For one line of n pixels (start, start + stride, ...): calls visit(h, m) for
// every hole h (not known) and the nearest known pixel m on either side of it
// along the line (element offsets). One pass, O(n).
template <typename index_t, typename KnownT, typename Visit>
VFI_HOST_DEVICE void for_each_hole_neighbour(const KnownT& known, index_t start, index_t stride, index_t n,
                                             Visit&& visit) {
  index_t prev = -1;  // position of the last known pixel along the line
  for (index_t i = 0; i < n; ++i) {
    const index_t at = start + i * stride;
    if (!known(at)) continue;
    // i is known: the holes between prev and i see both.
    for (index_t j = prev + 1; j < i; ++j) {
      const index_t h = start + j * stride;
      if (prev >= 0) visit(h, start + prev * stride);
      visit(h, at);
    }
    prev = i;
  }
  if (prev >= 0) {
    for (index_t j = prev + 1; j < n; ++j) visit(start + j * stride, start + prev * stride);
  }
}

// Visitors for for_each_hole_neighbour. A fill pass is the linear map
// O_h = sum over found neighbours m of O_m / cnt_h, where cnt_h (1..4) is the
// number of rays from h that find a known pixel: CountRays computes cnt, the
// others apply the map and its transpose. They hold pointers to batch item 0
// (HW = H * W elements per plane); for_batch(b) moves them to item b.
template <typename index_t>
struct CountRays {
  uint8_t* cnt;
  index_t HW;
  VFI_HOST_DEVICE CountRays for_batch(index_t b) const { return {cnt + b * HW, HW}; }
  VFI_HOST_DEVICE void operator()(index_t h, index_t) const { ++cnt[h]; }
};

// Forward: out[h] += out[m] / cnt[h] (holes start at 0; only known pixels are read).
struct FillFromNeighbour {
  double* out;  // [B, 2, H, W]
  const uint8_t* cnt;
  int64_t HW;
  template <typename index_t>
  VFI_HOST_DEVICE FillFromNeighbour for_batch(index_t b) const {
    return {out + 2 * b * HW, cnt + b * HW, HW};
  }
  template <typename index_t>
  VFI_HOST_DEVICE void operator()(index_t h, index_t m) const {
    const double inv = 1.0 / static_cast<double>(cnt[h]);
    out[h] += out[m] * inv;
    out[HW + h] += out[HW + m] * inv;
  }
};

// Backward, in place: the gradient of a filled hole goes to the pixels it
// averaged, grad[m] += grad[h] / cnt[h]. (Within a pass holes and known pixels
// are apart, so no element is both read and written; the second pass's
// transpose runs first.)
struct FillGradToNeighbour {
  double* grad;  // [B, 2, H, W]
  const uint8_t* cnt;
  int64_t HW;
  template <typename index_t>
  VFI_HOST_DEVICE FillGradToNeighbour for_batch(index_t b) const {
    return {grad + 2 * b * HW, cnt + b * HW, HW};
  }
  template <typename index_t>
  VFI_HOST_DEVICE void operator()(index_t h, index_t m) const {
    const double inv = 1.0 / static_cast<double>(cnt[h]);
    grad[m] += grad[h] * inv;
    grad[HW + m] += grad[HW + h] * inv;
  }
};

}  // namespace vfi_ops
