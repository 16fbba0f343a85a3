// VFI_CPU_SIMD marks a hot CPU loop to be compiled twice, for x86-64-v3 (AVX2, FMA) and for
// the baseline ISA, with the version chosen at load time (GCC/Clang function
// multi-versioning). The wheel then runs everywhere and vectorises where it can.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(_WIN32)
#define VFI_CPU_SIMD __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VFI_CPU_SIMD
#endif
