// The row loop of the NHWC depthwise and direct implementations: every output row (n, oh)
// through a per-ISA row ukernel, in parallel, optionally summing each row's channels for a
// fused pooling while the row is in cache (kernels/conv/pool_after.hpp).
#pragma once

#include <algorithm>
#include <cstdint>

#include "exec/parallel.hpp"
#include "graph/fused_ops.hpp"
#include "kernels/conv/pool_after.hpp"
#include "kernels/global_average_pool.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// Per-row channel sums for a pooled output 1 (kernels/conv/pool_after.hpp): batch * out_h rows of
// `channels` doubles in scratch.
struct RowPooling {
  bool on = false;
  int64_t channels = 0;
  size_t bytes(int64_t rows) const {
    return on ? static_cast<size_t>(rows * channels) * sizeof(double) : 0;
  }
};

// Every output row (n, oh) of a batch of NHWC images through a per-ISA row ukernel, in
// parallel; `macs_per_output` sizes the work of a row of out_row outputs. With pooling, each
// row's channel sums go to row_sums while the row is still in cache, and output 1 gets the means.
template <class Params>
void for_each_output_row(void (*row)(const Params*, const float*, int64_t, float*), const Params& p,
                         const KernelRun& r, int64_t batch, int64_t out_h, int64_t in_image,
                         int64_t out_row, int64_t macs_per_output, const RowPooling& pool) {
  const float* x = r.in(0).as<float>();
  float* y = r.out(0).as<float>();
  auto* row_sums = static_cast<double*>(r.scratch);
  const int64_t c = pool.channels;
  parallel_for(batch * out_h, out_row * macs_per_output, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      row(&p, x + (t / out_h) * in_image, t % out_h, y + t * out_row);
      if (pool.on) {
        std::fill(row_sums + t * c, row_sums + (t + 1) * c, 0.0);
        add_channel_sums(y + t * out_row, out_row / c, c, c, row_sums + t * c);
      }
    }
  });
  if (pool.on) {
    pooled_means_from_rows(row_sums, batch, out_h, out_h * (out_row / c), c,
                           r.out(ConvResult::kPooled).as<float>());
  }
}

}  // namespace keel
