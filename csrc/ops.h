// The operators' schemas (ops.cpp) as a list, for the files that go through
// every operator: op_lists.cpp and no_cuda_stubs.cpp.
#pragma once

#include <c10/util/ArrayRef.h>

#include <string>

namespace vfi_ops {

// Every public operator's schema, in the order of ops.cpp (not the test hooks).
c10::ArrayRef<const char*> op_schemas();

// "name" or "name.overload": the schema up to its argument list.
inline std::string op_name(const char* schema) {
  const std::string s(schema);
  return s.substr(0, s.find('('));
}

}  // namespace vfi_ops
