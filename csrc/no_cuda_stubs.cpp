// A build without CUDA registers this for every op on CUDA tensors: a clear error
// instead of the dispatcher's "could not run ... with arguments from the CUDA backend".
// (A CUDA build registers the kernels of cuda/ instead.)
#ifndef VFI_OPS_WITH_CUDA
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "ops.h"

namespace {

void built_without_cuda(const c10::OperatorHandle& op, torch::jit::Stack*) {
  const auto& name = op.schema().operator_name();
  TORCH_CHECK(false, "vfi_ops.", name.name.substr(name.name.find("::") + 2), name.overload_name.empty() ? "" : ".",
              name.overload_name,
              ": vfi_ops was built without CUDA support, so it cannot run on CUDA tensors. Reinstall it where a CUDA "
              "toolkit (nvcc) and a CUDA build of torch are present, or force it with FORCE_CUDA=1: "
              "FORCE_CUDA=1 pip install --no-build-isolation --force-reinstall --no-deps .");
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CUDA, m) {
  for (const char* schema : vfi_ops::op_schemas()) {
    m.impl(vfi_ops::op_name(schema).c_str(), torch::CppFunction::makeFromBoxedFunction<&built_without_cuda>());
  }
}
#endif
