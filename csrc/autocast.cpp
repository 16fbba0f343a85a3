// Every op under torch.autocast, on CPU and CUDA, as its nearest PyTorch counterpart:
//
// - backward_warp, flow_projection, adaptive_warp, softsplat run in float32, as
//   grid_sample does (sub-pixel positions and splat weights need the precision);
//   so do the kernel-based syntheses sepconv and adacof (sums of up to 51^2
//   weighted taps; adacof samples at sub-pixel positions), and correlation and
//   corr_lookup (long sums of products over the channels, whose features often
//   arrive in half precision).
// - sparse_masked_conv2d on CUDA follows conv2d: input, weight, bias and fill in
//   the autocast dtype (float16 or bfloat16), float accumulation in the kernels.
//   On CPU, where conv2d would run in bfloat16, it runs in float32: the CPU
//   kernels support float32 and float64 only.
//
// The mask is never cast (a tiny nonzero float must stay active), float64
// tensors are left as they are (as autocast does), and the backward ops and
// the out= overload are not autocast (as PyTorch's out= variants are not): they
// run in the dtype of their arguments. Gradients come back in each input's own
// dtype through the recorded casts.
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <c10/util/Optional.h>
#include <c10/util/string_view.h>
#include <torch/library.h>

#include <tuple>

namespace vfi_ops {
namespace {

// Runs the rest of the call below the autocast key of `device`.
template <c10::DeviceType device>
struct BelowAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{at::autocast::get_autocast_dispatch_key_from_device_type(device)};
};

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).typed<Signature>();
}

template <c10::DeviceType device>
at::Tensor to_float(const at::Tensor& t) {
  return at::autocast::cached_cast(at::kFloat, t, device);
}

template <c10::DeviceType device>
c10::optional<at::Tensor> to_float(const c10::optional<at::Tensor>& t) {
  return t.has_value() ? c10::optional<at::Tensor>(to_float<device>(*t)) : c10::nullopt;
}

using BackwardWarp = at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view);

template <c10::DeviceType device>
at::Tensor backward_warp_autocast(const at::Tensor& input, const at::Tensor& flow, c10::string_view padding_mode) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<BackwardWarp>("vfi_ops::backward_warp");
  return op.call(to_float<device>(input), to_float<device>(flow), padding_mode);
}

using FlowProjection = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const c10::optional<at::Tensor>&, bool);

template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor> flow_projection_autocast(const at::Tensor& flow,
                                                            const c10::optional<at::Tensor>& weight, bool fill_holes) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<FlowProjection>("vfi_ops::flow_projection");
  return op.call(to_float<device>(flow), to_float<device>(weight), fill_holes);
}

using AdaptiveWarp = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&);

template <c10::DeviceType device>
at::Tensor adaptive_warp_autocast(const at::Tensor& input, const at::Tensor& flow, const at::Tensor& kernel) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<AdaptiveWarp>("vfi_ops::adaptive_warp");
  return op.call(to_float<device>(input), to_float<device>(flow), to_float<device>(kernel));
}

using Softsplat = std::tuple<at::Tensor, at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                 const c10::optional<at::Tensor>&, c10::string_view);

template <c10::DeviceType device>
std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_autocast(const at::Tensor& input, const at::Tensor& flow,
                                                                  const c10::optional<at::Tensor>& metric,
                                                                  c10::string_view mode) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<Softsplat>("vfi_ops::softsplat");
  return op.call(to_float<device>(input), to_float<device>(flow), to_float<device>(metric), mode);
}

using Sepconv = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&);

template <c10::DeviceType device>
at::Tensor sepconv_autocast(const at::Tensor& input, const at::Tensor& vertical, const at::Tensor& horizontal) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<Sepconv>("vfi_ops::sepconv");
  return op.call(to_float<device>(input), to_float<device>(vertical), to_float<device>(horizontal));
}

using Adacof = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, bool);

template <c10::DeviceType device>
at::Tensor adacof_autocast(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset_y,
                           const at::Tensor& offset_x, int64_t dilation, bool truncate_offsets) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<Adacof>("vfi_ops::adacof");
  return op.call(to_float<device>(input), to_float<device>(weight), to_float<device>(offset_y),
                 to_float<device>(offset_x), dilation, truncate_offsets);
}

using Correlation = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t, int64_t, int64_t);

template <c10::DeviceType device>
at::Tensor correlation_autocast(const at::Tensor& input1, const at::Tensor& input2, int64_t max_displacement,
                                int64_t stride, int64_t dilation) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<Correlation>("vfi_ops::correlation");
  return op.call(to_float<device>(input1), to_float<device>(input2), max_displacement, stride, dilation);
}

using CorrLookup = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t);

template <c10::DeviceType device>
at::Tensor corr_lookup_autocast(const at::Tensor& fmap1, const at::Tensor& fmap2, const at::Tensor& coords,
                                int64_t radius) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<CorrLookup>("vfi_ops::corr_lookup");
  return op.call(to_float<device>(fmap1), to_float<device>(fmap2), to_float<device>(coords), radius);
}

using SparseMaskedConv2d = at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                                      const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, int64_t,
                                      const c10::optional<at::Tensor>&);

template <c10::DeviceType device>
at::Tensor sparse_masked_conv2d_autocast(const at::Tensor& input, const at::Tensor& weight,
                                         const c10::optional<at::Tensor>& bias, const at::Tensor& mask,
                                         at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                         int64_t groups, const c10::optional<at::Tensor>& fill) {
  const BelowAutocast<device> below;
  static const auto op = op_handle<SparseMaskedConv2d>("vfi_ops::sparse_masked_conv2d");
  const at::ScalarType dtype =
      device == c10::DeviceType::CPU ? at::kFloat : at::autocast::get_lower_precision_fp_from_device_type(device);
  const auto cast = [&](const at::Tensor& t) { return at::autocast::cached_cast(dtype, t, device); };
  const auto cast_optional = [&](const c10::optional<at::Tensor>& t) {
    return t.has_value() ? c10::optional<at::Tensor>(cast(*t)) : c10::nullopt;
  };
  return op.call(cast(input), cast(weight), cast_optional(bias), mask, stride, padding, dilation, groups,
                 cast_optional(fill));
}

template <c10::DeviceType device>
void register_autocast(torch::Library& m) {
  m.impl("backward_warp", &backward_warp_autocast<device>);
  m.impl("flow_projection", &flow_projection_autocast<device>);
  m.impl("adaptive_warp", &adaptive_warp_autocast<device>);
  m.impl("softsplat", &softsplat_autocast<device>);
  m.impl("sparse_masked_conv2d", &sparse_masked_conv2d_autocast<device>);
  m.impl("sepconv", &sepconv_autocast<device>);
  m.impl("adacof", &adacof_autocast<device>);
  m.impl("correlation", &correlation_autocast<device>);
  m.impl("corr_lookup", &corr_lookup_autocast<device>);
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, AutocastCPU, m) { register_autocast<c10::DeviceType::CPU>(m); }
TORCH_LIBRARY_IMPL(vfi_ops, AutocastCUDA, m) { register_autocast<c10::DeviceType::CUDA>(m); }

}  // namespace vfi_ops
