// When the vectorised routines of cpu/row_taps.h run, and the test hooks that
// compare them with the scalar definitions.
#include "cpu/row_taps.h"

#include <ATen/Dispatch.h>
#include <ATen/Version.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <string>
#include <vector>

#include "backward_warp_checks.h"

namespace vfi_ops {

// ATen's CPU capability (ATEN_CPU_CAPABILITY can lower it) decides, as it does
// for ATen's own kernels.
bool row_taps_vectorised_here() {
#ifdef VFI_ROW_TAPS_AVX2
  static const bool avx2 = [] {
    const std::string capability = at::get_cpu_capability();
    return capability == "AVX2" || capability == "AVX512";
  }();
  return avx2;
#else
  return false;
#endif
}

const char* row_taps_isa() { return row_taps_vectorised_here() ? "AVX2" : "none"; }

namespace {

// [B, 2, H, W] flow -> the taps of every pixel sampling a Hin x Win plane:
// offsets (int64), weights, masks, cx, cy, each [B, 4, H, W].
template <typename scalar_t, typename index_t>
std::vector<at::Tensor> row_taps_of(const at::Tensor& flow, int64_t Hin, int64_t Win, Padding padding,
                                    bool vectorised) {
  const int64_t B = flow.size(0), H = flow.size(2), W = flow.size(3);
  const auto options = flow.options();
  at::Tensor offsets = at::empty({B, 4, H, W}, options.dtype(sizeof(index_t) == 4 ? at::kInt : at::kLong));
  std::vector<at::Tensor> out = {offsets, at::empty({B, 4, H, W}, options), at::empty({B, 4, H, W}, options),
                                 at::empty({B, 4, H, W}, options), at::empty({B, 4, H, W}, options)};
  const scalar_t* f = flow.const_data_ptr<scalar_t>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t y = 0; y < H; ++y) {
      RowTapsOut<scalar_t, index_t> o;
      for (int k = 0; k < 4; ++k) {
        const int64_t at_ = ((b * 4 + k) * H + y) * W;
        o.offset[k] = out[0].mutable_data_ptr<index_t>() + at_;
        o.w[k] = out[1].mutable_data_ptr<scalar_t>() + at_;
        o.mask[k] = out[2].mutable_data_ptr<scalar_t>() + at_;
        o.cx[k] = out[3].mutable_data_ptr<scalar_t>() + at_;
        o.cy[k] = out[4].mutable_data_ptr<scalar_t>() + at_;
      }
      const scalar_t* u = f + (b * 2 * H + y) * W;
      row_taps<scalar_t, index_t>(u, u + H * W, y, W, Hin, Win, padding, o, vectorised);
    }
  }
  out[0] = out[0].to(at::kLong);
  return out;
}

// Test hook: the taps that row_taps computes, vectorised (where this machine
// runs the vectorised routine) or by the scalar definition.
std::vector<at::Tensor> row_taps_op(const at::Tensor& flow_, int64_t in_height, int64_t in_width,
                                    c10::string_view padding_mode, bool vectorised) {
  TORCH_CHECK_VALUE(flow_.dim() == 4 && flow_.size(1) == 2 && in_height > 0 && in_width > 0,
                    "_row_taps(): expected a [B, 2, H, W] flow and a positive plane size");
  TORCH_CHECK_VALUE(flow_.scalar_type() == at::kFloat || flow_.scalar_type() == at::kDouble,
                    "_row_taps(): expected a float32 or float64 flow");
  const at::Tensor flow = flow_.contiguous();
  const Padding padding = parse_warp_padding(padding_mode);
  if (flow.scalar_type() == at::kFloat) {
    TORCH_CHECK_VALUE(in_height * in_width <= std::numeric_limits<int32_t>::max(),
                      "_row_taps(): the plane must have fewer than 2^31 pixels");
    return row_taps_of<float, int32_t>(flow, in_height, in_width, padding, vectorised);
  }
  return row_taps_of<double, int64_t>(flow, in_height, in_width, padding, vectorised);
}

// Test hook: the adaptive windows of every pixel of a [B, 2, H, W] flow (F x F
// windows): top, left, self (int64, [B, H, W]), a, b, valid ([B, H, W]) and the
// blend weights ([B, 4, H, W]).
template <typename scalar_t, typename index_t>
std::vector<at::Tensor> windows_of(const at::Tensor& flow, int64_t F, bool vectorised) {
  const int64_t B = flow.size(0), H = flow.size(2), W = flow.size(3);
  const auto options = flow.options();
  const auto index_options = options.dtype(sizeof(index_t) == 4 ? at::kInt : at::kLong);
  std::vector<at::Tensor> out = {at::empty({B, H, W}, index_options), at::empty({B, H, W}, index_options),
                                 at::empty({B, H, W}, index_options), at::empty({B, H, W}, options),
                                 at::empty({B, H, W}, options),       at::empty({B, H, W}, options),
                                 at::empty({B, 4, H, W}, options)};
  const scalar_t* f = flow.const_data_ptr<scalar_t>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t y = 0; y < H; ++y) {
      const int64_t at_ = (b * H + y) * W;
      RowWindowsOut<scalar_t, index_t> o;
      o.top = out[0].mutable_data_ptr<index_t>() + at_;
      o.left = out[1].mutable_data_ptr<index_t>() + at_;
      o.self = out[2].mutable_data_ptr<index_t>() + at_;
      o.a = out[3].mutable_data_ptr<scalar_t>() + at_;
      o.b = out[4].mutable_data_ptr<scalar_t>() + at_;
      o.valid = out[5].mutable_data_ptr<scalar_t>() + at_;
      for (int q = 0; q < 4; ++q) o.bw[q] = out[6].mutable_data_ptr<scalar_t>() + ((b * 4 + q) * H + y) * W;
      const scalar_t* u = f + (b * 2 * H + y) * W;
      adaptive_row_windows<scalar_t, index_t>(u, u + H * W, y, H, W, static_cast<int>(F), o, vectorised);
    }
  }
  for (int i = 0; i < 3; ++i) out[i] = out[i].to(at::kLong);
  return out;
}

std::vector<at::Tensor> adaptive_row_windows_op(const at::Tensor& flow_, int64_t F, bool vectorised) {
  TORCH_CHECK_VALUE(flow_.dim() == 4 && flow_.size(1) == 2 && F >= 1 && F <= 64,
                    "_adaptive_row_windows(): expected a [B, 2, H, W] flow and 1 <= F <= 64");
  TORCH_CHECK_VALUE(flow_.scalar_type() == at::kFloat || flow_.scalar_type() == at::kDouble,
                    "_adaptive_row_windows(): expected a float32 or float64 flow");
  const at::Tensor flow = flow_.contiguous();
  if (flow.scalar_type() == at::kFloat) {
    TORCH_CHECK_VALUE(flow.size(2) * flow.size(3) <= std::numeric_limits<int32_t>::max(),
                      "_adaptive_row_windows(): the image must have fewer than 2^31 pixels");
    return windows_of<float, int32_t>(flow, F, vectorised);
  }
  return windows_of<double, int64_t>(flow, F, vectorised);
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("_row_taps", &row_taps_op);
  m.impl("_adaptive_row_windows", &adaptive_row_windows_op);
}

}  // namespace vfi_ops
