// corr_lookup: CUDA launchers (grid-stride; the math is in corr_lookup.h).
//
// Forward: one thread per output element (b, k, y, x): the four tap products
// of its sample, each a loop over the channels (neighbouring threads take
// neighbouring x, so the fmap1 reads coalesce). Per output element C fmap1
// elements (shared by the pixel's (2r+1)^2 samples through the caches) and up
// to 4C fmap2 elements (shared by neighbouring samples) are read, one written.
// Backward: the coords gradient one thread per pixel (the products again);
// the fmap1 gradient (a gather) and the fmap2 gradient (atomic adds) one
// thread per fmap1 element (b, c, y, x), looping over the samples.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <array>
#include <tuple>

#include "corr_lookup_math.h"
#include "corr_lookup_checks.h"
#include "index_width.h"
#include "cuda/launch.cuh"

namespace vfi_ops {
namespace {

template <typename index_t>
struct LookupSizes {
  index_t B, C, H, W, H2, W2, r;
};

template <typename index_t>
LookupSizes<index_t> lookup_sizes(const at::Tensor& fmap1, const at::Tensor& fmap2, int64_t radius) {
  return {static_cast<index_t>(fmap1.size(0)), static_cast<index_t>(fmap1.size(1)), static_cast<index_t>(fmap1.size(2)),
          static_cast<index_t>(fmap1.size(3)), static_cast<index_t>(fmap2.size(2)), static_cast<index_t>(fmap2.size(3)),
          static_cast<index_t>(radius)};
}

// The four tap products of sample (i, j) (offsets in [-r, r]) of the pixel whose
// fmap1 vector starts at f1p (channels HW apart); f2 points at fmap2[b, 0].
template <typename acc_t, typename index_t, typename scalar_t>
VFI_HOST_DEVICE void tap_products(const LookupSizes<index_t>& s, const LookupWindow<acc_t, index_t>& win,
                                  const scalar_t* f1p, const scalar_t* f2, index_t i, index_t j, acc_t d[4]) {
  const index_t HW = s.H * s.W, HW2 = s.H2 * s.W2;
  for (int t = 0; t < 4; ++t) {
    const index_t u = win.X + i + (t & 1), v = win.Y + j + (t >> 1);
    d[t] = lookup_inside(u, v, s.H2, s.W2) ? lookup_dot<acc_t>(f1p, HW, f2 + v * s.W2 + u, HW2, s.C) : acc_t(0);
  }
}

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
                               const scalar_t* __restrict__ coords, scalar_t* __restrict__ out,
                               LookupSizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, n = 2 * s.r + 1, K = n * n;
  VFI_GRID_STRIDE_LOOP(e, s.B * K * HW) {
    const index_t p = e % HW, k = (e / HW) % K, b = e / (K * HW);
    const auto win = lookup_window<acc_t, index_t>(static_cast<acc_t>(coords[b * 2 * HW + p]),
                                                   static_cast<acc_t>(coords[b * 2 * HW + HW + p]), s.H2, s.W2, s.r);
    acc_t value = acc_t(0);
    if (win.valid) {
      acc_t w[4], d[4];
      lookup_weights(win.a, win.b, w);
      tap_products(s, win, f1 + b * s.C * HW + p, f2 + b * s.C * s.H2 * s.W2, k % n - s.r, k / n - s.r, d);
      value = lookup_blend(w, d);
    }
    out[e] = static_cast<scalar_t>(value);
  }
}

template <typename scalar_t, typename index_t>
__global__ void coords_grad_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ f1,
                                   const scalar_t* __restrict__ f2, const scalar_t* __restrict__ coords,
                                   scalar_t* __restrict__ grad_coords, LookupSizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, n = 2 * s.r + 1, K = n * n;
  VFI_GRID_STRIDE_LOOP(e, s.B * HW) {
    const index_t p = e % HW, b = e / HW;
    const auto win = lookup_window<acc_t, index_t>(static_cast<acc_t>(coords[b * 2 * HW + p]),
                                                   static_cast<acc_t>(coords[b * 2 * HW + HW + p]), s.H2, s.W2, s.r);
    acc_t gx = acc_t(0), gy = acc_t(0);
    if (win.valid) {
      for (index_t k = 0; k < K; ++k) {
        acc_t d[4];
        tap_products(s, win, f1 + b * s.C * HW + p, f2 + b * s.C * s.H2 * s.W2, k % n - s.r, k / n - s.r, d);
        lookup_coords_grad(win.a, win.b, d, static_cast<acc_t>(g[(b * K + k) * HW + p]), gx, gy);
      }
    }
    grad_coords[b * 2 * HW + p] = static_cast<scalar_t>(gx);
    grad_coords[b * 2 * HW + HW + p] = static_cast<scalar_t>(gy);
  }
}

