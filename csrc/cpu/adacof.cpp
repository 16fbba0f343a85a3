// adacof: CPU launchers. The math is in adacof.h; here a task takes whole
// output rows: per row and tap it computes the taps of every pixel once, then
// applies them to every channel. The input gradient is a scatter: each task
// owns whole planes of it, or, with too few planes for the threads, a band of
// rows scattering into its own copy (cpu/partition.h).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <limits>
#include <tuple>
#include <vector>

#include "adacof_math.h"
#include "adacof_checks.h"
#include "index_width.h"
#include "cpu/partition.h"
#include "cpu/simd.h"

namespace vfi_ops {
namespace {

struct Sizes {
  int64_t B, C, H, W, Hin, Win;
  int F, dilation;
  bool truncate;
  int64_t taps() const { return int64_t(F) * F; }
};

template <typename scalar_t, typename index_t>
using Tap = AdacofTap<scalar_t, index_t>;

// The taps of tap index t = i*F + j for every pixel of output row y of batch item b.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void fill_taps(const scalar_t* offset_y, const scalar_t* offset_x, const Sizes& s, int64_t b, int64_t y,
                            int64_t t, Tap<scalar_t, index_t>* taps) {
  const int64_t at = (b * s.taps() + t) * s.H * s.W + y * s.W;
  const scalar_t* __restrict__ oy = offset_y + at;
  const scalar_t* __restrict__ ox = offset_x + at;
  const int i = static_cast<int>(t / s.F), j = static_cast<int>(t % s.F);
  for (int64_t x = 0; x < s.W; ++x) {
    taps[x] = adacof_tap<scalar_t, index_t>(index_t(y), index_t(x), i, j, s.dilation, oy[x], ox[x], index_t(s.Hin),
                                            index_t(s.Win), s.truncate);
  }
}

template <typename scalar_t, typename index_t>
void forward_rows(const scalar_t* input, const scalar_t* weight, const scalar_t* offset_y, const scalar_t* offset_x,
                  scalar_t* out, const Sizes& s, int64_t begin, int64_t end) {
  const int64_t HW = s.H * s.W, plane = s.Hin * s.Win;
  std::vector<Tap<scalar_t, index_t>> taps(s.W);
  std::vector<scalar_t> acc(s.C * s.W);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.H, y = row % s.H;
    std::fill(acc.begin(), acc.end(), scalar_t(0));
    for (int64_t t = 0; t < s.taps(); ++t) {
      fill_taps(offset_y, offset_x, s, b, y, t, taps.data());
      const scalar_t* w = weight + (b * s.taps() + t) * HW + y * s.W;
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* p = input + (b * s.C + c) * plane;
        scalar_t* a = acc.data() + c * s.W;
        for (int64_t x = 0; x < s.W; ++x) a[x] += w[x] * adacof_sample(taps[x], p);
      }
    }
    for (int64_t c = 0; c < s.C; ++c) {
      std::copy(acc.begin() + c * s.W, acc.begin() + (c + 1) * s.W, out + (b * s.C + c) * HW + y * s.W);
    }
  }
}

// Weight and offset gradients (each may be null) of output rows [begin, end).
template <typename scalar_t, typename index_t>
void param_grad_rows(const scalar_t* grad_out, const scalar_t* input, const scalar_t* weight, const scalar_t* offset_y,
                     const scalar_t* offset_x, scalar_t* grad_w, scalar_t* grad_oy, scalar_t* grad_ox, const Sizes& s,
                     int64_t begin, int64_t end) {
  const int64_t HW = s.H * s.W, plane = s.Hin * s.Win;
  std::vector<Tap<scalar_t, index_t>> taps(s.W);
  std::vector<scalar_t> sums(3 * s.W);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.H, y = row % s.H;
    for (int64_t t = 0; t < s.taps(); ++t) {
      fill_taps(offset_y, offset_x, s, b, y, t, taps.data());
      std::fill(sums.begin(), sums.end(), scalar_t(0));
      scalar_t *S = sums.data(), *dY = S + s.W, *dX = dY + s.W;
      for (int64_t c = 0; c < s.C; ++c) {
        const scalar_t* p = input + (b * s.C + c) * plane;
        const scalar_t* g = grad_out + (b * s.C + c) * HW + y * s.W;
        for (int64_t x = 0; x < s.W; ++x) adacof_sample_grads(taps[x], p, g[x], S[x], dY[x], dX[x]);
      }
      const int64_t at = (b * s.taps() + t) * HW + y * s.W;
      const scalar_t* w = weight + at;
      for (int64_t x = 0; x < s.W; ++x) {
        if (grad_w != nullptr) grad_w[at + x] = S[x];
        if (grad_oy != nullptr) grad_oy[at + x] = w[x] * dY[x];
        if (grad_ox != nullptr) grad_ox[at + x] = w[x] * dX[x];
      }
    }
  }
}

