#include "kernels/matmul_plan.hpp"

#include <algorithm>
#include <string>

namespace keel {

Result<Shape> plan_matmul(const PrepareContext& ctx, MatMulPlan& p) {
  Shape as = ctx.input(0).shape, bs = ctx.input(1).shape;
  if (as.empty() || bs.empty()) return ctx.invalid("A and B must have rank >= 1");
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  p.m = as[as.size() - 2];
  p.k = as.back();
  p.n = bs.back();
  if (bs[bs.size() - 2] != p.k) {
    return ctx.invalid("inner dims differ: A " + shape_to_string(ctx.input(0).shape) + ", B " +
                       shape_to_string(ctx.input(1).shape));
  }
  p.a_batch.assign(as.begin(), as.end() - 2);
  p.b_batch.assign(bs.begin(), bs.end() - 2);
  const size_t nb = std::max(p.a_batch.size(), p.b_batch.size());
  Shape& batch = p.out_batch;
  batch.assign(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i + p.a_batch.size() >= nb ? p.a_batch[i + p.a_batch.size() - nb] : 1;
    const int64_t db = i + p.b_batch.size() >= nb ? p.b_batch[i + p.b_batch.size() - nb] : 1;
    if (da != db && da != 1 && db != 1) {
      return ctx.invalid("batch dims of A " + shape_to_string(ctx.input(0).shape) + " and B " +
                         shape_to_string(ctx.input(1).shape) + " do not broadcast");
    }
    batch[i] = da == 1 ? db : da;
  }
  Shape out = batch;
  if (!a_vec) out.push_back(p.m);
  if (!b_vec) out.push_back(p.n);
  const auto total = checked_numel(out);
  const auto batch_count = checked_numel(batch);
  if (!total || !batch_count || *batch_count > (int64_t{1} << 31)) {
    return ctx.invalid("output " + shape_to_string(out) + " is too large");
  }
  p.batch = *batch_count;
  return out;
}

void MatMulPlan::compute_offsets() {
  const size_t nb = out_batch.size();
  a_offset.resize(static_cast<size_t>(batch));
  b_offset.resize(static_cast<size_t>(batch));
  std::vector<int64_t> idx(nb, 0);
  for (int64_t t = 0; t < batch; ++t) {
    int64_t oa = 0, ob = 0;
    for (size_t i = 0; i < nb; ++i) {
      if (i + a_batch.size() >= nb) {
        const int64_t d = a_batch[i + a_batch.size() - nb];
        oa = oa * d + (d == 1 ? 0 : idx[i]);
      }
      if (i + b_batch.size() >= nb) {
        const int64_t d = b_batch[i + b_batch.size() - nb];
        ob = ob * d + (d == 1 ? 0 : idx[i]);
      }
    }
    a_offset[static_cast<size_t>(t)] = oa;
    b_offset[static_cast<size_t>(t)] = ob;
    for (size_t i = nb; i-- > 0;) {
      if (++idx[i] < out_batch[i]) break;
      idx[i] = 0;
    }
  }
}

}  // namespace keel
