// The layout the layout-preserving ops compute in and return (host only).
#pragma once

#include <ATen/core/Tensor.h>

namespace vfi_ops {

// The layout the layout-preserving ops (backward_warp, sparse_masked_conv2d)
// compute in and return: channels-last for a channels-last input, unless it is
// also contiguous (one channel, or 1 x 1 planes). vfi_ops.output_memory_format
// is the same rule in Python.
inline bool computes_channels_last(const at::Tensor& input) {
  return !input.is_contiguous() && input.is_contiguous(at::MemoryFormat::ChannelsLast);
}

inline at::MemoryFormat output_memory_format(const at::Tensor& input) {
  return computes_channels_last(input) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

}  // namespace vfi_ops
