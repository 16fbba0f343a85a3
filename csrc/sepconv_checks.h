// sepconv: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <vector>

#include "checks.h"

namespace vfi_ops {

// Checks the arguments and returns the kernel size K.
inline int check_sepconv_args(const char* op, const at::Tensor& input, const at::Tensor& vertical,
                              const at::Tensor& horizontal) {
  check_dim(op, "input", input, 4, "[B, C, H+K-1, W+K-1]");
  check_dim(op, "vertical", vertical, 4, "[B, K, H, W]");
  check_dim(op, "horizontal", horizontal, 4, "[B, K, H, W]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "vertical", vertical, "input", input);
  check_same_device_dtype(op, "horizontal", horizontal, "input", input);
  const int64_t K = vertical.size(1), H = vertical.size(2), W = vertical.size(3);
  TORCH_CHECK_VALUE(K >= 1, op, "(): expected vertical to have K >= 1 channels (the kernel size), but got ",
                    vertical.sizes());
  TORCH_CHECK_VALUE(K <= 4096, op, "(): expected a kernel size K of at most 4096, but got vertical of shape ",
                    vertical.sizes());
  TORCH_CHECK_VALUE(vertical.size(0) == input.size(0), op, "(): expected vertical of shape [", input.size(0),
                    ", K, H, W] (B of input), but got ", vertical.sizes());
  TORCH_CHECK_VALUE(horizontal.sizes() == vertical.sizes(), op, "(): expected horizontal of shape ", vertical.sizes(),
                    " (vertical's: [B, K, H, W]), but got ", horizontal.sizes());
  TORCH_CHECK_VALUE(input.size(2) == H + K - 1 && input.size(3) == W + K - 1, op, "(): expected input of shape [",
                    input.size(0), ", C, ", H + K - 1, ", ", W + K - 1,
                    "] (H+K-1, W+K-1: the output padded by K-1 = ", K - 1, " for vertical of shape ", vertical.sizes(),
                    "), but got ", input.sizes());
  return static_cast<int>(K);
}

inline int check_sepconv_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                       const at::Tensor& vertical, const at::Tensor& horizontal) {
  const char* op = "sepconv_backward";
  const int K = check_sepconv_args(op, input, vertical, horizontal);
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  const std::vector<int64_t> want = {input.size(0), input.size(1), vertical.size(2), vertical.size(3)};
  TORCH_CHECK_VALUE(grad_output.sizes() == at::IntArrayRef(want), op, "(): expected grad_output of shape ",
                    at::IntArrayRef(want), " (the output's), but got ", grad_output.sizes());
  return K;
}

}  // namespace vfi_ops
