// Argument validation shared by every op's entry points (host only).
// Messages name the op, the argument, what was expected and what was received.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <initializer_list>
#include <limits>

#ifdef VFI_OPS_EMULATED_CUDA
#include "cuda/emulation.h"
#endif

namespace vfi_ops {

// The layout the layout-preserving ops (backward_warp, sparse_masked_conv2d)
// compute in and return: channels-last for a channels-last input, unless it is
// also contiguous (one channel, or 1 x 1 planes). vfi_ops.output_memory_format
// is the same rule in Python.
inline bool computes_channels_last(const at::Tensor& input) {
  return !input.is_contiguous() && input.is_contiguous(at::MemoryFormat::ChannelsLast);
}

inline at::MemoryFormat output_memory_format(const at::Tensor& input) {
  return computes_channels_last(input) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

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

// 32-bit indices are enough (and faster on GPUs) when every element of every
// tensor, plus one grid stride, stays below 2^31. (The emulated-CUDA tests can
// switch them off, to run the 64-bit paths on small tensors.)
inline bool fits_int32(std::initializer_list<int64_t> numels) {
#ifdef VFI_OPS_EMULATED_CUDA
  if (emulation::config().force_int64) return false;
#endif
  for (int64_t n : numels) {
    if (n > std::numeric_limits<int32_t>::max() / 2) return false;
  }
  return true;
}

// Calls fn(int32_t{0}) if `narrow`, else fn(int64_t{0}): kernels templated on
// their index type get the 32-bit one wherever it is enough.
template <typename Fn>
void with_index_type(bool narrow, Fn&& fn) {
#ifdef VFI_OPS_EMULATED_CUDA
  ++(narrow ? emulation::stats().int32_paths : emulation::stats().int64_paths);
#endif
  if (narrow) {
    fn(int32_t{0});
  } else {
    fn(int64_t{0});
  }
}

}  // namespace vfi_ops
