// backward_warp: argument parsing and validation shared by the CPU and CUDA entry points.
#pragma once

#include <c10/util/string_view.h>

#include "bilinear_math.h"
#include "checks.h"

namespace vfi_ops {

inline Padding parse_warp_padding(c10::string_view mode) {
  if (mode == "zeros") return Padding::Zeros;
  if (mode == "border") return Padding::Border;
  TORCH_CHECK_VALUE(false, "backward_warp(): padding_mode must be 'zeros' or 'border', but got '", mode, "'");
}

inline void check_backward_warp_args(const at::Tensor& input, const at::Tensor& flow) {
  const char* op = "backward_warp";
  check_dim(op, "input", input, 4, "[B, C, Hin, Win]");
  check_dim(op, "flow", flow, 4, "[B, 2, H, W]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "flow", flow, "input", input);
  TORCH_CHECK_VALUE(flow.size(1) == 2 && flow.size(0) == input.size(0), op,
                    "(): expected flow of shape [B, 2, H, W] with B = ", input.size(0),
                    " (the batch size of input), but got ", flow.sizes());
  TORCH_CHECK_VALUE(input.size(2) > 0 && input.size(3) > 0, op,
                    "(): expected input with non-empty spatial size [Hin, Win], but got ", input.sizes());
  check_memory(op, input.device(),
               tensor_bytes({input.size(0), input.size(1), flow.size(2), flow.size(3)}, input.element_size()), [&] {
                 return c10::str("the output [", input.size(0), ", ", input.size(1), ", ", flow.size(2), ", ",
                                 flow.size(3), "] of input ", input.sizes(), " and flow ", flow.sizes());
               });
}

inline void check_backward_warp_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                              const at::Tensor& flow) {
  check_backward_warp_args(input, flow);
  const char* op = "backward_warp_backward";
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  const bool shape_ok = grad_output.dim() == 4 && grad_output.size(0) == input.size(0) &&
                        grad_output.size(1) == input.size(1) && grad_output.size(2) == flow.size(2) &&
                        grad_output.size(3) == flow.size(3);
  TORCH_CHECK_VALUE(shape_ok, op, "(): expected grad_output of shape [", input.size(0), ", ", input.size(1), ", ",
                    flow.size(2), ", ", flow.size(3), "] (the output's), but got ", grad_output.sizes());
}

}  // namespace vfi_ops
