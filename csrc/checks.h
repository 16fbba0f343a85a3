// Argument validation shared by every op's entry points (host only).
// Messages name the op, the argument, what was expected and what was received.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

namespace vfi_ops {

inline void check_floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), op, "(): expected ", name,
                   " to be a floating-point tensor, but got dtype ", t.scalar_type());
}

// `layout` describes the expected shape, e.g. "[B, C, H, W]".
inline void check_dim(const char* op, const char* name, const at::Tensor& t, int64_t dim, const char* layout) {
  TORCH_CHECK_VALUE(t.dim() == dim, op, "(): expected ", name, " of shape ", layout, " (", dim,
                    "-D), but got a tensor of shape ", t.sizes());
}

inline void check_same_device_dtype(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                                    const at::Tensor& ref) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), op, "(): expected ", name, " on the same device as ", ref_name, " (",
                    ref.device(), "), but got ", t.device());
  TORCH_CHECK_TYPE(t.scalar_type() == ref.scalar_type(), op, "(): expected ", name, " to have the dtype of ", ref_name,
                   " (", ref.scalar_type(), "), but got ", t.scalar_type());
}

inline void check_cpu_dtype(const char* op, const at::Tensor& t) {
  const auto dtype = t.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble, op,
                   "(): the CPU kernels support float32 and float64, but got ", dtype,
                   " (float16 and bfloat16 are supported on CUDA)");
}

}  // namespace vfi_ops
