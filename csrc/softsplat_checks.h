// softsplat: argument parsing and validation shared by the CPU and CUDA entry points.
#pragma once

#include <optional>
#include <c10/util/string_view.h>

#include "checks.h"
#include "softsplat_math.h"

namespace vfi_ops {

inline SplatMode parse_splat_mode(const char* op, c10::string_view mode) {
  if (mode == "sum") return SplatMode::Sum;
  if (mode == "avg") return SplatMode::Avg;
  if (mode == "linear") return SplatMode::Linear;
  if (mode == "soft") return SplatMode::Soft;
  TORCH_CHECK_VALUE(false, op, "(): expected mode to be one of 'sum', 'avg', 'linear', 'soft', but got '", mode, "'");
}

// den and metric_max come back in the accumulation type: float for float16 and
// bfloat16 inputs, the input's dtype otherwise.
inline at::ScalarType splat_acc_dtype(at::ScalarType dtype) {
  return (dtype == at::kHalf || dtype == at::kBFloat16) ? at::kFloat : dtype;
}

inline SplatMode check_softsplat_args(const char* op, const at::Tensor& input, const at::Tensor& flow,
                                      const std::optional<at::Tensor>& metric, c10::string_view mode_name) {
  const SplatMode mode = parse_splat_mode(op, mode_name);
  check_dim(op, "input", input, 4, "[B, C, H, W]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "flow", flow, "input", input);
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  const bool flow_ok =
      flow.dim() == 4 && flow.size(0) == B && flow.size(1) == 2 && flow.size(2) == H && flow.size(3) == W;
  TORCH_CHECK_VALUE(flow_ok, op, "(): expected flow of shape [", B, ", 2, ", H, ", ", W,
                    "] (B, H, W of input), but got ", flow.sizes());
  check_memory(op, input.device(), tensor_bytes({B, input.size(1) + 1, H, W}, input.element_size()),
               [&] { return c10::str("the output and den for input ", input.sizes()); });
  if (!splat_uses_metric(mode)) {
    TORCH_CHECK_VALUE(!metric.has_value(), op, "(): expected metric to be None for mode '", mode_name,
                      "' (only 'linear' and 'soft' use it), but got a tensor of shape ", metric->sizes());
    return mode;
  }
  TORCH_CHECK_VALUE(metric.has_value(), op, "(): mode '", mode_name, "' needs a metric of shape [", B, ", 1, ", H, ", ",
                    W, "], but got None");
  check_same_device_dtype(op, "metric", *metric, "input", input);
  const bool metric_ok = metric->dim() == 4 && metric->size(0) == B && metric->size(1) == 1 && metric->size(2) == H &&
                         metric->size(3) == W;
  TORCH_CHECK_VALUE(metric_ok, op, "(): expected metric of shape [", B, ", 1, ", H, ", ", W,
                    "] (B, H, W of input), but got ", metric->sizes());
  return mode;
}

// output, den and metric_max are what the forward returned; grad_output has output's shape.
inline SplatMode check_softsplat_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                               const at::Tensor& flow, const std::optional<at::Tensor>& metric,
                                               c10::string_view mode_name, const at::Tensor& output,
                                               const at::Tensor& den, const at::Tensor& metric_max) {
  const char* op = "softsplat_backward";
  const SplatMode mode = check_softsplat_args(op, input, flow, metric, mode_name);
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  check_same_device_dtype(op, "output", output, "input", input);
  TORCH_CHECK_VALUE(grad_output.sizes() == input.sizes(), op, "(): expected grad_output of shape ", input.sizes(),
                    " (the output's), but got ", grad_output.sizes());
  TORCH_CHECK_VALUE(output.sizes() == input.sizes(), op, "(): expected output of shape ", input.sizes(), ", but got ",
                    output.sizes());
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  const at::ScalarType acc = splat_acc_dtype(input.scalar_type());
  TORCH_CHECK_VALUE(den.device() == input.device() && den.dim() == 4 && den.size(0) == B && den.size(1) == 1 &&
                        den.size(2) == H && den.size(3) == W,
                    op, "(): expected den of shape [", B, ", 1, ", H, ", ", W, "] on ", input.device(),
                    " (as returned by softsplat), but got ", den.sizes(), " on ", den.device());
  TORCH_CHECK_TYPE(den.scalar_type() == acc, op, "(): expected den of dtype ", acc,
                   " (as returned by softsplat), but got ", den.scalar_type());
  TORCH_CHECK_VALUE(metric_max.device() == input.device() && metric_max.dim() == 1 && metric_max.size(0) == B, op,
                    "(): expected metric_max of shape [", B, "] on ", input.device(),
                    " (as returned by softsplat), but got ", metric_max.sizes(), " on ", metric_max.device());
  TORCH_CHECK_TYPE(metric_max.scalar_type() == acc, op, "(): expected metric_max of dtype ", acc,
                   " (as returned by softsplat), but got ", metric_max.scalar_type());
  return mode;
}

}  // namespace vfi_ops
