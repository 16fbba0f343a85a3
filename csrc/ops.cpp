// The one place where every vfi_ops operator schema is declared.
// Kernels are registered per dispatch key next to their launchers (cpu/, cuda/);
// fake (meta) kernels and autograd are registered from Python (vfi_ops/).
#ifndef VFI_OPS_EMULATED_CUDA
#include <Python.h>
#endif
#include <torch/library.h>

#include "library.h"

// (Through a second macro, so that VFI_OPS_LIBRARY is expanded first.)
#define VFI_DEFINE_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)

VFI_DEFINE_LIBRARY(VFI_OPS_LIBRARY, m) {
  const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
  m.def("backward_warp(Tensor input, Tensor flow, str padding_mode=\"zeros\") -> Tensor", tags);
  // output_mask: which of (grad_input, grad_flow) to compute; the others come back empty.
  m.def(
      "backward_warp_backward(Tensor grad_output, Tensor input, Tensor flow, str padding_mode, bool[2] output_mask) "
      "-> (Tensor, Tensor)",
      tags);

  // Returns (output, den): den [B, 1, H, W] is the summed weight per pixel (0 at
  // holes), in float for float16/bfloat16 flows; the backward needs it.
  m.def("flow_projection(Tensor flow, Tensor? weight=None, bool fill_holes=False) -> (Tensor, Tensor)", tags);
  // output_mask: which of (grad_flow, grad_weight) to compute; the others come back empty.
  m.def(
      "flow_projection_backward(Tensor grad_output, Tensor flow, Tensor? weight, Tensor output, Tensor den, "
      "bool fill_holes, bool[2] output_mask) -> (Tensor, Tensor)",
      tags);

  // Returns (output, den, metric_max): den [B, 1, H, W] is the splatted weight per
  // pixel (sum of w z; 0 where nothing landed) and metric_max [B] the metric's
  // maximum over the sources that land (0 for "sum" and "avg"), both in float for
  // float16/bfloat16 inputs; the backward needs them.
  m.def("softsplat(Tensor input, Tensor flow, Tensor? metric=None, str mode=\"soft\") -> (Tensor, Tensor, Tensor)",
        tags);
  // output_mask: which of (grad_input, grad_flow, grad_metric) to compute; the others come back empty.
  m.def(
      "softsplat_backward(Tensor grad_output, Tensor input, Tensor flow, Tensor? metric, str mode, Tensor output, "
      "Tensor den, Tensor metric_max, bool[3] output_mask) -> (Tensor, Tensor, Tensor)",
      tags);

  m.def("adaptive_warp(Tensor input, Tensor flow, Tensor kernel) -> Tensor", tags);
  // output_mask: which of (grad_input, grad_flow, grad_kernel) to compute; the others come back empty.
  m.def(
      "adaptive_warp_backward(Tensor grad_output, Tensor input, Tensor flow, Tensor kernel, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor)",
      tags);

  // mask [B, 1, H_out, W_out]: nonzero where the convolution is computed; elsewhere
  // the output is fill (zeros if None).
  m.def(
      "sparse_masked_conv2d(Tensor input, Tensor weight, Tensor? bias, Tensor mask, int[2] stride=1, "
      "int[2] padding=0, int[2] dilation=1, int groups=1, Tensor? fill=None) -> Tensor",
      tags);
  // The same, written into `out` (the output's shape, dtype and layout; no autograd).
  m.def(
      "sparse_masked_conv2d.out(Tensor input, Tensor weight, Tensor? bias, Tensor mask, int[2] stride=1, "
      "int[2] padding=0, int[2] dilation=1, int groups=1, Tensor? fill=None, *, Tensor(a!) out) -> ()",
      tags);
  // output_mask: which of (grad_input, grad_weight, grad_bias, grad_fill) to compute; the others come back empty.
  m.def(
      "sparse_masked_conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor mask, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)",
      tags);
}

#ifndef VFI_OPS_EMULATED_CUDA
// `import vfi_ops._C` loads this library, and with it the registrations above.
extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "vfi_ops compiled operators (use torch.ops.vfi_ops)", -1,
                               nullptr};
  return PyModule_Create(&module);
}
#endif
