// The one place where every vfi_ops operator schema is declared.
// Kernels are registered per dispatch key next to their launchers (cpu/, cuda/,
// autocast.cpp); fake (meta) kernels and autograd are registered from Python (vfi_ops/).
#ifndef VFI_OPS_EMULATED_CUDA
#include <Python.h>
#endif
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <string>
#include <vector>

#include "library.h"

#ifndef VFI_OPS_EMULATED_CUDA
#include "cpu/row_taps.h"  // row_taps_isa
#endif

namespace {

constexpr const char* kSchemas[] = {
    "backward_warp(Tensor input, Tensor flow, str padding_mode=\"zeros\") -> Tensor",
    // output_mask: which of (grad_input, grad_flow) to compute; the others come back empty.
    "backward_warp_backward(Tensor grad_output, Tensor input, Tensor flow, str padding_mode, bool[2] output_mask) "
    "-> (Tensor, Tensor)",

    // Returns (output, den): den [B, 1, H, W] is the summed weight per pixel (0 at
    // holes), scaled per batch item and in float64 (see flow_projection.h); the
    // backward needs it.
    "flow_projection(Tensor flow, Tensor? weight=None, bool fill_holes=False) -> (Tensor, Tensor)",
    // output_mask: which of (grad_flow, grad_weight) to compute; the others come back empty.
    "flow_projection_backward(Tensor grad_output, Tensor flow, Tensor? weight, Tensor output, Tensor den, "
    "bool fill_holes, bool[2] output_mask) -> (Tensor, Tensor)",

    // Returns (output, den, metric_max): den [B, 1, H, W] is the splatted weight per
    // pixel (sum of w z; 0 where nothing landed) and metric_max [B] the metric's
    // maximum over the sources that land (0 for "sum" and "avg"), both in float for
    // float16/bfloat16 inputs; the backward needs them.
    "softsplat(Tensor input, Tensor flow, Tensor? metric=None, str mode=\"soft\") -> (Tensor, Tensor, Tensor)",
    // output_mask: which of (grad_input, grad_flow, grad_metric) to compute; the others come back empty.
    "softsplat_backward(Tensor grad_output, Tensor input, Tensor flow, Tensor? metric, str mode, Tensor output, "
    "Tensor den, Tensor metric_max, bool[3] output_mask) -> (Tensor, Tensor, Tensor)",

    "adaptive_warp(Tensor input, Tensor flow, Tensor kernel) -> Tensor",
    // output_mask: which of (grad_input, grad_flow, grad_kernel) to compute; the others come back empty.
    "adaptive_warp_backward(Tensor grad_output, Tensor input, Tensor flow, Tensor kernel, bool[3] output_mask) "
    "-> (Tensor, Tensor, Tensor)",

    // mask [B, 1, H_out, W_out]: nonzero where the convolution is computed; elsewhere
    // the output is fill (zeros if None).
    "sparse_masked_conv2d(Tensor input, Tensor weight, Tensor? bias, Tensor mask, int[2] stride=1, "
    "int[2] padding=0, int[2] dilation=1, int groups=1, Tensor? fill=None) -> Tensor",
    // The same, written into `out` and returned (the output's shape, dtype and layout; no autograd).
    "sparse_masked_conv2d.out(Tensor input, Tensor weight, Tensor? bias, Tensor mask, int[2] stride=1, "
    "int[2] padding=0, int[2] dilation=1, int groups=1, Tensor? fill=None, *, Tensor(a!) out) -> Tensor(a!)",
    // output_mask: which of (grad_input, grad_weight, grad_bias, grad_fill) to compute; the others come back empty.
    "sparse_masked_conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor mask, int[2] stride, "
    "int[2] padding, int[2] dilation, int groups, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)",

    "correlation(Tensor input1, Tensor input2, int max_displacement, int stride=1, int dilation=1) -> Tensor",
    // output_mask: which of (grad_input1, grad_input2) to compute; the others come back empty.
    "correlation_backward(Tensor grad_output, Tensor input1, Tensor input2, int max_displacement, int stride, "
    "int dilation, bool[2] output_mask) -> (Tensor, Tensor)",

    "corr_lookup(Tensor fmap1, Tensor fmap2, Tensor coords, int radius) -> Tensor",
    // output_mask: which of (grad_fmap1, grad_fmap2, grad_coords) to compute; the others come back empty.
    "corr_lookup_backward(Tensor grad_output, Tensor fmap1, Tensor fmap2, Tensor coords, int radius, "
    "bool[3] output_mask) -> (Tensor, Tensor, Tensor)",
};

// Test hooks of the CPU kernels, not part of the API (no CUDA kernels, not in op_names):
// what cpu/row_taps.h computes for every pixel of a flow, vectorised or by the
// scalar definitions (tests/test_row_taps.py).
constexpr const char* kTestSchemas[] = {
    "_row_taps(Tensor flow, int in_height, int in_width, str padding_mode, bool vectorised) -> Tensor[]",
    "_adaptive_row_windows(Tensor flow, int F, bool vectorised) -> Tensor[]",
};

// "name" or "name.overload": the schema up to its argument list.
std::string name_of(const char* schema) {
  const std::string s(schema);
  return s.substr(0, s.find('('));
}

#if !defined(VFI_OPS_WITH_CUDA) && !defined(VFI_OPS_EMULATED_CUDA)
// A CPU-only build registers this for every op on CUDA tensors: a clear error
// instead of the dispatcher's "could not run ... with arguments from the CUDA backend".
void built_without_cuda(const c10::OperatorHandle& op, torch::jit::Stack*) {
  const auto& name = op.schema().operator_name();
  TORCH_CHECK(false, "vfi_ops.", name.name.substr(name.name.find("::") + 2), name.overload_name.empty() ? "" : ".",
              name.overload_name,
              ": vfi_ops was built without CUDA support, so it cannot run on CUDA tensors. Reinstall it where a CUDA "
              "toolkit (nvcc) and a CUDA build of torch are present, or force it with FORCE_CUDA=1: "
              "FORCE_CUDA=1 pip install --no-build-isolation --force-reinstall --no-deps .");
}
#endif

#ifndef VFI_OPS_EMULATED_CUDA
PyObject* string_list(const std::vector<std::string>& items) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(items.size()));
  if (list == nullptr) return nullptr;
  for (size_t i = 0; i < items.size(); ++i) {
    PyObject* item = PyUnicode_FromString(items[i].c_str());
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return list;
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const char* schema : kSchemas) names.push_back(name_of(schema));
  return names;
}

