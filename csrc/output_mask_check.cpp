// Registered for every <op>_backward at BackendSelect, which every call passes
// through (whatever its device, in grad mode or not) before the kernels: the
// kernels take output_mask as a fixed-size array, and the dispatcher's
// conversion of a list of another length would fail with a message that names
// neither the op nor the argument. Then the call goes on to the device's kernel.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/DispatchKeySet.h>
#include <torch/library.h>

#include <string>

#include "library.h"
#include "ops.h"

namespace {

void check_output_mask(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack) {
  const auto& schema = op.schema();
  const auto& arguments = schema.arguments();
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].name() != "output_mask" || !arguments[i].N().has_value()) continue;
    const c10::IValue& value = (*stack)[stack->size() - arguments.size() + i];
    const int64_t expected = *arguments[i].N();
    const auto& name = schema.operator_name().name;
    TORCH_CHECK_VALUE(value.isBoolList(), "vfi_ops.", name.substr(name.find("::") + 2),
                      "(): expected output_mask to be a list of ", expected, " bools, but got ", value.tagKind());
    const auto mask = value.toBoolList();
    TORCH_CHECK_VALUE(static_cast<int64_t>(mask.size()) == expected, "vfi_ops.", name.substr(name.find("::") + 2),
                      "(): expected output_mask to have ", expected,
                      " values (one per gradient the op returns, in order), but got ", mask.size(), ": ",
                      c10::IValue(mask));
  }
  op.redispatchBoxed(keys & c10::DispatchKeySet(c10::DispatchKeySet::FULL_AFTER, c10::DispatchKey::BackendSelect),
                     stack);
}

bool is_backward(const std::string& name) {
  return name.size() > 9 && name.compare(name.size() - 9, 9, "_backward") == 0;
}

}  // namespace

#define VFI_IMPL_LIBRARY(ns, key, m) TORCH_LIBRARY_IMPL(ns, key, m)
VFI_IMPL_LIBRARY(VFI_OPS_LIBRARY, BackendSelect, m) {
  for (const char* schema : vfi_ops::op_schemas()) {
    const std::string name = vfi_ops::op_name(schema);
    if (is_backward(name)) m.impl(name.c_str(), torch::CppFunction::makeFromBoxedFunction<&check_output_mask>());
  }
}
