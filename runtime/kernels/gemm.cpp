// Gemm and MatMul. float32 runs on the packed SGEMM (constant B is packed here, at plan
// time); with a constant B and at most kSgemmF64MaxRows rows of A (a classifier at batch 1-8)
// the products are summed in float64 (sgemm_packed_b_f64). MatMul also takes float64 / int32 /
// int64 (plain loops, for shape arithmetic). A node choose_precision marked bfloat16 packs its
// constant B in bfloat16 and runs on the bfloat16 GEMM (ukernels/bf16_gemm.hpp).
#include <algorithm>
#include <memory>
#include <vector>

#include "core/run_failure.hpp"
#include "exec/parallel.hpp"
#include "kernels/fused_activation.hpp"
#include "kernels/matmul_plan.hpp"
#include "kernels/registry.hpp"
#include "ukernels/bf16_gemm.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

// ---------------------------------------------------------------------------------- Gemm

enum class GemmCMode { kNone, kPerCol, kPerRow, kBroadcast };

class GemmKernel final : public Kernel {
 public:
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  GemmCMode c_mode = GemmCMode::kNone;
  Shape c_shape;
  std::unique_ptr<SgemmPackedB> packed_b;
  std::unique_ptr<Bf16PackedB> packed_b_bf16;  // instead of packed_b (A not transposed)

  const char* name() const override {
    if (packed_b_bf16) return "gemm_bf16_packed_b";
    return packed_b ? "gemm_f32_packed_b" : "gemm_f32";
  }

  void run(const KernelRun& r) const override {
    const float* a = r.in(0).as<float>();
    const float* b = r.in(1).as<float>();
    float* y = r.out(0).as<float>();
    GemmEpilogue ep;
    ep.alpha = alpha;
    if (c_mode == GemmCMode::kPerCol || c_mode == GemmCMode::kPerRow) {
      ep.bias_kind = c_mode == GemmCMode::kPerCol ? GemmBias::kPerCol : GemmBias::kPerRow;
      ep.bias = r.in(2).as<float>();
    } else if (c_mode == GemmCMode::kBroadcast) {
      // Y = beta * C (broadcast), then Y += alpha * A * B.
      const float* c = r.in(2).as<float>();
      const int64_t cr = c_shape.size() == 2 ? c_shape[0] : 1;
      const int64_t cc = c_shape.empty() ? 1 : c_shape.back();
      for (int64_t i = 0; i < m; ++i) {
        const float* crow = c + (cr == 1 ? 0 : i) * cc;
        for (int64_t j = 0; j < n; ++j) y[i * n + j] = beta * crow[cc == 1 ? 0 : j];
      }
      ep.accumulate = true;
    }
    const int64_t lda = trans_a ? m : k;
    if (packed_b_bf16) {
      bf16_gemm_packed_b(m, a, lda, *packed_b_bf16, y, n, ep);
    } else if (packed_b && !trans_a && m <= kSgemmF64MaxRows) {
      sgemm_packed_b_f64(m, a, lda, *packed_b, y, n, ep);  // a classifier: B's read dominates
    } else if (packed_b) {
      sgemm_packed_b(m, a, lda, trans_a, *packed_b, y, n, ep);
    } else {
      sgemm(m, n, k, a, lda, trans_a, b, trans_b ? k : n, trans_b, y, n, ep);
    }
  }
};

