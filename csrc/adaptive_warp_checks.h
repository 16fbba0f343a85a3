// adaptive_warp: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <cmath>

#include "checks.h"

namespace vfi_ops {

// Checks the arguments and returns the window size F (kernel has F*F channels).
inline int check_adaptive_warp_args(const char* op, const at::Tensor& input, const at::Tensor& flow,
                                    const at::Tensor& kernel) {
  check_dim(op, "input", input, 4, "[B, C, H, W]");
  check_dim(op, "flow", flow, 4, "[B, 2, H, W]");
  check_dim(op, "kernel", kernel, 4, "[B, F*F, H, W]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "flow", flow, "input", input);
  check_same_device_dtype(op, "kernel", kernel, "input", input);
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  TORCH_CHECK_VALUE(flow.size(0) == B && flow.size(1) == 2 && flow.size(2) == H && flow.size(3) == W, op,
                    "(): expected flow of shape [", B, ", 2, ", H, ", ", W, "] (B, H, W of input), but got ",
                    flow.sizes());
  check_memory(op, input.device(), tensor_bytes({B, input.size(1), H, W}, input.element_size()),
               [&] { return c10::str("the output for input ", input.sizes()); });
  const int64_t taps = kernel.size(1);
  const int64_t F = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(taps))));
  TORCH_CHECK_VALUE(F * F == taps && F >= 2 && F % 2 == 0, op,
                    "(): expected kernel to have F*F channels with F even (4 for F=2, 16 for F=4, ...), but got ", taps,
                    " channels");
  TORCH_CHECK_VALUE(kernel.size(0) == B && kernel.size(2) == H && kernel.size(3) == W, op,
                    "(): expected kernel of shape [", B, ", ", taps, ", ", H, ", ", W, "] (B, H, W of input), but got ",
                    kernel.sizes());
  return static_cast<int>(F);
}

inline int check_adaptive_warp_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                             const at::Tensor& flow, const at::Tensor& kernel) {
  const char* op = "adaptive_warp_backward";
  const int F = check_adaptive_warp_args(op, input, flow, kernel);
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  TORCH_CHECK_VALUE(grad_output.sizes() == input.sizes(), op, "(): expected grad_output of shape ", input.sizes(),
                    " (the output's), but got ", grad_output.sizes());
  return F;
}

}  // namespace vfi_ops
