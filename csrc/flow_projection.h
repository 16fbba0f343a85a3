// flow_projection: the per-element math, shared by the CPU and CUDA kernels.
//
// Every source pixel p = (x, y) with displacement f and weight w lands at
// q = p + f. If q lies in [0, W-1] x [0, H-1], the 2x2 footprint
// (T, L), (T, R), (Bo, L), (Bo, R) with L = floor(qx), T = floor(qy),
// R = min(L+1, W-1), Bo = min(T+1, H-1) (DAIN's: repeated at the right and
// bottom edges) each get num += w * f, den += w. The output is -num / den where
// den > 0; pixels nobody lands on (den == 0) are holes.
//
// Holes are optionally filled with the mean of the output at the nearest
// non-hole pixel along each of the four rays (left, right, up, down) that finds
// one. That is a scan along each row and each column: for_each_hole_neighbour
// below does it for one line, so that both backends run it line by line in
// O(H*W) whatever the fraction of holes.
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
  index_t offset[4];  // (T, L), (T, R), (Bo, L), (Bo, R) as y * W + x
  index_t top, bottom;  // the rows T and Bo
  bool valid;           // lands inside the plane with a usable weight
};

// Weights must be positive and finite; anything else (0, negative, NaN, inf)
// drops the source, so den is a sum of positive terms and -num/den is finite.
template <typename acc_t>
VFI_HOST_DEVICE bool projection_weight_ok(acc_t w) {
  return (w > acc_t(0)) & (w - w == acc_t(0));  // w - w is NaN for inf and NaN
}

// The footprint of source pixel (x, y) with displacement (fx, fy) and weight w
// in an H x W plane. The range test comes before any conversion to an index,
// so NaN, infinite and huge displacements are dropped, never written.
template <typename acc_t, typename index_t>
VFI_HOST_DEVICE ProjectionFootprint<index_t> projection_footprint(index_t x, index_t y, acc_t fx, acc_t fy, acc_t w,
                                                                  index_t H, index_t W) {
  const acc_t qx = static_cast<acc_t>(x) + fx, qy = static_cast<acc_t>(y) + fy;
  const bool valid = (qx >= acc_t(0)) & (qx <= static_cast<acc_t>(W - 1)) & (qy >= acc_t(0)) &
                     (qy <= static_cast<acc_t>(H - 1)) & projection_weight_ok(w);
  // q >= 0 here, so truncation is floor.
  const index_t L = valid ? static_cast<index_t>(qx) : index_t(0);
  const index_t T = valid ? static_cast<index_t>(qy) : index_t(0);
  const index_t R = L + 1 < W ? L + 1 : L;
  const index_t Bo = T + 1 < H ? T + 1 : T;
  ProjectionFootprint<index_t> fp;
  fp.offset[0] = T * W + L;
  fp.offset[1] = T * W + R;
  fp.offset[2] = Bo * W + L;
  fp.offset[3] = Bo * W + R;
  fp.top = T;
  fp.bottom = Bo;
  fp.valid = valid;
  return fp;
}

// The projected value of one pixel from its accumulated num and den.
template <typename acc_t>
VFI_HOST_DEVICE acc_t projected_value(acc_t num, acc_t den) {
  return den > acc_t(0) ? -num / den : acc_t(0);
}

