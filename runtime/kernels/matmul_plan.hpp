// The shapes of a numpy-style matrix product (MatMul, MatMulInteger, QLinearMatMul): 1-D
// operands promoted to matrices, batch dimensions broadcast, each output batch's matrices in A
// and B.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel.hpp"

namespace keel {

struct MatMulPlan {
  int64_t m = 1, n = 1, k = 1;
  int64_t batch = 1;                        // broadcast batch count
  std::vector<int64_t> a_offset, b_offset;  // per batch, in matrices (compute_offsets)
  bool fold_batch_into_m = false;           // B has no batch and A's batches are contiguous
  Shape a_batch, b_batch, out_batch;        // batch dims of A, B and the output

  // Fills a_offset and b_offset for every output batch (broadcast dims repeat).
  void compute_offsets();
};

// Checks inputs 0 (A) and 1 (B) as matmul operands (shapes only; the caller checks types),
// fills m, n, k, batch and the batch shapes, and returns the output shape.
Result<Shape> plan_matmul(const PrepareContext& ctx, MatMulPlan& p);

}  // namespace keel
