// sparse_masked_conv2d: the forward and backward passes, written once for both
// devices. They list the active positions, then walk them in chunks: gather the
// chunk's input patches, multiply by the weight with ATen's batched GEMM (one
// batch per group: BLAS on CPU, cuBLAS on CUDA), scatter the results. Memory
// grows with the chunk, never with H * W * C_in * kh * kw.
//
// Past kDenseAbove of the positions active, the dense convolution (mkldnn,
// cuDNN) is cheaper than the gathers: the output is then
// where(mask, conv, fill), and the gradients those of that expression.
//
// `Kernels` supplies the device's data movement (see cpu/ and cuda/):
//   gather_patches(input, active, shape, cols)     cols[k, j] as in sparse_masked_conv2d.h
//   scatter_rows(values, bias, active, shape, out) out[b, c, oy, ox] = values[c, j] (+ bias[c])
//   gather_rows(grad, active, shape, rows)         rows[c, j] = grad[b, c, oy, ox]
//   scatter_patches_add(grad_cols, active, shape, grad_input)   the transpose of gather_patches
//   kPatchBudget                                   elements of a chunk's patch matrix
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
#include <ATen/ops/eq.h>
#include <ATen/ops/masked_fill.h>
#include <ATen/ops/ne.h>
#include <ATen/ops/nonzero.h>
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
inline bool dense_is_cheaper(const at::Tensor& active, const SparseConvShape& s, double dense_above) {
  return static_cast<double>(active.size(0)) > dense_above * static_cast<double>(s.B * s.H_out * s.W_out);
}

// A [rows, n] view of the front of a preallocated buffer.
inline at::Tensor matrix_in(const at::Tensor& buffer, int64_t rows, int64_t n) {
  return buffer.narrow(0, 0, rows * n).view({rows, n});
}

