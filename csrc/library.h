// The torch library the compiled operators belong to.
//
// The regular build registers the schemas (ops.cpp) and the CPU and CUDA
// kernels into `vfi_ops`. The emulated-CUDA test build (VFI_OPS_EMULATED_CUDA,
// see cuda/emulation.h) compiles ops.cpp and the cuda/*.cu files for the CPU and
// registers them into `vfi_ops_emulated`, under the CPU dispatch key, so that
// the CUDA kernels run on CPU tensors beside the real CPU kernels.
#pragma once

#ifdef VFI_OPS_EMULATED_CUDA
#define VFI_OPS_LIBRARY vfi_ops_emulated
#define VFI_OPS_CUDA_KEY CPU
#else
#define VFI_OPS_LIBRARY vfi_ops
#define VFI_OPS_CUDA_KEY CUDA
#endif
