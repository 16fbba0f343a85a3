// Argument validation shared by every op's entry points (host only).
// Messages name the op, the argument, what was expected and what was received.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <c10/util/StringUtil.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>

#ifndef _WIN32
#include <unistd.h>
#endif

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

// The memory of the device a call runs on, in bytes: the host's physical memory
// for CPU tensors, the GPU's total memory for CUDA tensors (in the CUDA
// launchers' compilation); 0 where it cannot be told (then nothing is refused).
// Each is asked once and remembered (calls pay a load, not a system call).
inline double device_memory_bytes(const at::Device& device) {
  if (device.is_cpu()) {
#ifndef _WIN32
    static const double host = [] {
      const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
      return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
    }();
    return host;
#else
    return 0.0;
#endif
  }
#if defined(__CUDACC__) && !defined(VFI_OPS_EMULATED_CUDA)
  static std::array<std::atomic<double>, 64> totals{};  // per device index; 0 until asked
  int index = device.index();
  if (index < 0 && cudaGetDevice(&index) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0.0;
  }
  if (index >= static_cast<int>(totals.size())) return 0.0;
  double total = totals[index].load(std::memory_order_relaxed);
  if (total == 0.0) {
    cudaDeviceProp properties;
    if (cudaGetDeviceProperties(&properties, index) == cudaSuccess) {
      total = static_cast<double>(properties.totalGlobalMem);
      totals[index].store(total, std::memory_order_relaxed);
    } else {
      (void)cudaGetLastError();
    }
  }
  return total;
#else
  return 0.0;
#endif
}

// The bytes of a tensor of these sizes (in double: virtual, expanded sizes can pass 2^63).
inline double tensor_bytes(std::initializer_list<int64_t> sizes, int64_t element_size) {
  double n = static_cast<double>(element_size);
  for (int64_t size : sizes) n *= static_cast<double>(size);
  return n;
}

// Before any work or allocation that grows with the sizes: refuses a call whose
// fresh tensors alone (`bytes`, described by describe()) need more memory than
// the device has, naming the op and the sizes. Arguments expanded to a virtual
// size (expand() allocates nothing) would otherwise fail in the allocator, with
// a message naming no op, or make the op walk every virtual element first.
template <typename Describe>
inline void check_memory(const char* op, const at::Device& device, double bytes, Describe&& describe) {
  const double available = device_memory_bytes(device);
  TORCH_CHECK_VALUE(available <= 0 || bytes <= available, op, "(): this call needs at least ", bytes / (1 << 30),
                    " GiB (", describe(), "), more than the ", available / (1 << 30), " GiB of memory of ", device,
                    "; check the sizes (an expand()ed argument still makes a full-size output)");
}

}  // namespace vfi_ops
