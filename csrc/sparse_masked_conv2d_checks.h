// sparse_masked_conv2d: argument validation shared by the CPU and CUDA entry points.
#pragma once

#include <ATen/MemoryOverlap.h>
#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Optional.h>

#include <cstdint>
#include <utility>

#include "checks.h"
#include "sparse_masked_conv2d_math.h"
#include "output_layout.h"

namespace vfi_ops {

// The sizes and parameters of one call, validated.
struct SparseConvShape {
  int64_t B, C_in, H, W, C_out, H_out, W_out, groups;
  int kh, kw, sh, sw, ph, pw, dh, dw;
  bool channels_last;  // the layout of the computation (see sparse_masked_conv2d_math.h)

  at::MemoryFormat memory_format() const {
    return channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  }

  // Rows of the patch matrix: C_in * kh * kw (all groups stacked).
  int64_t patch_rows() const { return C_in * kh * kw; }

  template <typename index_t>
  ConvGeometry<index_t> geometry() const {
    return {static_cast<index_t>(C_in),
            static_cast<index_t>(H),
            static_cast<index_t>(W),
            static_cast<index_t>(C_out),
            static_cast<index_t>(H_out),
            static_cast<index_t>(W_out),
            static_cast<index_t>(C_in / groups),
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            dh,
            dw,
            channels_last};
  }
};

// Reads a stride/padding/dilation pair, each value at least `min`.
inline void read_pair(const char* op, const char* name, at::IntArrayRef values, int64_t min, int* first, int* second) {
  TORCH_CHECK_VALUE(values.size() == 2, op, "(): expected ", name, " to have 2 values (height, width), but got ",
                    values);
  for (int64_t v : values) {
    TORCH_CHECK_VALUE(v >= min && v <= (int64_t(1) << 20), op, "(): expected each ", name, " value in [", min,
                      ", 2^20], but got ", values);
  }
  *first = static_cast<int>(values[0]);
  *second = static_cast<int>(values[1]);
}

inline SparseConvShape check_sparse_masked_conv2d_args(const char* op, const at::Tensor& input,
                                                       const at::Tensor& weight, const at::Tensor& mask,
                                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                                       at::IntArrayRef dilation, int64_t groups) {
  check_dim(op, "input", input, 4, "[B, C_in, H, W]");
  check_dim(op, "weight", weight, 4, "[C_out, C_in / groups, kh, kw]");
  check_dim(op, "mask", mask, 4, "[B, 1, H_out, W_out]");
  check_floating(op, "input", input);
  check_same_device_dtype(op, "weight", weight, "input", input);
  TORCH_CHECK_VALUE(mask.device() == input.device(), op, "(): expected mask on the same device as input (",
                    input.device(), "), but got ", mask.device());
  TORCH_CHECK_TYPE(!at::isComplexType(mask.scalar_type()), op,
                   "(): expected mask to be a bool, integer or floating-point tensor, but got dtype ",
                   mask.scalar_type());

  SparseConvShape s{};
  s.B = input.size(0);
  s.C_in = input.size(1);
  s.H = input.size(2);
  s.W = input.size(3);
  s.C_out = weight.size(0);
  s.groups = groups;
  // Computed NHWC when the input is channels-last (and not also contiguous, as
  // with one channel or a 1 x 1 image); the output then is channels-last too.
  s.channels_last = computes_channels_last(input);
  read_pair(op, "stride", stride, 1, &s.sh, &s.sw);
  read_pair(op, "padding", padding, 0, &s.ph, &s.pw);
  read_pair(op, "dilation", dilation, 1, &s.dh, &s.dw);
  TORCH_CHECK_VALUE(groups >= 1, op, "(): expected groups >= 1, but got ", groups);
  TORCH_CHECK_VALUE(s.C_in % groups == 0, op, "(): expected input channels (", s.C_in, ") to be divisible by groups (",
                    groups, ")");
  TORCH_CHECK_VALUE(s.C_out % groups == 0, op, "(): expected weight's output channels (", s.C_out,
                    ") to be divisible by groups (", groups, ")");
  TORCH_CHECK_VALUE(weight.size(1) == s.C_in / groups, op, "(): expected weight of shape [", s.C_out, ", ",
                    s.C_in / groups, ", kh, kw] (input channels ", s.C_in, " / groups ", groups,
                    "), but got weight of shape ", weight.sizes());
  TORCH_CHECK_VALUE(
      weight.size(2) >= 1 && weight.size(3) >= 1 && weight.size(2) <= (1 << 20) && weight.size(3) <= (1 << 20), op,
      "(): expected a kernel of at least 1 x 1, but got weight of shape ", weight.sizes());
  s.kh = static_cast<int>(weight.size(2));
  s.kw = static_cast<int>(weight.size(3));
  s.H_out = (s.H + 2 * s.ph - int64_t(s.dh) * (s.kh - 1) - 1) / s.sh + 1;
  s.W_out = (s.W + 2 * s.pw - int64_t(s.dw) * (s.kw - 1) - 1) / s.sw + 1;
  TORCH_CHECK_VALUE(
      s.H + 2 * s.ph >= int64_t(s.dh) * (s.kh - 1) + 1 && s.W + 2 * s.pw >= int64_t(s.dw) * (s.kw - 1) + 1, op,
      "(): the padded input (", s.H + 2 * s.ph, " x ", s.W + 2 * s.pw, ") is smaller than the dilated kernel (",
      int64_t(s.dh) * (s.kh - 1) + 1, " x ", int64_t(s.dw) * (s.kw - 1) + 1, ")");
  TORCH_CHECK_VALUE(mask.size(0) == s.B && mask.size(1) == 1 && mask.size(2) == s.H_out && mask.size(3) == s.W_out, op,
                    "(): expected mask of shape [", s.B, ", 1, ", s.H_out, ", ", s.W_out,
                    "] (the output's batch and size), but got ", mask.sizes());
  return s;
}

// bias [C_out] or fill [B, C_out, H_out, W_out], when given.
inline void check_sparse_masked_conv2d_optional(const char* op, const SparseConvShape& s, const at::Tensor& input,
                                                const c10::optional<at::Tensor>& bias,
                                                const c10::optional<at::Tensor>& fill) {
  if (bias.has_value()) {
    check_same_device_dtype(op, "bias", *bias, "input", input);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == s.C_out, op, "(): expected bias of shape [", s.C_out,
                      "] (weight's output channels), but got ", bias->sizes());
  }
  if (fill.has_value()) {
    check_same_device_dtype(op, "fill", *fill, "input", input);
    TORCH_CHECK_VALUE(fill->dim() == 4 && fill->size(0) == s.B && fill->size(1) == s.C_out &&
                          fill->size(2) == s.H_out && fill->size(3) == s.W_out,
                      op, "(): expected fill of shape [", s.B, ", ", s.C_out, ", ", s.H_out, ", ", s.W_out,
                      "] (the output's), but got ", fill->sizes());
  }
}

