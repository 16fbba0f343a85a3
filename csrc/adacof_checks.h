// adacof: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <cmath>
#include <vector>

#include "checks.h"

namespace vfi_ops {

// Checks the arguments and returns the window size F (weight has F*F channels).
inline int check_adacof_args(const char* op, const at::Tensor& input, const at::Tensor& weight,
                             const at::Tensor& offset_y, const at::Tensor& offset_x, int64_t dilation) {
  check_dim(op, "input", input, 4, "[B, C, H+(F-1)*dilation, W+(F-1)*dilation]");
  check_dim(op, "weight", weight, 4, "[B, F*F, H, W]");
  check_dim(op, "offset_y", offset_y, 4, "[B, F*F, H, W]");
  check_dim(op, "offset_x", offset_x, 4, "[B, F*F, H, W]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "weight", weight, "input", input);
  check_same_device_dtype(op, "offset_y", offset_y, "input", input);
  check_same_device_dtype(op, "offset_x", offset_x, "input", input);
  TORCH_CHECK_VALUE(dilation >= 1 && dilation <= (int64_t(1) << 20), op,
                    "(): expected dilation to be a positive integer (at most 2^20), but got ", dilation);
  const int64_t taps = weight.size(1), H = weight.size(2), W = weight.size(3);
  const int64_t F = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(taps))));
  TORCH_CHECK_VALUE(taps >= 1 && F * F == taps && F <= 1024, op,
                    "(): expected weight to have F*F channels (1, 4, 9, 25, ...: an F x F window), but got ", taps,
                    " channels");
  TORCH_CHECK_VALUE(weight.size(0) == input.size(0), op, "(): expected weight of shape [", input.size(0),
                    ", F*F, H, W] (B of input), but got ", weight.sizes());
  TORCH_CHECK_VALUE(offset_y.sizes() == weight.sizes(), op, "(): expected offset_y of shape ", weight.sizes(),
                    " (weight's: [B, F*F, H, W]), but got ", offset_y.sizes());
  TORCH_CHECK_VALUE(offset_x.sizes() == weight.sizes(), op, "(): expected offset_x of shape ", weight.sizes(),
                    " (weight's: [B, F*F, H, W]), but got ", offset_x.sizes());
  const int64_t pad = (F - 1) * dilation;
  TORCH_CHECK_VALUE(input.size(2) == H + pad && input.size(3) == W + pad, op, "(): expected input of shape [",
                    input.size(0), ", C, ", H + pad, ", ", W + pad,
                    "] (H+(F-1)*dilation, W+(F-1)*dilation with F = ", F, ", dilation = ", dilation,
                    " and weight of shape ", weight.sizes(), "), but got ", input.sizes());
  return static_cast<int>(F);
}

inline int check_adacof_backward_args(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
                                      const at::Tensor& offset_y, const at::Tensor& offset_x, int64_t dilation) {
  const char* op = "adacof_backward";
  const int F = check_adacof_args(op, input, weight, offset_y, offset_x, dilation);
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  const std::vector<int64_t> want = {input.size(0), input.size(1), weight.size(2), weight.size(3)};
  TORCH_CHECK_VALUE(grad_output.sizes() == at::IntArrayRef(want), op, "(): expected grad_output of shape ",
                    at::IntArrayRef(want), " (the output's), but got ", grad_output.sizes());
  return F;
}

}  // namespace vfi_ops