Result<std::unique_ptr<Kernel>> make_gemm(PrepareContext& ctx) {
  const bool c_optional = ctx.opset() >= 11;
  if (ctx.num_inputs() < 2 || ctx.num_inputs() > 3 || (!c_optional && !ctx.has_input(2))) {
    return ctx.invalid(c_optional ? "expected 2 or 3 inputs" : "expected 3 inputs (A, B, C)");
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32}, 2, 2));
  KEEL_RETURN_IF_ERROR(ctx.check_input(1, {DataType::kFloat32}, 2, 2));
  auto kernel = std::make_unique<GemmKernel>();
  KEEL_ASSIGN_OR_RETURN(int64_t ta, ctx.node.attr_int("transA", 0));
  KEEL_ASSIGN_OR_RETURN(int64_t tb, ctx.node.attr_int("transB", 0));
  KEEL_ASSIGN_OR_RETURN(kernel->alpha, ctx.node.attr_float("alpha", 1.0f));
  KEEL_ASSIGN_OR_RETURN(kernel->beta, ctx.node.attr_float("beta", 1.0f));
  KEEL_ASSIGN_OR_RETURN(int64_t bcast, ctx.node.attr_int("broadcast", 0));
  if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1)) {
    return ctx.invalid("transA and transB must be 0 or 1");
  }
  GemmKernel& g = *kernel;
  g.trans_a = ta == 1;
  g.trans_b = tb == 1;
  const Shape& as = ctx.input(0).shape;
  const Shape& bs = ctx.input(1).shape;
  g.m = g.trans_a ? as[1] : as[0];
  g.k = g.trans_a ? as[0] : as[1];
  const int64_t kb = g.trans_b ? bs[1] : bs[0];
  g.n = g.trans_b ? bs[0] : bs[1];
  if (kb != g.k) {
    return ctx.invalid("inner dims differ: A " + shape_to_string(as) +
                       (g.trans_a ? " (transposed)" : "") + ", B " + shape_to_string(bs) +
                       (g.trans_b ? " (transposed)" : ""));
  }
  if (!checked_numel({g.m, g.n})) return ctx.invalid("output too large");
  if (ctx.has_input(2) && g.beta != 0.0f) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(2, {DataType::kFloat32}, 0, 2));
    g.c_shape = ctx.input(2).shape;
    const Shape& cs = g.c_shape;
    const int64_t cr = cs.size() == 2 ? cs[0] : 1;
    const int64_t cc = cs.empty() ? 1 : cs.back();
    const bool exact = cs.size() == 2 && cr == g.m && cc == g.n;
    if (ctx.opset() < 7 && bcast == 0 && !exact) {
      return ctx.invalid("C " + shape_to_string(cs) + " must be [M, N] = [" + std::to_string(g.m) +
                         "," + std::to_string(g.n) + "] when broadcast = 0");
    }
    if ((cr != 1 && cr != g.m) || (cc != 1 && cc != g.n)) {
      return ctx.invalid("C " + shape_to_string(cs) + " does not broadcast to [" +
                         std::to_string(g.m) + "," + std::to_string(g.n) + "]");
    }
    if (g.beta == 1.0f && cr == 1 && cc == g.n && g.n > 1) {
      g.c_mode = GemmCMode::kPerCol;
    } else if (g.beta == 1.0f && cc == 1 && cr == g.m && g.m > 1) {
      g.c_mode = GemmCMode::kPerRow;
    } else {
      g.c_mode = GemmCMode::kBroadcast;
    }
  } else if (ctx.has_input(2)) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(2, {DataType::kFloat32}, 0, 2));
  }
  ctx.set_output(0, DataType::kFloat32, {g.m, g.n});
  const Tensor* bv = ctx.input(1).value;
  if (bv != nullptr && !g.trans_a && ctx.node.decisions.precision == Precision::kBf16) {
    g.packed_b_bf16 = std::make_unique<Bf16PackedB>();
    if (!g.packed_b_bf16->pack(g.k, g.n, bv->data_as<float>(), g.trans_b ? g.k : g.n, g.trans_b)) {
      return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing B");
    }
  } else if (bv != nullptr) {
    g.packed_b = std::make_unique<SgemmPackedB>();
    if (!g.packed_b->pack(g.k, g.n, bv->data_as<float>(), g.trans_b ? g.k : g.n, g.trans_b)) {
      return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing B");
    }
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// -------------------------------------------------------------------------------- MatMul

template <typename T>
void matmul_naive(const T* a, const T* b, T* y, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      T acc = T(0);
      for (int64_t p = 0; p < k; ++p) acc += a[i * k + p] * b[p * n + j];
      y[i * n + j] = acc;
    }
  }
}

