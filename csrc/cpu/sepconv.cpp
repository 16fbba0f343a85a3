// sepconv: CPU launchers. The math is in sepconv.h; here a task takes whole
// output rows (forward, kernel gradients) or whole input rows (input gradient,
// a gather), each cut into spans of kSpan pixels so that a span's kernels stay
// in cache while every channel and kernel row reads them. Every element is
// written by one task and summed in a fixed order: the results are the same
// for any number of threads.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "cpu/partition.h"
#include "cpu/simd.h"
#include "sepconv_math.h"
#include "sepconv_checks.h"

namespace vfi_ops {
namespace {

constexpr int64_t kSpan = 256;

struct Sizes {
  int64_t B, C, H, W;  // output
  int K;
  int64_t Hin() const { return H + K - 1; }
  int64_t Win() const { return W + K - 1; }
};

// Output rows [begin, end) of rows b*H + y.
template <typename scalar_t>
VFI_CPU_SIMD void forward_rows(const scalar_t* input, const scalar_t* vertical, const scalar_t* horizontal,
                               scalar_t* out, const Sizes& s, int64_t begin, int64_t end) {
  const int64_t HW = s.H * s.W, ks = HW, rs = s.Win();
  std::vector<scalar_t> tmp(kSpan), acc(kSpan);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.H, y = row % s.H;
    for (int64_t x0 = 0; x0 < s.W; x0 += kSpan) {
      const int64_t n = std::min(kSpan, s.W - x0);
      const scalar_t* v = vertical + b * s.K * HW + y * s.W + x0;
      const scalar_t* h = horizontal + b * s.K * HW + y * s.W + x0;
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* in = input + ((b * s.C + c) * s.Hin() + y) * rs + x0;
        sepconv_forward_span<scalar_t, scalar_t, int64_t>(in, rs, v, h, ks, s.K, n, tmp.data(), acc.data());
        std::copy(acc.begin(), acc.begin() + n, out + (b * s.C + c) * HW + y * s.W + x0);
      }
    }
  }
}

// Vertical and horizontal gradients (either may be null) of output rows [begin, end).
template <typename scalar_t>
VFI_CPU_SIMD void kernel_grad_rows(const scalar_t* grad_out, const scalar_t* input, const scalar_t* vertical,
                                   const scalar_t* horizontal, scalar_t* grad_v, scalar_t* grad_h, const Sizes& s,
                                   int64_t begin, int64_t end) {
  const int64_t HW = s.H * s.W, ks = HW, rs = s.Win();
  std::vector<scalar_t> tmp(kSpan);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.H, y = row % s.H;
    for (int64_t x0 = 0; x0 < s.W; x0 += kSpan) {
      const int64_t n = std::min(kSpan, s.W - x0), at = b * s.K * HW + y * s.W + x0;
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* in = input + ((b * s.C + c) * s.Hin() + y) * rs + x0;
        const scalar_t* g = grad_out + (b * s.C + c) * HW + y * s.W + x0;
        for (int i = 0; grad_v != nullptr && i < s.K; ++i) {
          sepconv_horizontal_pass<scalar_t, scalar_t, int64_t>(in + i * rs, horizontal + at, ks, s.K, n, tmp.data());
          sepconv_kernel_grad_term<scalar_t, scalar_t, scalar_t, int64_t>(g, tmp.data(), n, grad_v + at + i * ks);
        }
        for (int j = 0; grad_h != nullptr && j < s.K; ++j) {
          sepconv_vertical_pass<scalar_t, scalar_t, int64_t>(in, rs, vertical + at, ks, s.K, j, n, tmp.data());
          sepconv_kernel_grad_term<scalar_t, scalar_t, scalar_t, int64_t>(g, tmp.data(), n, grad_h + at + j * ks);
        }
      }
    }
  }
}

