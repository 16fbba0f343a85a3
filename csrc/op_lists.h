// The operator lists the Python module reports (vfi_ops._C.op_names, cuda_op_names).
#pragma once

#include <string>
#include <vector>

namespace vfi_ops {

// The names of the operators ("name" or "name.overload"), in the order of ops.cpp.
std::vector<std::string> op_names();

// The operators with a CUDA kernel of their own (none in a CPU-only build, whose
// CUDA entries are the stubs of no_cuda_stubs.cpp).
std::vector<std::string> cuda_op_names();

}  // namespace vfi_ops