// How an argument's memory meets out's.
enum class Sharing { None, Same, Partial, Unknown };

// The bytes [first, last] that a tensor's elements span (torch strides are never negative).
inline std::pair<uintptr_t, uintptr_t> byte_span(const at::Tensor& t) {
  int64_t last = 0;
  for (int64_t d = 0; d < t.dim(); ++d) last += (t.size(d) - 1) * t.stride(d);
  const auto first = reinterpret_cast<uintptr_t>(t.const_data_ptr());
  return {first, first + static_cast<uintptr_t>((last + 1) * t.element_size()) - 1};
}

// Decided exactly where it can be: tensors whose byte spans do not intersect
// share nothing (whatever their layouts); the same elements in the same order
// are the same tensor; ATen decides dense tensors of one storage. Only strided
// tensors whose spans interleave with out's stay Unknown.
inline Sharing memory_sharing(const at::Tensor& out, const at::Tensor& t) {
  if (out.numel() == 0 || t.numel() == 0) return Sharing::None;
  const auto a = byte_span(out), b = byte_span(t);
  if (a.second < b.first || b.second < a.first) return Sharing::None;
  if (out.const_data_ptr() == t.const_data_ptr() && out.sizes() == t.sizes() && out.strides() == t.strides() &&
      out.element_size() == t.element_size()) {
    return Sharing::Same;
  }
  switch (at::get_overlap_status(out, t)) {
    case at::MemOverlapStatus::No:
      return Sharing::None;
    case at::MemOverlapStatus::TooHard:
      return Sharing::Unknown;
    default:  // Full (the same span in another order) or Partial
      return Sharing::Partial;
  }
}

