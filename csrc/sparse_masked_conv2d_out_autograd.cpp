// sparse_masked_conv2d.out under autograd: refused when gradients would be
// wanted, as ATen's out= variants do (torch.mm(a, b, out=c) with a that
// requires grad); otherwise the kernels run and out's version is bumped, so that
// autograd notices if a saved tensor was overwritten.
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <c10/core/GradMode.h>
#include <c10/util/Optional.h>
#include <torch/library.h>

namespace vfi_ops {
namespace {

using SparseMaskedConv2dOut = at::Tensor&(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                                          const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, int64_t,
                                          const c10::optional<at::Tensor>&, at::Tensor&);

at::Tensor& sparse_masked_conv2d_out_autograd(const at::Tensor& input, const at::Tensor& weight,
                                              const c10::optional<at::Tensor>& bias, const at::Tensor& mask,
                                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                              int64_t groups, const c10::optional<at::Tensor>& fill, at::Tensor& out) {
  const auto wants_grad = [](const c10::optional<at::Tensor>& t) { return t.has_value() && t->requires_grad(); };
  TORCH_CHECK(!c10::GradMode::is_enabled() || !(input.requires_grad() || weight.requires_grad() || wants_grad(bias) ||
                                                wants_grad(fill) || out.requires_grad()),
              "sparse_masked_conv2d(): out= does not support autograd, but an argument requires grad "
              "(call it under torch.no_grad(), or without out=)");
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("vfi_ops::sparse_masked_conv2d", "out")
                             .typed<SparseMaskedConv2dOut>();
  {
    const at::AutoDispatchBelowADInplaceOrView below;
    op.call(input, weight, bias, mask, stride, padding, dilation, groups, fill, out);
  }
  if (!out.is_inference()) out.unsafeGetTensorImpl()->bump_version();
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, Autograd, m) { m.impl("sparse_masked_conv2d.out", &sparse_masked_conv2d_out_autograd); }

}  // namespace vfi_ops
