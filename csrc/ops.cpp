// The one place where every vfi_ops operator schema is declared.
// Kernels are registered per dispatch key next to their launchers (cpu/, cuda/,
// autocast.cpp); fake (meta) kernels and autograd are registered from Python (vfi_ops/).
// What reads the list: op_lists.cpp (the names the Python module reports),
// no_cuda_stubs.cpp (a CPU-only build's CUDA entries); module.cpp is the module.
#include <torch/library.h>

#include <vector>

#include "library.h"
#include "ops.h"

namespace {

constexpr const char* kSchemas[] = {
    "backward_warp(Tensor input, Tensor flow, str padding_mode=\"zeros\") -> Tensor",
    // output_mask: which of (grad_input, grad_flow) to compute; the others come back empty.
    "backward_warp_backward(Tensor grad_output, Tensor input, Tensor flow, str padding_mode, bool[2] output_mask) "
    "-> (Tensor, Tensor)",

    // Returns (output, den): den [B, 1, H, W] is the summed weight per pixel (0 at
    // holes), scaled per batch item and in float64 (see flow_projection_math.h); the
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

    // input [B, C, H+K-1, W+K-1] (padded by the caller), vertical and horizontal [B, K, H, W].
    "sepconv(Tensor input, Tensor vertical, Tensor horizontal) -> Tensor",
    // output_mask: which of (grad_input, grad_vertical, grad_horizontal) to compute; the others come back empty.
    "sepconv_backward(Tensor grad_output, Tensor input, Tensor vertical, Tensor horizontal, bool[3] output_mask) "
    "-> (Tensor, Tensor, Tensor)",

    // input [B, C, H+(F-1)*dilation, W+(F-1)*dilation] (padded by the caller), weight, offset_y,
    // offset_x [B, F*F, H, W]; truncate_offsets: AdaCoF's truncation of the offsets toward zero.
    "adacof(Tensor input, Tensor weight, Tensor offset_y, Tensor offset_x, int dilation=1, "
    "bool truncate_offsets=False) -> Tensor",
    // output_mask: which of (grad_input, grad_weight, grad_offset_y, grad_offset_x) to compute; the others come
    // back empty.
    "adacof_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor offset_y, Tensor offset_x, "
    "int dilation, bool truncate_offsets, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)",

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

}  // namespace

namespace vfi_ops {

c10::ArrayRef<const char*> op_schemas() { return kSchemas; }

}  // namespace vfi_ops

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