// out, for the out= overload: exactly the tensor the op would return (shape,
// dtype, device, layout). Sharing memory with the inputs is checked by
// apart_from_out.
inline void check_sparse_masked_conv2d_out(const char* op, const SparseConvShape& s, const at::Tensor& out,
                                           const at::Tensor& input) {
  check_same_device_dtype(op, "out", out, "input", input);
  TORCH_CHECK_VALUE(out.dim() == 4 && out.size(0) == s.B && out.size(1) == s.C_out && out.size(2) == s.H_out &&
                        out.size(3) == s.W_out,
                    op, "(): expected out of shape [", s.B, ", ", s.C_out, ", ", s.H_out, ", ", s.W_out,
                    "] (the output's), but got ", out.sizes());
  TORCH_CHECK_VALUE(out.is_contiguous(s.memory_format()), op, "(): expected out to be ",
                    s.channels_last ? "channels-last contiguous (as the input)" : "contiguous (as the input)",
                    ", but got strides ", out.strides());
}

// An input of the out= overload as the kernels may read it while writing out:
// itself if it shares no memory with out, a copy if that cannot be decided (an
// irregular view interleaved with out); an error if it does share memory. Only
// the fill may be out itself (then updated in place).
inline at::Tensor apart_from_out(const char* op, const char* name, const at::Tensor& out, const at::Tensor& t,
                                 bool may_be_out = false) {
  switch (memory_sharing(out, t)) {
    case Sharing::None:
      return t;
    case Sharing::Unknown:
      return t.clone();
    case Sharing::Same:
      if (may_be_out) return t;
      break;
    case Sharing::Partial:
      break;
  }
  TORCH_CHECK_VALUE(!may_be_out, op, "(): expected out to be the ", name, " itself or to share no memory with it");
  TORCH_CHECK_VALUE(false, op, "(): expected out to share no memory with ", name);
}

// Before any work that grows with the output's size (listing the mask's active
// positions, copying inputs): refuses a call whose fresh tensors alone need more
// memory than the device has, naming the op, the sizes and the bytes. A mask or
// input expanded to a virtual size (expand() allocates nothing) otherwise makes
// the op walk every virtual element before an allocation fails.
inline void check_sparse_masked_conv2d_memory(const char* op, const SparseConvShape& s, const at::Tensor& input,
                                              const at::Tensor& mask, double result_bytes, const char* result) {
  double bytes = result_bytes;
  if (!mask.is_contiguous()) bytes += tensor_bytes({s.B, s.H_out, s.W_out}, mask.element_size());  // its flat copy
  if (!input.is_contiguous(s.memory_format())) bytes += tensor_bytes({s.B, s.C_in, s.H, s.W}, input.element_size());
  check_memory(op, input.device(), bytes, [&] {
    return c10::str(result, " for input [", s.B, ", ", s.C_in, ", ", s.H, ", ", s.W, "], weight [", s.C_out, ", ",
                    s.C_in / s.groups, ", ", s.kh, ", ", s.kw, "] and mask [", s.B, ", 1, ", s.H_out, ", ", s.W_out,
                    "], and contiguous copies of expanded or strided arguments");
  });
}

inline void check_sparse_masked_conv2d_grad(const SparseConvShape& s, const at::Tensor& grad_output,
                                            const at::Tensor& input) {
  const char* op = "sparse_masked_conv2d_backward";
  check_same_device_dtype(op, "grad_output", grad_output, "input", input);
  TORCH_CHECK_VALUE(grad_output.dim() == 4 && grad_output.size(0) == s.B && grad_output.size(1) == s.C_out &&
                        grad_output.size(2) == s.H_out && grad_output.size(3) == s.W_out,
                    op, "(): expected grad_output of shape [", s.B, ", ", s.C_out, ", ", s.H_out, ", ", s.W_out,
                    "] (the output's), but got ", grad_output.sizes());
}

}  // namespace vfi_ops
