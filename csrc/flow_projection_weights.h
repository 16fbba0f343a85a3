// flow_projection: the per-item weight scales, shared by the CPU and CUDA entry points.
//
// The splat sums w * s and w * s * f in double, s = 2^-e with e the exponent of
// the largest usable (positive, finite) weight of the batch item, so that the
// largest scaled weight lies in [0.5, 1): nothing overflows whatever the
// weights' magnitude, and the scaling by a power of two is exact.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/frexp.h>
#include <ATen/ops/gt.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/ldexp.h>
#include <ATen/ops/logical_and.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/where.h>

namespace vfi_ops {

// [B] float64 scales on weight's device, for a weight of B >= 1 items of H*W >= 1 pixels.
inline at::Tensor projection_weight_scales(const at::Tensor& weight) {
  const at::Tensor w = weight.to(at::kDouble).reshape({weight.size(0), -1});
  const at::Tensor usable = at::logical_and(at::gt(w, 0), at::isfinite(w));
  const at::Tensor largest = at::where(usable, w, 0.0).amax(1);
  // largest = m * 2^e with m in [0.5, 1) (e = 0 for 0); e >= -1021 keeps 2^-e finite
  // for float64 denormals. The exponent goes to ldexp as a double: with an integer
  // exponent, older torch computes 2^-e in float32, which overflows.
  const at::Tensor exponent = std::get<1>(at::frexp(largest)).clamp_min(-1021).to(at::kDouble);
  return at::ldexp(at::ones_like(largest), -exponent);
}

}  // namespace vfi_ops