// Gradient of one valid source p with displacement (fx, fy) and weight w. Its
// footprint targets n have den_n > 0, output O_n and incoming gradient g_n
// (planes of one batch item; c = 0, 1 are x and y):
//   dL/df_{p,c} = sum_n -g_{n,c} * w / den_n
//   dL/dw_p     = sum_n sum_c -g_{n,c} * (f_{p,c} + O_{n,c}) / den_n
// summed over the four targets with their repetitions.
template <typename acc_t, typename index_t, typename grad_t, typename out_t, typename den_t>
VFI_HOST_DEVICE void projection_source_grad(const ProjectionFootprint<index_t>& fp, acc_t fx, acc_t fy, acc_t w,
                                            const grad_t* g0, const grad_t* g1, const out_t* out0, const out_t* out1,
                                            const den_t* den, acc_t& gfx, acc_t& gfy, acc_t& gw) {
  acc_t sx = acc_t(0), sy = acc_t(0), sw = acc_t(0);
  for (int k = 0; k < 4; ++k) {
    const index_t n = fp.offset[k];
    const acc_t inv = acc_t(1) / static_cast<acc_t>(den[n]);
    const acc_t gx = static_cast<acc_t>(g0[n]) * inv, gy = static_cast<acc_t>(g1[n]) * inv;
    sx += gx;
    sy += gy;
    sw += gx * (fx + static_cast<acc_t>(out0[n])) + gy * (fy + static_cast<acc_t>(out1[n]));
  }
  gfx = -w * sx;
  gfy = -w * sy;
  gw = -sw;
}

// For one line of n pixels (start, start + stride, ...): calls visit(h, m) for
// every hole h and the nearest non-hole m on either side of it along the line
// (element offsets). A hole is a pixel with den <= 0. One pass, O(n).
template <typename index_t, typename den_t, typename Visit>
VFI_HOST_DEVICE void for_each_hole_neighbour(const den_t* den, index_t start, index_t stride, index_t n,
                                             Visit&& visit) {
  index_t prev = -1;  // position of the last non-hole along the line
  for (index_t i = 0; i < n; ++i) {
    const index_t at = start + i * stride;
    if (!(den[at] > den_t(0))) continue;
    // i is a non-hole: the holes between prev and i see both.
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

// Visitors for for_each_hole_neighbour. Hole filling is the linear map
// O_h = sum over found neighbours m of O_m / cnt_h, where cnt_h (1..4) is the
// number of rays from h that find a non-hole: CountRays computes cnt, the
// others apply the map and its transpose. They hold pointers to batch item 0
// (HW = H * W elements per plane); for_batch(b) moves them to item b.
template <typename index_t>
struct CountRays {
  uint8_t* cnt;
  index_t HW;
  VFI_HOST_DEVICE CountRays for_batch(index_t b) const { return {cnt + b * HW, HW}; }
  VFI_HOST_DEVICE void operator()(index_t h, index_t) const { ++cnt[h]; }
};

// Forward: out[h] += out[m] / cnt[h] (holes start at 0; only non-holes are read).
template <typename value_t, typename index_t>
struct FillFromNeighbour {
  value_t* out;  // [B, 2, H, W]
  const uint8_t* cnt;
  index_t HW;
  VFI_HOST_DEVICE FillFromNeighbour for_batch(index_t b) const { return {out + 2 * b * HW, cnt + b * HW, HW}; }
  VFI_HOST_DEVICE void operator()(index_t h, index_t m) const {
    const value_t inv = value_t(1) / static_cast<value_t>(cnt[h]);
    out[h] += out[m] * inv;
    out[HW + h] += out[HW + m] * inv;
  }
};

// Backward: the gradient of a filled hole goes to the neighbours it averaged,
// grad[m] += g[h] / cnt[h] (grad starts as a copy of g; holes of it are not read).
template <typename value_t, typename index_t, typename grad_t>
struct FillGradToNeighbour {
  value_t* grad;  // [B, 2, H, W]
  const grad_t* g;
  const uint8_t* cnt;
  index_t HW;
  VFI_HOST_DEVICE FillGradToNeighbour for_batch(index_t b) const {
    return {grad + 2 * b * HW, g + 2 * b * HW, cnt + b * HW, HW};
  }
  VFI_HOST_DEVICE void operator()(index_t h, index_t m) const {
    const value_t inv = value_t(1) / static_cast<value_t>(cnt[h]);
    grad[m] += static_cast<value_t>(g[h]) * inv;
    grad[HW + m] += static_cast<value_t>(g[HW + h]) * inv;
  }
};

}  // namespace vfi_ops