// Input gradient of input rows [begin, end) of rows b*Hin + Y, every channel.
template <typename scalar_t>
VFI_CPU_SIMD void input_grad_rows(const scalar_t* grad_out, const scalar_t* vertical, const scalar_t* horizontal,
                                  scalar_t* grad_input, const Sizes& s, int64_t begin, int64_t end) {
  const int64_t HW = s.H * s.W, ks = HW, Hin = s.Hin(), Win = s.Win();
  std::vector<scalar_t> acc(kSpan);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / Hin, Y = row % Hin;
    // Kernel rows i whose output row y = Y - i is inside [0, H).
    const int64_t i_lo = std::max<int64_t>(0, Y - (s.H - 1)), i_hi = std::min<int64_t>(s.K - 1, Y);
    for (int64_t X0 = 0; X0 < Win; X0 += kSpan) {
      const int64_t n = std::min(kSpan, Win - X0);
      for (int64_t c = 0; c < s.C; ++c) {
        std::fill(acc.begin(), acc.begin() + n, scalar_t(0));
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          const int64_t y = Y - i;
          sepconv_input_grad_row<scalar_t, scalar_t, int64_t>(
              grad_out + (b * s.C + c) * HW + y * s.W, vertical + (b * s.K + i) * HW + y * s.W,
              horizontal + b * s.K * HW + y * s.W, ks, s.K, s.W, X0, n, acc.data());
        }
        std::copy(acc.begin(), acc.begin() + n, grad_input + ((b * s.C + c) * Hin + Y) * Win + X0);
      }
    }
  }
}

Sizes sizes_of(const at::Tensor& input, const at::Tensor& vertical, int K) {
  return {input.size(0), input.size(1), vertical.size(2), vertical.size(3), K};
}

at::Tensor sepconv_cpu(const at::Tensor& input_, const at::Tensor& vertical_, const at::Tensor& horizontal_) {
  const int K = check_sepconv_args("sepconv", input_, vertical_, horizontal_);
  check_cpu_dtype("sepconv", input_);
  const at::Tensor input = input_.contiguous();
  const at::Tensor vertical = vertical_.contiguous();
  const at::Tensor horizontal = horizontal_.contiguous();
  const Sizes s = sizes_of(input, vertical, K);
  at::Tensor out = at::empty({s.B, s.C, s.H, s.W}, input.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sepconv_cpu", [&] {
    at::parallel_for(0, s.B * s.H, rows_per_task(s.W * s.C * s.K * s.K), [&](int64_t begin, int64_t end) {
      forward_rows<scalar_t>(input.const_data_ptr<scalar_t>(), vertical.const_data_ptr<scalar_t>(),
                             horizontal.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), s, begin, end);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> sepconv_backward_cpu(const at::Tensor& grad_output_,
                                                                    const at::Tensor& input_,
                                                                    const at::Tensor& vertical_,
                                                                    const at::Tensor& horizontal_,
                                                                    std::array<bool, 3> output_mask) {
  const int K = check_sepconv_backward_args(grad_output_, input_, vertical_, horizontal_);
  check_cpu_dtype("sepconv_backward", input_);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor vertical = vertical_.contiguous();
  const at::Tensor horizontal = horizontal_.contiguous();
  const Sizes s = sizes_of(input, vertical, K);
  // A gradient that was not asked for comes back as an empty tensor. Zeros: with
  // no channels (or no output pixels) the gradients are zero.
  auto make = [&](bool needed, const at::Tensor& like) {
    return needed ? at::zeros_like(like) : at::empty({0}, like.options());
  };
  at::Tensor grad_input = make(output_mask[0], input);
  at::Tensor grad_vertical = make(output_mask[1], vertical);
  at::Tensor grad_horizontal = make(output_mask[2], horizontal);
  if (grad_output.numel() == 0) return {grad_input, grad_vertical, grad_horizontal};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sepconv_backward_cpu", [&] {
    const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
    const scalar_t* v = vertical.const_data_ptr<scalar_t>();
    const scalar_t* h = horizontal.const_data_ptr<scalar_t>();
    if (output_mask[0]) {
      scalar_t* gi = grad_input.mutable_data_ptr<scalar_t>();
      at::parallel_for(0, s.B * s.Hin(), rows_per_task(s.Win() * s.C * s.K * s.K),
                       [&](int64_t begin, int64_t end) { input_grad_rows<scalar_t>(g, v, h, gi, s, begin, end); });
    }
    if (output_mask[1] || output_mask[2]) {
      scalar_t* gv = output_mask[1] ? grad_vertical.mutable_data_ptr<scalar_t>() : nullptr;
      scalar_t* gh = output_mask[2] ? grad_horizontal.mutable_data_ptr<scalar_t>() : nullptr;
      at::parallel_for(0, s.B * s.H, rows_per_task(2 * s.W * s.C * s.K * s.K), [&](int64_t begin, int64_t end) {
        kernel_grad_rows<scalar_t>(g, input.const_data_ptr<scalar_t>(), v, h, gv, gh, s, begin, end);
      });
    }
  });
  return {grad_input, grad_vertical, grad_horizontal};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("sepconv", &sepconv_cpu);
  m.impl("sepconv_backward", &sepconv_backward_cpu);
}

}  // namespace vfi_ops