// grad_f1 (or null) gathered, grad_f2_acc (float for half/bfloat16; or null) scattered.
template <typename scalar_t, typename index_t>
__global__ void fmap_grad_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ f1,
                                 const scalar_t* __restrict__ f2, const scalar_t* __restrict__ coords,
                                 scalar_t* __restrict__ grad_f1, at::opmath_type<scalar_t>* __restrict__ grad_f2_acc,
                                 LookupSizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, HW2 = s.H2 * s.W2, n = 2 * s.r + 1, K = n * n;
  VFI_GRID_STRIDE_LOOP(e, s.B * s.C * HW) {
    const index_t p = e % HW, bc = e / HW, b = bc / s.C;
    const auto win = lookup_window<acc_t, index_t>(static_cast<acc_t>(coords[b * 2 * HW + p]),
                                                   static_cast<acc_t>(coords[b * 2 * HW + HW + p]), s.H2, s.W2, s.r);
    acc_t sum = acc_t(0);
    if (win.valid) {
      acc_t w[4];
      lookup_weights(win.a, win.b, w);
      const scalar_t* plane = f2 + bc * HW2;
      const acc_t v1 = static_cast<acc_t>(f1[e]);
      for (index_t k = 0; k < K; ++k) {
        const acc_t gk = static_cast<acc_t>(g[(b * K + k) * HW + p]);
        for (int t = 0; t < 4; ++t) {
          const index_t u = win.X + k % n - s.r + (t & 1), v = win.Y + k / n - s.r + (t >> 1);
          if (!lookup_inside(u, v, s.H2, s.W2)) continue;
          sum += gk * w[t] * static_cast<acc_t>(plane[v * s.W2 + u]);
          if (grad_f2_acc != nullptr) atomicAdd(grad_f2_acc + bc * HW2 + v * s.W2 + u, gk * w[t] * v1);
        }
      }
    }
    if (grad_f1 != nullptr) grad_f1[e] = static_cast<scalar_t>(sum);
  }
}

at::Tensor corr_lookup_cuda(const at::Tensor& fmap1_, const at::Tensor& fmap2_, const at::Tensor& coords_,
                            int64_t radius) {
  check_corr_lookup_args(fmap1_, fmap2_, coords_, radius);
  const c10::cuda::CUDAGuard guard(fmap1_.device());
  const at::Tensor f1 = fmap1_.contiguous(), f2 = fmap2_.contiguous(), coords = coords_.contiguous();
  const int64_t n = 2 * radius + 1;
  at::Tensor out = uninitialized({f1.size(0), n * n, f1.size(2), f1.size(3)}, f1.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "corr_lookup_cuda", [&] {
    auto launch = [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(out.numel()), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          f1.const_data_ptr<scalar_t>(), f2.const_data_ptr<scalar_t>(), coords.const_data_ptr<scalar_t>(),
          out.mutable_data_ptr<scalar_t>(), lookup_sizes<index_t>(f1, f2, radius));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    with_index_type(fits_int32({out.numel(), f1.numel(), f2.numel(), 4 * (f2.size(2) + f2.size(3) + radius + 2)}),
                    launch);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> corr_lookup_backward_cuda(const at::Tensor& grad_output_,
                                                                         const at::Tensor& fmap1_,
                                                                         const at::Tensor& fmap2_,
                                                                         const at::Tensor& coords_, int64_t radius,
                                                                         std::array<bool, 3> output_mask) {
  check_corr_lookup_backward_args(grad_output_, fmap1_, fmap2_, coords_, radius);
  if (output_mask[1]) {
    // The fmap2 gradient is scattered with atomic adds, whose order varies.
    at::globalContext().alertNotDeterministic("vfi_ops::corr_lookup_backward (CUDA, gradient to fmap2)");
  }
  const c10::cuda::CUDAGuard guard(fmap1_.device());
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor f1 = fmap1_.contiguous(), f2 = fmap2_.contiguous(), coords = coords_.contiguous();
  const auto opts = f1.options();
  const bool reduced = f1.scalar_type() == at::kHalf || f1.scalar_type() == at::kBFloat16;
  at::Tensor g1 = output_mask[0] ? at::zeros(f1.sizes(), opts) : at::empty({0}, opts);
  at::Tensor g2_acc =
      output_mask[1] ? at::zeros(f2.sizes(), opts.dtype(reduced ? at::kFloat : f1.scalar_type())) : at::Tensor();
  at::Tensor gc = output_mask[2] ? at::zeros(coords.sizes(), opts) : at::empty({0}, opts);
  if (grad_output.numel() > 0) {
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, f1.scalar_type(), "corr_lookup_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      auto launch = [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const auto s = lookup_sizes<index_t>(f1, f2, radius);
        if (output_mask[2]) {
          VFI_LAUNCH(grid_size(coords.numel() / 2), kThreads, stream, coords_grad_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), f1.const_data_ptr<scalar_t>(), f2.const_data_ptr<scalar_t>(),
              coords.const_data_ptr<scalar_t>(), gc.mutable_data_ptr<scalar_t>(), s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
        if ((output_mask[0] || output_mask[1]) && f1.numel() > 0) {
          VFI_LAUNCH(grid_size(f1.numel()), kThreads, stream, fmap_grad_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), f1.const_data_ptr<scalar_t>(), f2.const_data_ptr<scalar_t>(),
              coords.const_data_ptr<scalar_t>(), output_mask[0] ? g1.mutable_data_ptr<scalar_t>() : nullptr,
              output_mask[1] ? g2_acc.mutable_data_ptr<acc_t>() : nullptr, s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      };
      with_index_type(
          fits_int32({grad_output.numel(), f1.numel(), f2.numel(), 4 * (f2.size(2) + f2.size(3) + radius + 2)}),
          launch);
    });
  }
  at::Tensor g2 = !output_mask[1] ? at::empty({0}, opts) : reduced ? g2_acc.to(f1.scalar_type()) : g2_acc;
  return {g1, g2, gc};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("corr_lookup", &corr_lookup_cuda);
  m.impl("corr_lookup_backward", &corr_lookup_backward_cuda);
}

}  // namespace vfi_ops