class MatMulKernel final : public Kernel {
 public:
  MatMulPlan p;
  DataType dtype = DataType::kFloat32;
  std::unique_ptr<SgemmPackedB> packed_b;
  std::unique_ptr<Bf16PackedB> packed_b_bf16;  // instead of packed_b
  // bfloat16 with B an activation (attention's products): B is rounded and packed per run,
  // into scratch (one GEMM) or the task's thread scratch (one GEMM per batch matrix).
  bool bf16_activation_b = false;
  // Fused by passes/fuse_activation.cpp (constant B only): a per-column bias (input 2) and an
  // activation, applied in the GEMM epilogue.
  bool has_bias = false;
  ActParams act;

  const char* name() const override {
    if (dtype != DataType::kFloat32) return "matmul_naive";
    if (packed_b_bf16) return "matmul_bf16_packed_b";
    if (bf16_activation_b) return "matmul_bf16";
    return packed_b ? "matmul_f32_packed_b" : "matmul_f32";
  }

  size_t scratch_bytes() const override {
    return bf16_activation_b && p.fold_batch_into_m ? bf16_packed_b_bytes(p.k, p.n) : 0;
  }

  void run(const KernelRun& r) const override {
    switch (dtype) {
      case DataType::kFloat32: run_f32(r); break;
      case DataType::kFloat64: run_naive<double>(r); break;
      case DataType::kInt32: run_naive<int32_t>(r); break;
      case DataType::kInt64: run_naive<int64_t>(r); break;
      default: break;
    }
  }

 private:
  void run_f32(const KernelRun& r) const {
    const float* a = r.in(0).as<float>();
    const float* b = r.in(1).as<float>();
    float* y = r.out(0).as<float>();
    if (p.fold_batch_into_m) {
      const int64_t rows = p.batch * p.m;
      if (packed_b || packed_b_bf16) {
        GemmEpilogue ep;
        ep.act = act;
        if (has_bias) {
          ep.bias_kind = GemmBias::kPerCol;
          ep.bias = r.in(MatMulOperand::kBias).as<float>();
        }
        if (packed_b_bf16) {
          bf16_gemm_packed_b(rows, a, p.k, *packed_b_bf16, y, p.n, ep);
        } else if (rows <= kSgemmF64MaxRows) {
          sgemm_packed_b_f64(rows, a, p.k, *packed_b, y, p.n, ep);
        } else {
          sgemm_packed_b(rows, a, p.k, false, *packed_b, y, p.n, ep);
        }
      } else if (bf16_activation_b) {
        bf16_gemm(rows, p.n, p.k, a, p.k, b, p.n, y, p.n, {}, r.scratch, true);
      } else {
        sgemm(rows, p.n, p.k, a, p.k, false, b, p.n, false, y, p.n, {});
      }
      return;
    }
    if (bf16_activation_b) {
      // One GEMM per batch matrix on one thread each: B packed in the task's thread scratch.
      const size_t b_bytes = bf16_packed_b_bytes(p.k, p.n);
      parallel_for(p.batch, p.m * p.n * p.k, [&](int64_t b0, int64_t b1) {
        void* buffer = thread_scratch(3, b_bytes);
        if (buffer == nullptr) {
          report_run_failure(Status(StatusCode::kOutOfMemory, "cannot allocate the packed B"));
          return;
        }
        for (int64_t i = b0; i < b1; ++i) {
          bf16_gemm(p.m, p.n, p.k, a + p.a_offset[i] * p.m * p.k, p.k,
                    b + p.b_offset[i] * p.k * p.n, p.n, y + i * p.m * p.n, p.n, {}, buffer, false);
        }
      });
      return;
    }
    parallel_for(p.batch, p.m * p.n * p.k, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) {
        sgemm(p.m, p.n, p.k, a + p.a_offset[i] * p.m * p.k, p.k, false,
              b + p.b_offset[i] * p.k * p.n, p.n, false, y + i * p.m * p.n, p.n, {});
      }
    });
  }

  template <typename T>
  void run_naive(const KernelRun& r) const {
    const T* a = r.in(0).as<T>();
    const T* b = r.in(1).as<T>();
    T* y = r.out(0).as<T>();
    for (int64_t i = 0; i < p.batch; ++i) {
      matmul_naive(a + p.a_offset[i] * p.m * p.k, b + p.b_offset[i] * p.k * p.n, y + i * p.m * p.n,
                   p.m, p.n, p.k);
    }
  }
};

