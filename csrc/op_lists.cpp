// The operator lists the Python module reports (op_lists.h).
#include "op_lists.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include "ops.h"

namespace vfi_ops {

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const char* schema : op_schemas()) names.push_back(op_name(schema));
  return names;
}

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

}  // namespace vfi_ops
