// How the CPU kernels split their work among threads.
//
// Rows: tasks of whole output rows, big enough to be worth scheduling.
//
// Scatters (the input gradient of a warp), without races or atomics and
// deterministically:
// - many (batch, channel) planes: each task owns whole planes of the gradient;
// - few planes for the threads: one pass over output rows split into bands,
//   each band scattering into its own copy of the gradient, summed at the end
//   in a fixed order.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

namespace vfi_ops {

// Rows per task for at::parallel_for when a row costs `work_per_row` element
// operations: at least ~32k per task (ATen's grain size), since smaller tasks
// cost more to schedule than they save.
inline int64_t rows_per_task(int64_t work_per_row) {
  constexpr int64_t kGrain = 32768;
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, work_per_row));
}

// Like at::parallel_for, but the threads take tasks of `grain` items one at a
// time from a shared counter instead of a fixed share each: where another
// process slows one core, the other threads take more of the tasks instead of
// waiting for it at the end. Only for tasks that write disjoint outputs (who
// runs a task must not change the result). Inside a parallel region, one call
// of fn over the whole range, as at::parallel_for.
template <typename Fn>
void parallel_for_shared(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
  if (begin >= end) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t tasks = (end - begin + grain - 1) / grain;
  const int64_t workers = std::min<int64_t>(tasks, at::get_num_threads());
  if (workers <= 1 || at::in_parallel_region()) {
    fn(begin, end);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t first, int64_t last) {
    for (int64_t worker = first; worker < last; ++worker) {
      for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) {
        fn(begin + t * grain, std::min(end, begin + (t + 1) * grain));
      }
    }
  });
}

// Whether B*C planes are too few to keep every thread busy with planes of its own.
inline bool too_few_planes(int64_t planes) { return planes < 2 * at::get_num_threads(); }

// Calls fn(b, c_begin, c_end) for runs of planes (b, c), each run owned by one task.
template <typename Fn>
void for_plane_runs(int64_t B, int64_t C, Fn&& fn) {
  at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bc = begin; bc < end;) {
      const int64_t b = bc / C, c_begin = bc % C, c_end = std::min(C, c_begin + (end - bc));
      fn(b, c_begin, c_end);
      bc += c_end - c_begin;
    }
  });
}

// Splits rows [0, rows) into bands (one per thread, at most 8: each costs a copy
// of grad_input; fewer where a row costs less than `work_per_row` element
// operations would make them worth scheduling) and calls fn(row_begin, row_end,
// grad_input_data) for each, band 0 writing into grad_input itself and the
// others into zeroed copies that are added to it afterwards, in band order.
template <typename scalar_t, typename Fn>
void for_row_bands(int64_t rows, const at::Tensor& grad_input, int64_t work_per_row, Fn&& fn) {
  const int64_t worth = rows / rows_per_task(work_per_row);
  const int64_t bands = std::max<int64_t>(1, std::min<int64_t>({at::get_num_threads(), 8, rows, worth}));
  std::vector<at::Tensor> scatter_into(bands);
  scatter_into[0] = grad_input;
  for (int64_t i = 1; i < bands; ++i) scatter_into[i] = at::zeros_like(grad_input);
  at::parallel_for(0, bands, 1, [&](int64_t first, int64_t last) {
    for (int64_t band = first; band < last; ++band) {
      fn(band * rows / bands, (band + 1) * rows / bands, scatter_into[band].template mutable_data_ptr<scalar_t>());
    }
  });
  for (int64_t i = 1; i < bands; ++i) grad_input.add_(scatter_into[i]);
}

}  // namespace vfi_ops
