// correlation: CPU launchers. The geometry is in correlation.h; here a task
// owns whole output rows (forward, input1 gradient) or input rows (input2
// gradient) and adds one channel's products for one displacement along a row
// at a time: out[x] += a[x] * b[x], a loop that vectorises (NCHW, stride 1). The
// rows a displacement row touches stay in L1 across the channels. Each element
// sums in a fixed order (channels ascending; output channels ascending for the
// gradients), whatever the number of threads.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "correlation_math.h"
#include "correlation_checks.h"
#include "cpu/partition.h"
#include "cpu/simd.h"

namespace vfi_ops {
namespace {

using Sizes = CorrelationSizes<int64_t>;

// out[x * so] += a[x * sa] * b[x * sb] for x < n (all strides 1 unless stride > 1).
template <typename scalar_t>
VFI_CPU_SIMD void row_madd(scalar_t* __restrict__ out, int64_t so, const scalar_t* __restrict__ a, int64_t sa,
                           const scalar_t* __restrict__ b, int64_t sb, int64_t n) {
  if (so == 1 && sa == 1 && sb == 1) {
    for (int64_t x = 0; x < n; ++x) out[x] += a[x] * b[x];
  } else {
    for (int64_t x = 0; x < n; ++x) out[x * so] += a[x * sa] * b[x * sb];
  }
}

template <typename scalar_t>
void forward_kernel(const scalar_t* in1, const scalar_t* in2, scalar_t* out, const Sizes& s) {
  const int64_t n = s.side(), K = s.channels(), HW = s.H * s.W, out_plane = s.Ho * s.Wo;
  at::parallel_for(0, s.B * s.Ho, rows_per_task(K * std::max<int64_t>(s.C, 1) * s.Wo), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.Ho, yo = row % s.Ho, y1 = yo * s.stride;
      scalar_t* out_b = out + b * K * out_plane + yo * s.Wo;
      for (int64_t ch = 0; ch < K; ++ch) std::fill(out_b + ch * out_plane, out_b + ch * out_plane + s.Wo, scalar_t(0));
      for (int64_t j = 0; j < n; ++j) {
        int64_t dx, dy;
        correlation_displacement(s, j * n, dx, dy);
        const int64_t y2 = y1 + dy;
        if (y2 < 0 || y2 >= s.H) continue;
        for (int64_t c = 0; c < s.C; ++c) {
          const scalar_t* a = in1 + (b * s.C + c) * HW + y1 * s.W;
          const scalar_t* row2 = in2 + (b * s.C + c) * HW + y2 * s.W;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t ch = j * n + i;
            correlation_displacement(s, ch, dx, dy);
            int64_t lo, hi;
            correlation_columns(dx, s.W, s.stride, s.Wo, lo, hi);
            row_madd(out_b + ch * out_plane + lo, 1, a + lo * s.stride, s.stride, row2 + lo * s.stride + dx, s.stride,
                     hi - lo);
          }
        }
      }
    }
  });
}

// grad_in1 (zeroed) at the sampled pixels of every output row.
template <typename scalar_t>
void grad_input1_kernel(const scalar_t* g, const scalar_t* in2, scalar_t* grad_in1, const Sizes& s) {
  const int64_t n = s.side(), K = s.channels(), HW = s.H * s.W, out_plane = s.Ho * s.Wo;
  at::parallel_for(0, s.B * s.Ho, rows_per_task(K * std::max<int64_t>(s.C, 1) * s.Wo), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.Ho, yo = row % s.Ho, y1 = yo * s.stride;
      const scalar_t* g_b = g + b * K * out_plane + yo * s.Wo;
      for (int64_t j = 0; j < n; ++j) {
        int64_t dx, dy;
        correlation_displacement(s, j * n, dx, dy);
        const int64_t y2 = y1 + dy;
        if (y2 < 0 || y2 >= s.H) continue;
        for (int64_t c = 0; c < s.C; ++c) {
          scalar_t* ga = grad_in1 + (b * s.C + c) * HW + y1 * s.W;
          const scalar_t* row2 = in2 + (b * s.C + c) * HW + y2 * s.W;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t ch = j * n + i;
            correlation_displacement(s, ch, dx, dy);
            int64_t lo, hi;
            correlation_columns(dx, s.W, s.stride, s.Wo, lo, hi);
            row_madd(ga + lo * s.stride, s.stride, g_b + ch * out_plane + lo, 1, row2 + lo * s.stride + dx, s.stride,
                     hi - lo);
          }
        }
      }
    }
  });
}

