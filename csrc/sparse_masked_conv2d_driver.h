// sparse_masked_conv2d: the forward and backward passes, written once for both
// devices. They list the active positions, then walk them in chunks: gather the
// chunk's input patches, multiply by the weight with ATen's GEMMs (one per
// group: BLAS on CPU, cuBLAS on CUDA), scatter the results. Memory grows with
// the chunk, never with H * W * C_in * kh * kw. The matrices are in the
// accumulation type (float for float16/bfloat16 inputs), so the GEMMs
// accumulate in float whatever the library's reduced-precision settings. The matrices are laid out as
// the tensors (NCHW or NHWC, see sparse_masked_conv2d_math.h); the GEMMs see them
// through [groups, rows, positions] views either way.
//
// Past kDenseAbove of the positions active, the dense convolution (mkldnn,
// cuDNN) is cheaper than the gathers: the output is then
// where(mask, conv, fill), and the gradients those of that expression.
//
// `Kernels` supplies the device's data movement (see cpu/ and cuda/):
//   gather_patches(input, active, shape, cols)     cols as in sparse_masked_conv2d_math.h
//   scatter_rows(values, bias, active, shape, out) out[b, c, oy, ox] = values[c, j] (+ bias[c])
//   gather_rows(grad, active, shape, rows)         rows[c, j] = grad[b, c, oy, ox]
//   scatter_patches_add(grad_cols, active, shape, grad_input)   the transpose of gather_patches
//   empty(sizes, options)                          a buffer the kernels will fill
//   patch_budget()                                 elements of a backward chunk's patch matrix
//   forward_budget(total)                          the same for the forward, given all its patch elements
//   for_chunk_ranges(chunks, fn)                   calls fn(first, last) over [0, chunks): forward chunks
//                                                  write distinct positions, so they may run side by side
//   kDenseAbove                                    active fraction past which the dense route is taken
//   kAtomicInputGrad                               whether scatter_patches_add uses atomics (its order
//                                                  varies): under deterministic mode the dense route is taken
//   check_dtype(op, input)
#pragma once

#include <ATen/Context.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/bmm.h>
#include <ATen/ops/convolution.h>
#include <ATen/ops/convolution_backward.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "sparse_masked_conv2d_checks.h"