// Scatters the input gradient of output row y of batch item b, channels
// [c_begin, c_end), into gi (the whole gradient tensor's data).
template <typename scalar_t, typename index_t>
void scatter_row(const scalar_t* grad_out, const scalar_t* weight, const scalar_t* offset_y, const scalar_t* offset_x,
                 scalar_t* gi, const Sizes& s, int64_t b, int64_t y, int64_t c_begin, int64_t c_end,
                 std::vector<Tap<scalar_t, index_t>>& taps) {
  const int64_t HW = s.H * s.W, plane = s.Hin * s.Win;
  for (int64_t t = 0; t < s.taps(); ++t) {
    fill_taps(offset_y, offset_x, s, b, y, t, taps.data());
    const scalar_t* w = weight + (b * s.taps() + t) * HW + y * s.W;
    for (int64_t c = c_begin; c < c_end; ++c) {
      scalar_t* p = gi + (b * s.C + c) * plane;
      const scalar_t* g = grad_out + (b * s.C + c) * HW + y * s.W;
      for (int64_t x = 0; x < s.W; ++x) {
        scalar_t tw[4];
        adacof_tap_weights(taps[x], tw);
        const scalar_t gw = g[x] * w[x];
        const auto& tap = taps[x];
        p[tap.o00] += gw * tw[0];
        p[tap.o01] += gw * tw[1];
        p[tap.o10] += gw * tw[2];
        p[tap.o11] += gw * tw[3];
      }
    }
  }
}

template <typename scalar_t, typename index_t>
void input_grad(const scalar_t* grad_out, const scalar_t* weight, const scalar_t* offset_y, const scalar_t* offset_x,
                const at::Tensor& grad_input, const Sizes& s) {
  const int64_t work = s.W * s.taps() * std::max<int64_t>(s.C, 1);
  if (too_few_planes(s.B * s.C)) {
    for_row_bands<scalar_t>(s.B * s.H, grad_input, work, [&](int64_t row_begin, int64_t row_end, scalar_t* gi) {
      std::vector<Tap<scalar_t, index_t>> taps(s.W);
      for (int64_t row = row_begin; row < row_end; ++row) {
        scatter_row(grad_out, weight, offset_y, offset_x, gi, s, row / s.H, row % s.H, 0, s.C, taps);
      }
    });
    return;
  }
  scalar_t* gi = grad_input.mutable_data_ptr<scalar_t>();
  for_plane_runs(s.B, s.C, [&](int64_t b, int64_t c_begin, int64_t c_end) {
    std::vector<Tap<scalar_t, index_t>> taps(s.W);
    for (int64_t y = 0; y < s.H; ++y)
      scatter_row(grad_out, weight, offset_y, offset_x, gi, s, b, y, c_begin, c_end, taps);
  });
}

// Offsets within one input plane; pointers to the planes are 64-bit.
bool narrow_offsets(const Sizes& s) { return s.Hin * s.Win <= std::numeric_limits<int32_t>::max() / 2; }

