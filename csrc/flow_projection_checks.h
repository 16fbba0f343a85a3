// flow_projection: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <optional>

#include "checks.h"

namespace vfi_ops {

// The summed (scaled) weights come back in the accumulation type, double for
// every flow dtype (the backward divides by them; see flow_projection_math.h).
inline at::ScalarType den_dtype(at::ScalarType) { return at::kDouble; }

inline void check_flow_projection_args(const char* op, const at::Tensor& flow,
                                       const std::optional<at::Tensor>& weight) {
  check_dim(op, "flow", flow, 4, "[B, 2, H, W]");
  check_floating(op, "flow", flow);
  TORCH_CHECK_VALUE(flow.size(1) == 2, op, "(): expected flow of shape [B, 2, H, W], but got ", flow.sizes());
  check_memory(op, flow.device(),
               tensor_bytes({flow.size(0), 2, flow.size(2), flow.size(3)}, flow.element_size()) +
                   tensor_bytes({flow.size(0), 1, flow.size(2), flow.size(3)}, 8),
               [&] { return c10::str("the output and den (float64) for flow ", flow.sizes()); });
  if (weight.has_value()) {
    check_same_device_dtype(op, "weight", *weight, "flow", flow);
    const bool shape_ok = weight->dim() == 4 && weight->size(0) == flow.size(0) && weight->size(1) == 1 &&
                          weight->size(2) == flow.size(2) && weight->size(3) == flow.size(3);
    TORCH_CHECK_VALUE(shape_ok, op, "(): expected weight of shape [", flow.size(0), ", 1, ", flow.size(2), ", ",
                      flow.size(3), "] (B, 1, H, W of flow), but got ", weight->sizes());
  }
}

// output and den are what the forward returned; grad_output has output's shape.
inline void check_flow_projection_backward_args(const at::Tensor& grad_output, const at::Tensor& flow,
                                                const std::optional<at::Tensor>& weight, const at::Tensor& output,
                                                const at::Tensor& den) {
  const char* op = "flow_projection_backward";
  check_flow_projection_args(op, flow, weight);
  check_same_device_dtype(op, "grad_output", grad_output, "flow", flow);
  check_same_device_dtype(op, "output", output, "flow", flow);
  TORCH_CHECK_VALUE(grad_output.sizes() == flow.sizes(), op, "(): expected grad_output of shape ", flow.sizes(),
                    " (the output's), but got ", grad_output.sizes());
  TORCH_CHECK_VALUE(output.sizes() == flow.sizes(), op, "(): expected output of shape ", flow.sizes(), ", but got ",
                    output.sizes());
  TORCH_CHECK_VALUE(den.device() == flow.device() && den.dim() == 4 && den.size(0) == flow.size(0) &&
                        den.size(1) == 1 && den.size(2) == flow.size(2) && den.size(3) == flow.size(3),
                    op, "(): expected den of shape [", flow.size(0), ", 1, ", flow.size(2), ", ", flow.size(3), "] on ",
                    flow.device(), " (as returned by flow_projection), but got ", den.sizes(), " on ", den.device());
  TORCH_CHECK_TYPE(den.scalar_type() == den_dtype(flow.scalar_type()), op, "(): expected den of dtype ",
                   den_dtype(flow.scalar_type()), " (as returned by flow_projection), but got ", den.scalar_type());
}

}  // namespace vfi_ops