namespace vfi_ops {

// Flat indices (b * H_out + oy) * W_out + ox of the nonzero mask entries, increasing.
inline at::Tensor active_positions(const at::Tensor& mask) { return at::nonzero(mask.reshape({-1})).view({-1}); }

// Zeros in a memory format (at::zeros ignores the options' memory format).
inline at::Tensor zeros_in(at::IntArrayRef sizes, const at::TensorOptions& options, at::MemoryFormat format) {
  return at::empty(sizes, options.memory_format(format)).zero_();
}

// Positions per chunk: as many as fit the budget, all of them if fewer.
inline int64_t chunk_positions(int64_t active, int64_t rows_per_position, int64_t budget) {
  return std::max<int64_t>(1, std::min<int64_t>(active, budget / std::max<int64_t>(1, rows_per_position)));
}

// Calls fn(active_chunk) for consecutive chunks of `chunk` positions.
template <typename Fn>
void for_each_chunk(const at::Tensor& active, int64_t chunk, Fn&& fn) {
  const int64_t n = active.size(0);
  for (int64_t first = 0; first < n; first += chunk) fn(active.slice(0, first, std::min(n, first + chunk)));
}

// Whether the dense convolution is the cheaper way to compute `active` positions.
// Never with no input channels: at::convolution then returns no output channels
// either, where the definition (and the sparse route) gives the bias.
inline bool dense_is_cheaper(const at::Tensor& active, const SparseConvShape& s, double dense_above) {
  return s.C_in > 0 && static_cast<double>(active.size(0)) > dense_above * static_cast<double>(s.B * s.H_out * s.W_out);
}

// A matrix of `rows` rows (patch rows or channels) by n positions at the front
// of a preallocated buffer: [rows, n] for NCHW, [n, rows] for NHWC.
inline at::Tensor matrix_in(const at::Tensor& buffer, int64_t rows, int64_t n, const SparseConvShape& s) {
  const at::Tensor front = buffer.narrow(0, 0, rows * n);
  return s.channels_last ? front.view({n, rows}) : front.view({rows, n});
}

// The [groups, rows / groups, n] view of such a matrix, for the GEMMs.
inline at::Tensor by_group(const at::Tensor& matrix, const SparseConvShape& s) {
  const int64_t G = s.groups;
  if (!s.channels_last) return matrix.view({G, matrix.size(0) / G, matrix.size(1)});
  return matrix.view({matrix.size(0), G, matrix.size(1) / G}).permute({1, 2, 0});
}

// The weight as [groups, C_out / groups, patch rows of a group], rows in the
// layout's order.
inline at::Tensor weight_matrix(const at::Tensor& weight, const SparseConvShape& s) {
  const at::Tensor w = s.channels_last ? weight.permute({0, 2, 3, 1}).contiguous() : weight.contiguous();
  return w.view({s.groups, s.C_out / s.groups, s.patch_rows() / s.groups});
}

// out = a @ b for each group. One group is one plain GEMM, which takes its
// operands and result transposed or not as they lie.
inline void grouped_mm_out(const at::Tensor& out, const at::Tensor& a, const at::Tensor& b) {
  if (out.size(0) == 1) {
    at::Tensor out0 = out.select(0, 0);
    at::mm_out(out0, a.select(0, 0), b.select(0, 0));
  } else {
    at::Tensor out_ = out;
    at::bmm_out(out_, a, b);
  }
}

// acc += a @ b for each group (acc contiguous).
inline void grouped_mm_add(at::Tensor& acc, const at::Tensor& a, const at::Tensor& b) {
  if (acc.size(0) == 1) {
    acc.select(0, 0).addmm_(a.select(0, 0), b.select(0, 0));
  } else {
    acc.baddbmm_(a, b);
  }
}

// The inverse of weight_matrix's reordering, for the weight gradient.
inline at::Tensor weight_grad_in_weight_order(const at::Tensor& grad, const at::Tensor& weight,
                                              const SparseConvShape& s) {
  if (!s.channels_last) return grad.view(weight.sizes());
  return grad.view({s.C_out, s.kh, s.kw, weight.size(1)}).permute({0, 3, 1, 2}).contiguous();
}

// The forward; into `out` when given (the out= overload: checked by
// sparse_masked_conv2d_forward_out), into a new tensor otherwise.
template <typename Kernels>
at::Tensor sparse_masked_conv2d_forward_impl(const at::Tensor& input_, const at::Tensor& weight_,
                                             const c10::optional<at::Tensor>& bias_, const at::Tensor& mask,
                                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                             int64_t groups, const c10::optional<at::Tensor>& fill,
                                             const c10::optional<at::Tensor>& out) {
  const char* op = "sparse_masked_conv2d";
  const SparseConvShape s =
      check_sparse_masked_conv2d_args(op, input_, weight_, mask, stride, padding, dilation, groups);
  check_sparse_masked_conv2d_optional(op, s, input_, bias_, fill);
  Kernels::check_dtype(op, input_);
  const c10::DeviceGuard guard(input_.device());

  const auto format = s.memory_format();
  const std::array<int64_t, 4> out_sizes{s.B, s.C_out, s.H_out, s.W_out};
  if (s.B * s.C_out * s.H_out * s.W_out == 0) {
    return out.has_value() ? *out : zeros_in(out_sizes, input_.options(), format);
  }
  check_sparse_masked_conv2d_memory(
      op, s, input_, mask,
      out.has_value() ? 0.0 : tensor_bytes({s.B, s.C_out, s.H_out, s.W_out}, input_.element_size()), "the output");
  const at::Tensor active = active_positions(mask);
  if (dense_is_cheaper(active, s, Kernels::kDenseAbove)) {
    at::Tensor conv =
        at::convolution(input_, weight_, bias_, stride, padding, dilation, false, {0, 0}, groups).contiguous(format);
    // In place on the fresh convolution output unless there is an out: no second full-size tensor.
    at::Tensor result = out.has_value() ? *out : conv;
    const at::Tensor other = fill.has_value() ? *fill : at::scalar_tensor(0, conv.options());
    return at::where_out(result, at::ne(mask, 0), conv, other);
  }
  at::Tensor output;
  if (!out.has_value()) {
    output = fill.has_value() ? fill->clone(format) : zeros_in(out_sizes, input_.options(), format);
  } else if (!fill.has_value()) {
    output = out->zero_();
  } else {
    output = *out;
    if (memory_sharing(output, *fill) != Sharing::Same) output.copy_(*fill);
  }
  if (active.size(0) == 0) return output;

  const at::Tensor input = input_.contiguous(format);
  const at::Tensor bias = bias_.has_value() ? bias_->contiguous() : at::Tensor();
  const int64_t K = s.patch_rows(), C = s.C_out;
  const auto acc = input.options().dtype(at::toOpMathType(input.scalar_type()));
  const at::Tensor weight = weight_matrix(weight_, s).to(acc.dtype());
  const int64_t rows = std::max(K, C);
  const int64_t chunk = chunk_positions(active.size(0), rows, Kernels::forward_budget(active.size(0) * rows));
  const int64_t chunks = (active.size(0) + chunk - 1) / chunk;
  Kernels::for_chunk_ranges(chunks, [&](int64_t first, int64_t last) {
    const at::Tensor cols_buffer = Kernels::empty({K * chunk}, acc);
    const at::Tensor values_buffer = Kernels::empty({C * chunk}, acc);
    for (int64_t c = first; c < last; ++c) {
      const at::Tensor act = active.slice(0, c * chunk, std::min(active.size(0), (c + 1) * chunk));
      const int64_t n = act.size(0);
      at::Tensor cols = matrix_in(cols_buffer, K, n, s);
      if (K > 0) Kernels::gather_patches(input, act, s, cols);
      at::Tensor values = matrix_in(values_buffer, C, n, s);
      grouped_mm_out(by_group(values, s), weight, by_group(cols, s));
      Kernels::scatter_rows(values, bias, act, s, output);
    }
  });
  return output;
}

template <typename Kernels>
at::Tensor sparse_masked_conv2d_forward(const at::Tensor& input, const at::Tensor& weight,
                                        const c10::optional<at::Tensor>& bias, const at::Tensor& mask,
                                        at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                        int64_t groups, const c10::optional<at::Tensor>& fill) {
  return sparse_masked_conv2d_forward_impl<Kernels>(input, weight, bias, mask, stride, padding, dilation, groups, fill,
                                                    c10::nullopt);
}

// The out= overload: returns out (ATen's convention). Inputs whose memory may
// meet out's in a way that cannot be decided are copied first.
template <typename Kernels>
at::Tensor& sparse_masked_conv2d_forward_out(const at::Tensor& input, const at::Tensor& weight,
                                             const c10::optional<at::Tensor>& bias, const at::Tensor& mask,
                                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                             int64_t groups, const c10::optional<at::Tensor>& fill, at::Tensor& out) {
  const char* op = "sparse_masked_conv2d";
  const SparseConvShape s = check_sparse_masked_conv2d_args(op, input, weight, mask, stride, padding, dilation, groups);
  check_sparse_masked_conv2d_optional(op, s, input, bias, fill);
  check_sparse_masked_conv2d_out(op, s, out, input);
  const auto apart = [&](const char* name, const c10::optional<at::Tensor>& t, bool may_be_out = false) {
    return t.has_value() ? c10::optional<at::Tensor>(apart_from_out(op, name, out, *t, may_be_out)) : c10::nullopt;
  };
  sparse_masked_conv2d_forward_impl<Kernels>(
      apart_from_out(op, "input", out, input), apart_from_out(op, "weight", out, weight), apart("bias", bias),
      apart_from_out(op, "mask", out, mask), stride, padding, dilation, groups, apart("fill", fill, true), out);
  return out;
}

// output_mask: which of (grad_input, grad_weight, grad_bias, grad_fill) to
// compute; the others come back as empty tensors.
template <typename Kernels>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> sparse_masked_conv2d_backward(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& weight_, const at::Tensor& mask,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    std::array<bool, 4> output_mask) {
  const char* op = "sparse_masked_conv2d_backward";
  const SparseConvShape s =
      check_sparse_masked_conv2d_args(op, input_, weight_, mask, stride, padding, dilation, groups);
  check_sparse_masked_conv2d_grad(s, grad_output_, input_);
  Kernels::check_dtype(op, input_);
  const c10::DeviceGuard guard(input_.device());

  const auto options = input_.options();
  const auto format = s.memory_format();
  check_sparse_masked_conv2d_memory(
      op, s, input_, mask,
      (output_mask[0] ? tensor_bytes({s.B, s.C_in, s.H, s.W}, input_.element_size()) : 0.0) +
          (output_mask[3] ? tensor_bytes({s.B, s.C_out, s.H_out, s.W_out}, input_.element_size()) : 0.0),
      "the input and fill gradients asked for");
  // The fill shows where the mask is off, so it gets the gradient there. (at::where
  // keeps a channels-last gradient channels-last; masked_fill would copy it to NCHW.)
  const at::Tensor on = at::ne(mask, 0);
  at::Tensor grad_fill = output_mask[3] ? at::where(on, 0, grad_output_).contiguous(format) : at::empty({0}, options);
  const bool conv_grads = output_mask[0] || output_mask[1] || output_mask[2];
  const at::Tensor active = conv_grads && grad_output_.numel() > 0 ? active_positions(mask) : at::Tensor();
  const bool deterministic_input =
      Kernels::kAtomicInputGrad && output_mask[0] && at::globalContext().deterministicAlgorithms();
  const bool any_active = active.defined() && active.size(0) > 0;
  // (With no input channels the sparse route is the one that computes the definition.)
  if (any_active && s.C_in > 0 && (deterministic_input || dense_is_cheaper(active, s, Kernels::kDenseAbove))) {
    const at::Tensor masked = at::where(on, grad_output_, 0).contiguous(format);
    auto [grad_input, grad_weight, grad_bias] =
        at::convolution_backward(masked, input_, weight_, at::IntArrayRef{s.C_out}, stride, padding, dilation, false,
                                 {0, 0}, groups, {output_mask[0], output_mask[1], output_mask[2]});
    return {output_mask[0] ? grad_input.contiguous(format) : at::empty({0}, options),
            output_mask[1] ? grad_weight.contiguous() : at::empty({0}, options),
            output_mask[2] ? grad_bias : at::empty({0}, options), grad_fill};
  }

  const auto acc = options.dtype(at::toOpMathType(input_.scalar_type()));
  const int64_t G = s.groups, K = s.patch_rows(), C = s.C_out;
  // Accumulated in float for float16/bfloat16 (over chunks, and over taps for the input).
  at::Tensor grad_input = output_mask[0] ? zeros_in(input_.sizes(), acc, format) : at::Tensor();
  // In weight_matrix's order.
  at::Tensor grad_weight = output_mask[1] ? at::zeros({G, C / G, K / G}, acc) : at::Tensor();
  at::Tensor grad_bias = output_mask[2] ? at::zeros({C}, acc) : at::Tensor();
  if (active.defined() && active.size(0) > 0) {
    const at::Tensor grad_output = grad_output_.contiguous(format);
    const at::Tensor input = input_.contiguous(format);
    const at::Tensor weight = weight_matrix(weight_, s).to(acc.dtype());
    const int64_t chunk = chunk_positions(active.size(0), std::max(K, C), Kernels::patch_budget());
    const at::Tensor cols_buffer = Kernels::empty({K * chunk}, acc);
    const at::Tensor rows_buffer = Kernels::empty({C * chunk}, acc);
    for_each_chunk(active, chunk, [&](const at::Tensor& act) {
      const int64_t n = act.size(0);
      at::Tensor rows = matrix_in(rows_buffer, C, n, s);
      Kernels::gather_rows(grad_output, act, s, rows);
      const at::Tensor rows_g = by_group(rows, s);
      if (output_mask[2]) grad_bias.add_(at::sum(rows_g, {2}, false, grad_bias.scalar_type()).view({C}));
      if (output_mask[1]) {
        at::Tensor cols = matrix_in(cols_buffer, K, n, s);
        if (K > 0) Kernels::gather_patches(input, act, s, cols);
        grouped_mm_add(grad_weight, rows_g, by_group(cols, s).transpose(1, 2));
      }
      if (output_mask[0]) {
        at::Tensor grad_cols = matrix_in(cols_buffer, K, n, s);
        grouped_mm_out(by_group(grad_cols, s), weight.transpose(1, 2), rows_g);
        if (K > 0) Kernels::scatter_patches_add(grad_cols, act, s, grad_input);
      }
    });
  }
  const auto dtype = input_.scalar_type();
  return {output_mask[0] ? grad_input.to(dtype) : at::empty({0}, options),
          output_mask[1] ? weight_grad_in_weight_order(grad_weight, weight_, s).to(dtype) : at::empty({0}, options),
          output_mask[2] ? grad_bias.to(dtype) : at::empty({0}, options), grad_fill};
}

}  // namespace vfi_ops