// The ops with a CUDA kernel of their own (none in a CPU-only build, whose CUDA
// entries are the stubs above).
std::vector<std::string> cuda_op_names() {
  std::vector<std::string> names;
#ifdef VFI_OPS_WITH_CUDA
  for (const std::string& name : op_names()) {
    const auto dot = name.find('.');
    const std::string base = "vfi_ops::" + name.substr(0, dot);
    const std::string overload = dot == std::string::npos ? "" : name.substr(dot + 1);
    const auto handle = c10::Dispatcher::singleton().findOp({base, overload});
    if (handle.has_value() && handle->hasKernelForDispatchKey(c10::DispatchKey::CUDA)) names.push_back(name);
  }
#endif
  return names;
}

PyObject* py_op_names(PyObject*, PyObject*) { return string_list(op_names()); }
PyObject* py_cpu_vector_isa(PyObject*, PyObject*) { return PyUnicode_FromString(vfi_ops::row_taps_isa()); }
PyObject* py_cuda_op_names(PyObject*, PyObject*) { return string_list(cuda_op_names()); }
#endif

}  // namespace

// Not tagged `out`, which newer torch releases read to functionalize an out=
// overload that returns its out: torch 2.14's inductor then also lowers the
// functional op to this overload and passes its int[2] arguments flattened. The
// Python function compiles out= as the functional op and a copy instead.
// (VFI_DEFINE_LIBRARY: through a second macro, so that VFI_OPS_LIBRARY, see
// library.h, is expanded first.)
#define VFI_DEFINE_LIBRARY(ns, m) TORCH_LIBRARY(ns, m)
VFI_DEFINE_LIBRARY(VFI_OPS_LIBRARY, m) {
  const std::vector<at::Tag> tags = {at::Tag::pt2_compliant_tag};
  for (const char* schema : kSchemas) m.def(schema, tags);
  for (const char* schema : kTestSchemas) m.def(schema);
}

#if !defined(VFI_OPS_WITH_CUDA) && !defined(VFI_OPS_EMULATED_CUDA)
TORCH_LIBRARY_IMPL(vfi_ops, CUDA, m) {
  for (const char* schema : kSchemas) {
    m.impl(name_of(schema).c_str(), torch::CppFunction::makeFromBoxedFunction<&built_without_cuda>());
  }
}
#endif

#ifndef VFI_OPS_EMULATED_CUDA
// `import vfi_ops._C` loads this library, and with it the registrations above.
extern "C" PyObject* PyInit__C(void) {
  static PyMethodDef methods[] = {
      {"op_names", py_op_names, METH_NOARGS, "The names of the vfi_ops operators (name or name.overload)."},
      {"cuda_op_names", py_cuda_op_names, METH_NOARGS,
       "The operators with CUDA kernels (none in a build without CUDA)."},
      {"cpu_vector_isa", py_cpu_vector_isa, METH_NOARGS,
       "The instruction set of the CPU kernels' vectorised tap routines here (AVX2, or none: scalar)."},
      {nullptr, nullptr, 0, nullptr}};
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "vfi_ops compiled operators (use torch.ops.vfi_ops)", -1,
                               methods};
  return PyModule_Create(&module);
}
#endif