// grad_in2 (zeroed), a row of input2 at a time.
template <typename scalar_t>
void grad_input2_kernel(const scalar_t* g, const scalar_t* in1, scalar_t* grad_in2, const Sizes& s) {
  const int64_t n = s.side(), K = s.channels(), HW = s.H * s.W, out_plane = s.Ho * s.Wo;
  at::parallel_for(0, s.B * s.H, rows_per_task(K * std::max<int64_t>(s.C, 1) * s.Wo), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y2 = row % s.H;
      for (int64_t j = 0; j < n; ++j) {
        int64_t dx, dy, yo;
        correlation_displacement(s, j * n, dx, dy);
        if (!correlation_source(y2, dy, s.stride, s.Ho, yo)) continue;
        const int64_t y1 = yo * s.stride;
        const scalar_t* g_b = g + b * K * out_plane + yo * s.Wo;
        for (int64_t c = 0; c < s.C; ++c) {
          scalar_t* gb = grad_in2 + (b * s.C + c) * HW + y2 * s.W;
          const scalar_t* a = in1 + (b * s.C + c) * HW + y1 * s.W;
          for (int64_t i = 0; i < n; ++i) {
            const int64_t ch = j * n + i;
            correlation_displacement(s, ch, dx, dy);
            int64_t lo, hi;
            correlation_columns(dx, s.W, s.stride, s.Wo, lo, hi);
            row_madd(gb + lo * s.stride + dx, s.stride, g_b + ch * out_plane + lo, 1, a + lo * s.stride, s.stride,
                     hi - lo);
          }
        }
      }
    }
  });
}

at::Tensor correlation_cpu(const at::Tensor& input1_, const at::Tensor& input2_, int64_t max_displacement,
                           int64_t stride, int64_t dilation) {
  check_correlation_args(input1_, input2_, max_displacement, stride, dilation);
  check_cpu_dtype("correlation", input1_);
  const Sizes s = correlation_sizes(input1_, max_displacement, stride, dilation);
  const at::Tensor input1 = input1_.contiguous();
  const at::Tensor input2 = input2_.contiguous();
  at::Tensor out = at::empty({s.B, s.channels(), s.Ho, s.Wo}, input1.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input1.scalar_type(), "correlation_cpu", [&] {
    forward_kernel<scalar_t>(input1.const_data_ptr<scalar_t>(), input2.const_data_ptr<scalar_t>(),
                             out.mutable_data_ptr<scalar_t>(), s);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& input1_,
                                                            const at::Tensor& input2_, int64_t max_displacement,
                                                            int64_t stride, int64_t dilation,
                                                            std::array<bool, 2> output_mask) {
  check_correlation_backward_args(grad_output_, input1_, input2_, max_displacement, stride, dilation);
  check_cpu_dtype("correlation_backward", input1_);
  const Sizes s = correlation_sizes(input1_, max_displacement, stride, dilation);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input1 = input1_.contiguous();
  const at::Tensor input2 = input2_.contiguous();
  at::Tensor grad1 = output_mask[0] ? at::zeros(input1.sizes(), input1.options()) : at::empty({0}, input1.options());
  at::Tensor grad2 = output_mask[1] ? at::zeros(input2.sizes(), input2.options()) : at::empty({0}, input2.options());
  if (grad_output.numel() == 0 || s.C == 0) return {grad1, grad2};
  AT_DISPATCH_FLOATING_TYPES(input1.scalar_type(), "correlation_backward_cpu", [&] {
    if (output_mask[0]) {
      grad_input1_kernel<scalar_t>(grad_output.const_data_ptr<scalar_t>(), input2.const_data_ptr<scalar_t>(),
                                   grad1.mutable_data_ptr<scalar_t>(), s);
    }
    if (output_mask[1]) {
      grad_input2_kernel<scalar_t>(grad_output.const_data_ptr<scalar_t>(), input1.const_data_ptr<scalar_t>(),
                                   grad2.mutable_data_ptr<scalar_t>(), s);
    }
  });
  return {grad1, grad2};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("correlation", &correlation_cpu);
  m.impl("correlation_backward", &correlation_backward_cpu);
}

}  // namespace vfi_ops
