// backward_warp: CPU launchers. The math is in backward_warp.h.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "backward_warp.h"
#include "backward_warp_checks.h"

namespace vfi_ops {
namespace {

struct WarpSizes {
  int64_t B, C, Hin, Win, H, W;
};

WarpSizes warp_sizes(const at::Tensor& input, const at::Tensor& flow) {
  return {input.size(0), input.size(1), input.size(2), input.size(3), flow.size(2), flow.size(3)};
}

// Rows of output (b, y) per task, so that a task handles at least ~32k elements
// (ATen's grain size): smaller tasks cost more to schedule than they save.
int64_t row_grain(const WarpSizes& s) {
  constexpr int64_t kGrain = 32768;
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.W * std::max<int64_t>(s.C, 1)));
}

// Taps of every pixel of output row y of batch item b.
template <typename acc_t, typename scalar_t>
void row_taps(const scalar_t* flow, const WarpSizes& s, int64_t b, int64_t y, Padding padding,
              std::vector<BilinearTaps<acc_t, int64_t>>& taps) {
  const scalar_t* flow_b = flow + b * 2 * s.H * s.W;
  for (int64_t x = 0; x < s.W; ++x) {
    taps[x] = backward_warp_taps<acc_t, int64_t>(flow_b, x, y, s.H, s.W, s.Hin, s.Win, padding);
  }
}

template <typename scalar_t>
void forward_kernel(const scalar_t* input, const scalar_t* flow, scalar_t* out, const WarpSizes& s, Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  // A task takes whole rows: taps once per pixel, then one channel at a time,
  // so reads and writes run along rows.
  at::parallel_for(0, s.B * s.H, row_grain(s), [&](int64_t begin, int64_t end) {
    std::vector<BilinearTaps<acc_t, int64_t>> taps(s.W);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y = row % s.H;
      row_taps(flow, s, b, y, padding, taps);
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* plane = input + (b * s.C + c) * s.Hin * s.Win;
        scalar_t* out_row = out + ((b * s.C + c) * s.H + y) * s.W;
        for (int64_t x = 0; x < s.W; ++x) out_row[x] = static_cast<scalar_t>(backward_warp_value(taps[x], plane));
      }
    }
  });
}

// Input gradient: a scatter. Each task owns a contiguous range of (b, c) planes
// of grad_input, so no two tasks write the same element and no atomics are needed.
template <typename scalar_t>
void input_grad_kernel(const scalar_t* grad_out, const scalar_t* flow, scalar_t* grad_input, const WarpSizes& s,
                       Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t HW = s.H * s.W;
  at::parallel_for(0, s.B * s.C, 1, [&](int64_t begin, int64_t end) {
    std::vector<BilinearTaps<acc_t, int64_t>> taps(s.W);
    for (int64_t bc = begin; bc < end;) {
      const int64_t b = bc / s.C, c_begin = bc % s.C, c_end = std::min(s.C, c_begin + (end - bc));
      for (int64_t y = 0; y < s.H; ++y) {
        row_taps(flow, s, b, y, padding, taps);
        for (int64_t c = c_begin; c < c_end; ++c) {
          const scalar_t* g_row = grad_out + (b * s.C + c) * HW + y * s.W;
          scalar_t* plane = grad_input + (b * s.C + c) * s.Hin * s.Win;
          for (int64_t x = 0; x < s.W; ++x) {
            acc_t w[4];
            bilinear_weights(taps[x], w);
            const acc_t g = static_cast<acc_t>(g_row[x]);
            for (int k = 0; k < 4; ++k) plane[taps[x].offset[k]] += static_cast<scalar_t>(g * w[k]);
          }
        }
      }
      bc += c_end - c_begin;
    }
  });
}

// Flow gradient: a gather over channels, owned by the output pixel.
template <typename scalar_t>
void flow_grad_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, scalar_t* grad_flow,
                      const WarpSizes& s, Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t HW = s.H * s.W;
  at::parallel_for(0, s.B * s.H, row_grain(s), [&](int64_t begin, int64_t end) {
    std::vector<BilinearTaps<acc_t, int64_t>> taps(s.W);
    std::vector<acc_t> gu(s.W), gv(s.W);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y = row % s.H;
      row_taps(flow, s, b, y, padding, taps);
      std::fill(gu.begin(), gu.end(), acc_t(0));
      std::fill(gv.begin(), gv.end(), acc_t(0));
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* plane = input + (b * s.C + c) * s.Hin * s.Win;
        const scalar_t* g_row = grad_out + (b * s.C + c) * HW + y * s.W;
        for (int64_t x = 0; x < s.W; ++x) {
          backward_warp_flow_grad(taps[x], plane, static_cast<acc_t>(g_row[x]), gu[x], gv[x]);
        }
      }
      scalar_t* gf = grad_flow + b * 2 * HW + y * s.W;
      for (int64_t x = 0; x < s.W; ++x) {
        gf[x] = static_cast<scalar_t>(gu[x]);
        gf[HW + x] = static_cast<scalar_t>(gv[x]);
      }
    }
  });
}

at::Tensor backward_warp_cpu(const at::Tensor& input_, const at::Tensor& flow_, c10::string_view padding_mode) {
  check_backward_warp_args(input_, flow_);
  check_cpu_dtype("backward_warp", input_);
  const Padding padding = parse_warp_padding(padding_mode);
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  at::Tensor out = at::empty({s.B, s.C, s.H, s.W}, input.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_cpu", [&] {
    forward_kernel<scalar_t>(input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                             out.mutable_data_ptr<scalar_t>(), s, padding);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward_warp_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& input_,
                                                              const at::Tensor& flow_, c10::string_view padding_mode,
                                                              std::array<bool, 2> output_mask) {
  check_backward_warp_backward_args(grad_output_, input_, flow_);
  check_cpu_dtype("backward_warp_backward", input_);
  const Padding padding = parse_warp_padding(padding_mode);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  // A gradient that was not asked for comes back as an empty tensor.
  at::Tensor grad_input = output_mask[0] ? at::zeros_like(input) : at::empty({0}, input.options());
  at::Tensor grad_flow = output_mask[1] ? at::empty_like(flow) : at::empty({0}, flow.options());
  if (grad_output.numel() == 0) {
    grad_flow.zero_();
    return {grad_input, grad_flow};
  }
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_backward_cpu", [&] {
    if (output_mask[0]) {
      input_grad_kernel<scalar_t>(grad_output.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                  grad_input.mutable_data_ptr<scalar_t>(), s, padding);
    }
    if (output_mask[1]) {
      flow_grad_kernel<scalar_t>(grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                                 flow.const_data_ptr<scalar_t>(), grad_flow.mutable_data_ptr<scalar_t>(), s, padding);
    }
  });
  return {grad_input, grad_flow};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("backward_warp", &backward_warp_cpu);
  m.impl("backward_warp_backward", &backward_warp_backward_cpu);
}

}  // namespace vfi_ops