Result<std::unique_ptr<Kernel>> make_matmul(PrepareContext& ctx) {
  // A FusedMatMul may carry a bias (graph/fused_ops.hpp).
  const bool fused_bias = ctx.node.op_type == kFusedMatMul && ctx.has_input(MatMulOperand::kBias);
  if (ctx.num_inputs() != (fused_bias ? 3 : 2)) {
    return ctx.invalid(fused_bias ? "expected 3 inputs (A, B and the fused bias)"
                                  : "expected 2 inputs");
  }
  const std::initializer_list<DataType> types = {DataType::kFloat32, DataType::kFloat64,
                                                 DataType::kInt32, DataType::kInt64};
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, types, 1, 64));
  KEEL_RETURN_IF_ERROR(ctx.check_input(1, types, 1, 64));
  if (ctx.input(0).dtype != ctx.input(1).dtype) {
    return ctx.invalid("A is " + dtype_name(ctx.input(0).dtype) + " but B is " +
                       dtype_name(ctx.input(1).dtype));
  }
  auto kernel = std::make_unique<MatMulKernel>();
  kernel->dtype = ctx.input(0).dtype;
  MatMulPlan& p = kernel->p;
  KEEL_ASSIGN_OR_RETURN(Shape out, plan_matmul(ctx, p));
  ctx.set_output(0, kernel->dtype, out);
  p.fold_batch_into_m =
      kernel->dtype == DataType::kFloat32 && numel(p.b_batch) == 1 && numel(p.a_batch) == p.batch;
  if (!p.fold_batch_into_m) p.compute_offsets();
  const size_t b_rank = ctx.input(1).shape.size() == 1 ? 2 : ctx.input(1).shape.size();
  const bool bf16 = ctx.node.decisions.precision == Precision::kBf16 && b_rank == 2;
  if (p.fold_batch_into_m && ctx.input(1).value != nullptr && bf16) {
    kernel->packed_b_bf16 = std::make_unique<Bf16PackedB>();
    if (!kernel->packed_b_bf16->pack(p.k, p.n, ctx.input(1).value->data_as<float>(), p.n, false)) {
      return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing B");
    }
  } else if (p.fold_batch_into_m && ctx.input(1).value != nullptr) {
    kernel->packed_b = std::make_unique<SgemmPackedB>();
    if (!kernel->packed_b->pack(p.k, p.n, ctx.input(1).value->data_as<float>(), p.n, false)) {
      return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing B");
    }
  }
  kernel->bf16_activation_b = ctx.node.decisions.precision == Precision::kBf16 &&
                              kernel->dtype == DataType::kFloat32 && !kernel->packed_b &&
                              !kernel->packed_b_bf16;
  kernel->act = ctx.node.decisions.activation;
  kernel->has_bias = fused_bias;
  if ((kernel->has_bias || kernel->act.kind != ActKind::kNone) && !kernel->packed_b &&
      !kernel->packed_b_bf16) {
    return ctx.unsupported_case(
        "a fused bias or activation on a MatMul without a constant "
        "float32 [K, N] B");
  }
  if (kernel->has_bias) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(MatMulOperand::kBias, {DataType::kFloat32}, 1, 1));
    if (ctx.input(MatMulOperand::kBias).shape[0] != p.n) {
      return ctx.invalid("fused bias has " +
                         std::to_string(ctx.input(MatMulOperand::kBias).shape[0]) +
                         " values, expected N = " + std::to_string(p.n));
    }
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void register_gemm_kernels(KernelRegistry& r) {
  r.add("Gemm", &make_gemm, 1);
  r.add("MatMul", &make_matmul, 1);
  r.add(kFusedMatMul, &make_matmul, 1, kNewestVettedOpset, kKeelDomain);
}

}  // namespace keel