template <typename Kernels>
at::Tensor sparse_masked_conv2d_forward(const at::Tensor& input_, const at::Tensor& weight_,
                                        const c10::optional<at::Tensor>& bias_, const at::Tensor& mask,
                                        at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                        int64_t groups, const c10::optional<at::Tensor>& fill) {
  const char* op = "sparse_masked_conv2d";
  const SparseConvShape s =
      check_sparse_masked_conv2d_args(op, input_, weight_, mask, stride, padding, dilation, groups);
  check_sparse_masked_conv2d_optional(op, s, input_, bias_, fill);
  Kernels::check_dtype(op, input_);
  const c10::DeviceGuard guard(input_.device());

  if (s.B * s.C_out * s.H_out * s.W_out == 0) {
    return at::zeros({s.B, s.C_out, s.H_out, s.W_out}, input_.options());
  }
  const at::Tensor active = active_positions(mask);
  if (dense_is_cheaper(active, s, Kernels::kDenseAbove)) {
    const at::Tensor conv = at::convolution(input_, weight_, bias_, stride, padding, dilation, false, {0, 0}, groups);
    const at::Tensor on = at::ne(mask, 0);
    return (fill.has_value() ? at::where(on, conv, *fill) : at::where(on, conv, 0)).contiguous();
  }
  at::Tensor output = fill.has_value() ? fill->clone(at::MemoryFormat::Contiguous)
                                       : at::zeros({s.B, s.C_out, s.H_out, s.W_out}, input_.options());
  if (active.size(0) == 0) return output;

  const at::Tensor input = input_.contiguous();
  const at::Tensor bias = bias_.has_value() ? bias_->contiguous() : at::Tensor();
  const int64_t G = s.groups, K = s.patch_rows(), C = s.C_out;
  const at::Tensor weight = weight_.contiguous().view({G, C / G, K / G});
  const int64_t chunk = chunk_positions(active.size(0), std::max(K, C), Kernels::kPatchBudget);
  const at::Tensor cols_buffer = at::empty({K * chunk}, input.options());
  const at::Tensor values_buffer = at::empty({C * chunk}, input.options());
  for_each_chunk(active, chunk, [&](const at::Tensor& act) {
    const int64_t n = act.size(0);
    at::Tensor cols = matrix_in(cols_buffer, K, n);
    Kernels::gather_patches(input, act, s, cols);
    at::Tensor values = matrix_in(values_buffer, C, n);
    at::Tensor values_g = values.view({G, C / G, n});
    at::bmm_out(values_g, weight, cols.view({G, K / G, n}));
    Kernels::scatter_rows(values, bias, act, s, output);
  });
  return output;
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
  // The fill shows where the mask is off, so it gets the gradient there.
  at::Tensor grad_fill = output_mask[3] ? grad_output_.masked_fill(at::ne(mask, 0), 0).contiguous() : at::empty({0}, options);
  const bool conv_grads = output_mask[0] || output_mask[1] || output_mask[2];
  const at::Tensor active = conv_grads && grad_output_.numel() > 0 ? active_positions(mask) : at::Tensor();
  const bool deterministic_input = Kernels::kAtomicInputGrad && output_mask[0] && at::globalContext().deterministicAlgorithms();
  if (active.defined() && active.size(0) > 0 && (deterministic_input || dense_is_cheaper(active, s, Kernels::kDenseAbove))) {
    const at::Tensor masked = grad_output_.masked_fill(at::eq(mask, 0), 0);
    auto [grad_input, grad_weight, grad_bias] =
        at::convolution_backward(masked, input_, weight_, at::IntArrayRef{s.C_out}, stride, padding, dilation, false,
                                 {0, 0}, groups, {output_mask[0], output_mask[1], output_mask[2]});
    return {output_mask[0] ? grad_input.contiguous() : at::empty({0}, options),
            output_mask[1] ? grad_weight.contiguous() : at::empty({0}, options),
            output_mask[2] ? grad_bias : at::empty({0}, options), grad_fill};
  }

  const auto acc = options.dtype(at::toOpMathType(input_.scalar_type()));
  const int64_t G = s.groups, K = s.patch_rows(), C = s.C_out;
  // Accumulated in float for float16/bfloat16 (over chunks, and over taps for the input).
  at::Tensor grad_input = output_mask[0] ? at::zeros(input_.sizes(), acc) : at::Tensor();
  at::Tensor grad_weight = output_mask[1] ? at::zeros({G, C / G, K / G}, acc) : at::Tensor();
  at::Tensor grad_bias = output_mask[2] ? at::zeros({C}, acc) : at::Tensor();
  if (active.defined() && active.size(0) > 0) {
    const at::Tensor grad_output = grad_output_.contiguous();
    const at::Tensor input = input_.contiguous();
    const at::Tensor weight = weight_.contiguous().view({G, C / G, K / G});
    const int64_t chunk = chunk_positions(active.size(0), std::max(K, C), Kernels::kPatchBudget);
    const at::Tensor cols_buffer = at::empty({K * chunk}, options);
    const at::Tensor rows_buffer = at::empty({C * chunk}, options);
    const bool same_dtype = acc.dtype() == options.dtype();
    for_each_chunk(active, chunk, [&](const at::Tensor& act) {
      const int64_t n = act.size(0);
      at::Tensor rows = matrix_in(rows_buffer, C, n);
      Kernels::gather_rows(grad_output, act, s, rows);
      const at::Tensor rows_g = rows.view({G, C / G, n});
      if (output_mask[2]) grad_bias.add_(at::sum(rows, {1}, false, grad_bias.scalar_type()));
      if (output_mask[1]) {
        at::Tensor cols = matrix_in(cols_buffer, K, n);
        Kernels::gather_patches(input, act, s, cols);
        const at::Tensor cols_t = cols.view({G, K / G, n}).transpose(1, 2);
        if (same_dtype) {
          grad_weight.baddbmm_(rows_g, cols_t);
        } else {
          grad_weight.add_(at::bmm(rows_g, cols_t));
        }
      }
      if (output_mask[0]) {
        at::Tensor grad_cols = matrix_in(cols_buffer, K, n);
        at::Tensor grad_cols_g = grad_cols.view({G, K / G, n});
        at::bmm_out(grad_cols_g, weight.transpose(1, 2), rows_g);
        Kernels::scatter_patches_add(grad_cols, act, s, grad_input);
      }
    });
  }
  const auto dtype = input_.scalar_type();
  return {output_mask[0] ? grad_input.to(dtype) : at::empty({0}, options),
          output_mask[1] ? grad_weight.view(weight_.sizes()).to(dtype) : at::empty({0}, options),
          output_mask[2] ? grad_bias.to(dtype) : at::empty({0}, options), grad_fill};
}

}  // namespace vfi_ops
