// corr_lookup: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <cstdint>

#include "checks.h"

namespace vfi_ops {

// Radii beyond this are refused (the window arithmetic stays far from overflow).
constexpr int64_t kMaxLookupRadius = int64_t(1) << 14;

inline void check_corr_lookup_args(const at::Tensor& fmap1, const at::Tensor& fmap2, const at::Tensor& coords,
                                   int64_t radius) {
  const char* op = "corr_lookup";
  check_dim(op, "fmap1", fmap1, 4, "[B, C, H, W]");
  check_dim(op, "fmap2", fmap2, 4, "[B, C, H2, W2]");
  check_dim(op, "coords", coords, 4, "[B, 2, H, W]");
  check_floating(op, "fmap1", fmap1);
  check_same_device_dtype(op, "fmap2", fmap2, "fmap1", fmap1);
  check_same_device_dtype(op, "coords", coords, "fmap1", fmap1);
  TORCH_CHECK_VALUE(fmap2.size(0) == fmap1.size(0) && fmap2.size(1) == fmap1.size(1), op,
                    "(): expected fmap2 of shape [", fmap1.size(0), ", ", fmap1.size(1),
                    ", H2, W2] (the batch size and channels of fmap1), but got ", fmap2.sizes());
  TORCH_CHECK_VALUE(coords.size(0) == fmap1.size(0) && coords.size(1) == 2 && coords.size(2) == fmap1.size(2) &&
                        coords.size(3) == fmap1.size(3),
                    op, "(): expected coords of shape [", fmap1.size(0), ", 2, ", fmap1.size(2), ", ", fmap1.size(3),
                    "] (B, H, W of fmap1), but got ", coords.sizes());
  TORCH_CHECK_VALUE(radius >= 0, op, "(): expected radius >= 0, but got ", radius);
  TORCH_CHECK_VALUE(radius <= kMaxLookupRadius, op, "(): expected radius <= ", kMaxLookupRadius, ", but got ", radius);
  TORCH_CHECK_VALUE(fmap2.size(2) > 0 && fmap2.size(3) > 0, op,
                    "(): expected fmap2 with non-empty spatial size [H2, W2], but got ", fmap2.sizes());
}

inline void check_corr_lookup_backward_args(const at::Tensor& grad_output, const at::Tensor& fmap1,
                                            const at::Tensor& fmap2, const at::Tensor& coords, int64_t radius) {
  check_corr_lookup_args(fmap1, fmap2, coords, radius);
  const char* op = "corr_lookup_backward";
  check_same_device_dtype(op, "grad_output", grad_output, "fmap1", fmap1);
  const int64_t n = 2 * radius + 1;
  const bool shape_ok = grad_output.dim() == 4 && grad_output.size(0) == fmap1.size(0) &&
                        grad_output.size(1) == n * n && grad_output.size(2) == fmap1.size(2) &&
                        grad_output.size(3) == fmap1.size(3);
  TORCH_CHECK_VALUE(shape_ok, op, "(): expected grad_output of shape [", fmap1.size(0), ", ", n * n, ", ",
                    fmap1.size(2), ", ", fmap1.size(3), "] (the output's), but got ", grad_output.sizes());
}

}  // namespace vfi_ops
