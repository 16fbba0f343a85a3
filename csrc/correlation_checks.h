// correlation: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <cstdint>

#include "checks.h"
#include "correlation_math.h"

namespace vfi_ops {

// Displacements beyond this (times the dilation) are refused: the index
// arithmetic stays far from overflow, and (2d+1)^2 output channels fit any index.
constexpr int64_t kMaxCorrelationReach = int64_t(1) << 14;

inline void check_correlation_args(const at::Tensor& input1, const at::Tensor& input2, int64_t max_displacement,
                                   int64_t stride, int64_t dilation) {
  const char* op = "correlation";
  check_dim(op, "input1", input1, 4, "[B, C, H, W]");
  check_dim(op, "input2", input2, 4, "[B, C, H, W]");
  check_floating(op, "input1", input1);
  check_same_device_dtype(op, "input2", input2, "input1", input1);
  TORCH_CHECK_VALUE(input2.sizes() == input1.sizes(), op, "(): expected input2 of the shape of input1 (",
                    input1.sizes(), "), but got ", input2.sizes());
  TORCH_CHECK_VALUE(max_displacement >= 0, op, "(): expected max_displacement >= 0, but got ", max_displacement);
  TORCH_CHECK_VALUE(stride >= 1, op, "(): expected stride >= 1, but got ", stride);
  TORCH_CHECK_VALUE(dilation >= 1, op, "(): expected dilation >= 1, but got ", dilation);
  TORCH_CHECK_VALUE(max_displacement <= kMaxCorrelationReach && max_displacement * dilation <= kMaxCorrelationReach, op,
                    "(): expected max_displacement * dilation <= ", kMaxCorrelationReach, ", but got ",
                    max_displacement, " * ", dilation);
  TORCH_CHECK_VALUE(stride <= kMaxCorrelationReach, op, "(): expected stride <= ", kMaxCorrelationReach, ", but got ",
                    stride);
}

inline CorrelationSizes<int64_t> correlation_sizes(const at::Tensor& input1, int64_t max_displacement, int64_t stride,
                                                   int64_t dilation) {
  const int64_t H = input1.size(2), W = input1.size(3);
  return {input1.size(0),   input1.size(1), H,       W, (H + stride - 1) / stride, (W + stride - 1) / stride,
          max_displacement, stride,         dilation};
}

template <typename index_t>
CorrelationSizes<index_t> narrow_sizes(const CorrelationSizes<int64_t>& s) {
  return {static_cast<index_t>(s.B), static_cast<index_t>(s.C),      static_cast<index_t>(s.H),
          static_cast<index_t>(s.W), static_cast<index_t>(s.Ho),     static_cast<index_t>(s.Wo),
          static_cast<index_t>(s.d), static_cast<index_t>(s.stride), static_cast<index_t>(s.dilation)};
}

inline void check_correlation_backward_args(const at::Tensor& grad_output, const at::Tensor& input1,
                                            const at::Tensor& input2, int64_t max_displacement, int64_t stride,
                                            int64_t dilation) {
  check_correlation_args(input1, input2, max_displacement, stride, dilation);
  const char* op = "correlation_backward";
  check_same_device_dtype(op, "grad_output", grad_output, "input1", input1);
  const auto s = correlation_sizes(input1, max_displacement, stride, dilation);
  const bool shape_ok = grad_output.dim() == 4 && grad_output.size(0) == s.B && grad_output.size(1) == s.channels() &&
                        grad_output.size(2) == s.Ho && grad_output.size(3) == s.Wo;
  TORCH_CHECK_VALUE(shape_ok, op, "(): expected grad_output of shape [", s.B, ", ", s.channels(), ", ", s.Ho, ", ",
                    s.Wo, "] (the output's), but got ", grad_output.sizes());
}

}  // namespace vfi_ops