Sizes sizes_of(const at::Tensor& input, const at::Tensor& weight, int F, int64_t dilation, bool truncate) {
  return {input.size(0),
          input.size(1),
          weight.size(2),
          weight.size(3),
          input.size(2),
          input.size(3),
          F,
          static_cast<int>(dilation),
          truncate};
}

at::Tensor adacof_cpu(const at::Tensor& input_, const at::Tensor& weight_, const at::Tensor& offset_y_,
                      const at::Tensor& offset_x_, int64_t dilation, bool truncate_offsets) {
  const int F = check_adacof_args("adacof", input_, weight_, offset_y_, offset_x_, dilation);
  check_cpu_dtype("adacof", input_);
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset_y = offset_y_.contiguous();
  const at::Tensor offset_x = offset_x_.contiguous();
  const Sizes s = sizes_of(input, weight, F, dilation, truncate_offsets);
  at::Tensor out = at::empty({s.B, s.C, s.H, s.W}, input.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adacof_cpu", [&] {
    with_index_type(narrow_offsets(s), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      at::parallel_for(0, s.B * s.H, rows_per_task(s.W * s.taps() * s.C), [&](int64_t begin, int64_t end) {
        forward_rows<scalar_t, index_t>(input.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
                                        offset_y.const_data_ptr<scalar_t>(), offset_x.const_data_ptr<scalar_t>(),
                                        out.mutable_data_ptr<scalar_t>(), s, begin, end);
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> adacof_backward_cpu(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& weight_, const at::Tensor& offset_y_,
    const at::Tensor& offset_x_, int64_t dilation, bool truncate_offsets, std::array<bool, 4> output_mask) {
  const int F = check_adacof_backward_args(grad_output_, input_, weight_, offset_y_, offset_x_, dilation);
  check_cpu_dtype("adacof_backward", input_);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset_y = offset_y_.contiguous();
  const at::Tensor offset_x = offset_x_.contiguous();
  const Sizes s = sizes_of(input, weight, F, dilation, truncate_offsets);
  // A gradient that was not asked for comes back as an empty tensor; zeros where
  // nothing reaches (no channels, no output pixels).
  auto make = [&](bool needed, const at::Tensor& like) {
    return needed ? at::zeros_like(like) : at::empty({0}, like.options());
  };
  at::Tensor grad_input = make(output_mask[0], input);
  at::Tensor grad_weight = make(output_mask[1], weight);
  at::Tensor grad_offset_y = make(output_mask[2], offset_y);
  at::Tensor grad_offset_x = make(output_mask[3], offset_x);
  if (grad_output.numel() == 0) return {grad_input, grad_weight, grad_offset_y, grad_offset_x};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adacof_backward_cpu", [&] {
    with_index_type(narrow_offsets(s), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
      const scalar_t* w = weight.const_data_ptr<scalar_t>();
      const scalar_t* oy = offset_y.const_data_ptr<scalar_t>();
      const scalar_t* ox = offset_x.const_data_ptr<scalar_t>();
      if (output_mask[0]) input_grad<scalar_t, index_t>(g, w, oy, ox, grad_input, s);
      if (output_mask[1] || output_mask[2] || output_mask[3]) {
        scalar_t* gw = output_mask[1] ? grad_weight.mutable_data_ptr<scalar_t>() : nullptr;
        scalar_t* goy = output_mask[2] ? grad_offset_y.mutable_data_ptr<scalar_t>() : nullptr;
        scalar_t* gox = output_mask[3] ? grad_offset_x.mutable_data_ptr<scalar_t>() : nullptr;
        at::parallel_for(0, s.B * s.H, rows_per_task(s.W * s.taps() * s.C), [&](int64_t begin, int64_t end) {
          param_grad_rows<scalar_t, index_t>(g, input.const_data_ptr<scalar_t>(), w, oy, ox, gw, goy, gox, s, begin,
                                             end);
        });
      }
    });
  });
  return {grad_input, grad_weight, grad_offset_y, grad_offset_x};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("adacof", &adacof_cpu);
  m.impl("adacof_backward", &adacof_backward_cpu);
}

}  // namespace vfi_ops
