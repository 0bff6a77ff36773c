// MatMulInteger (opset 10): Y (int32) = (A - a_zero_point) x (B - b_zero_point), A and B int8 or
// uint8 with numpy matmul shapes (kernels/matmul_plan.hpp). a_zero_point is one value or one per
// row of A, b_zero_point one value or one per column of B. This is what ONNX Runtime's dynamic
// quantization writes for every MatMul (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul).
//
// Exact integer arithmetic: products of 9-bit differences summed in int32 (exact for K up to
// 2^15 = 32768 rows of B; larger K is refused). A constant B has its zero point subtracted once
// at plan time, into int16.
#include <memory>
#include <string>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/matmul_plan.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

// |a - za| <= 255 and |b - zb| <= 255: K products of at most 65025 stay below 2^31 for K < 33025.
constexpr int64_t kMaxK = 32768;

template <typename TA, typename TB>
class MatMulIntegerKernel final : public Kernel {
 public:
  MatMulPlan p;
  bool a_zp_per_row = false, b_zp_per_column = false;
  std::vector<int16_t> shifted_b;  // B - b_zero_point when both are constant (else empty)

  void run(const KernelRun& r) const override {
    const TA* a = r.in(0).as<const TA>();
    const TB* b = r.in(1).as<const TB>();
    const TA* za = r.num_inputs > 2 ? r.in(2).as<const TA>() : nullptr;
    const TB* zb = r.num_inputs > 3 ? r.in(3).as<const TB>() : nullptr;
    int32_t* y = r.out(0).as<int32_t>();
    const int64_t m = p.m, n = p.n, k = p.k;
    parallel_for(p.batch * m, n * k, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t t = row / m, i = row % m;
        const int64_t a_mat = p.a_offset.empty() ? t : p.a_offset[static_cast<size_t>(t)];
        const int64_t b_mat = p.b_offset.empty() ? 0 : p.b_offset[static_cast<size_t>(t)];
        const TA* a_row = a + (a_mat * m + i) * k;
        const int32_t a_zero = za ? static_cast<int32_t>(za[a_zp_per_row ? i : 0]) : 0;
        int32_t* y_row = y + row * n;
        for (int64_t j = 0; j < n; ++j) y_row[j] = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const int32_t av = static_cast<int32_t>(a_row[kk]) - a_zero;
          if (av == 0) continue;
          if (!shifted_b.empty()) {
            const int16_t* b_row = shifted_b.data() + kk * n;
            for (int64_t j = 0; j < n; ++j) y_row[j] += av * static_cast<int32_t>(b_row[j]);
            continue;
          }
          const TB* b_row = b + (b_mat * k + kk) * n;
          if (zb && b_zp_per_column) {
            for (int64_t j = 0; j < n; ++j)
              y_row[j] += av * (static_cast<int32_t>(b_row[j]) - static_cast<int32_t>(zb[j]));
          } else {
            const int32_t b_zero = zb ? static_cast<int32_t>(zb[0]) : 0;
            for (int64_t j = 0; j < n; ++j)
              y_row[j] += av * (static_cast<int32_t>(b_row[j]) - b_zero);
          }
        }
      }
    });
  }
  const char* name() const override { return "matmul_integer"; }
};

bool is_8bit(DataType t) { return t == DataType::kInt8 || t == DataType::kUint8; }

Result<std::unique_ptr<Kernel>> make_matmul_integer(PrepareContext& ctx) {
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.invalid("expects inputs A and B");
  }
  const DataType at = ctx.input(0).dtype, bt = ctx.input(1).dtype;
  if (!is_8bit(at) || !is_8bit(bt)) {
    return ctx.invalid("A is " + dtype_name(at) + " and B " + dtype_name(bt) +
                       ": both must be int8 or uint8");
  }
  MatMulPlan plan;
  KEEL_ASSIGN_OR_RETURN(Shape out, plan_matmul(ctx, plan));
  if (plan.k > kMaxK) {
    return ctx.unsupported_case("K = " + std::to_string(plan.k) +
                                " could overflow the int32 sums (at most " + std::to_string(kMaxK) +
                                ")");
  }
  // Zero points: one value, or one per row of A / column of B.
  bool a_per_row = false, b_per_column = false;
  for (size_t z = 2; z < 4; ++z) {
    if (!ctx.has_input(z)) continue;
    const InputInfo& in = ctx.input(z);
    const DataType want = z == 2 ? at : bt;
    if (in.dtype != want) {
      return ctx.invalid(std::string(z == 2 ? "a" : "b") + "_zero_point is " +
                         dtype_name(in.dtype) + ", its operand " + dtype_name(want));
    }
    const int64_t count = numel(in.shape);
    const int64_t per = z == 2 ? plan.m : plan.n;
    if (count == 1 && in.shape.size() <= 1) continue;
    if (in.shape.size() == 1 && count == per) {
      (z == 2 ? a_per_row : b_per_column) = true;
      continue;
    }
    return ctx.unsupported_case(std::string(z == 2 ? "a" : "b") + "_zero_point of shape " +
                                shape_to_string(in.shape) + " (supported: one value, or one per " +
                                (z == 2 ? "row of A)" : "column of B)"));
  }
  ctx.set_output(0, DataType::kInt32, out);
  // Batches are always addressed through offsets unless A's batches are the output's and B has
  // none (then offsets are the batch index and 0).
  const bool simple = numel(plan.b_batch) == 1 && numel(plan.a_batch) == plan.batch;
  if (!simple) plan.compute_offsets();
  std::unique_ptr<Kernel> kernel;
  auto make = [&]<typename TA, typename TB>() -> Status {
    auto k = std::make_unique<MatMulIntegerKernel<TA, TB>>();
    k->p = plan;
    k->a_zp_per_row = a_per_row;
    k->b_zp_per_column = b_per_column;
    const Tensor* b_value = ctx.input(1).value;
    const Tensor* zb_value = ctx.has_input(3) ? ctx.input(3).value : nullptr;
    if (b_value && simple && (!ctx.has_input(3) || zb_value)) {
      const TB* b = b_value->data_as<TB>();
      const TB* zb = zb_value ? zb_value->data_as<TB>() : nullptr;
      k->shifted_b.resize(static_cast<size_t>(plan.k * plan.n));
      for (int64_t kk = 0; kk < plan.k; ++kk)
        for (int64_t j = 0; j < plan.n; ++j) {
          const int32_t z = zb ? static_cast<int32_t>(zb[b_per_column ? j : 0]) : 0;
          k->shifted_b[static_cast<size_t>(kk * plan.n + j)] =
              static_cast<int16_t>(static_cast<int32_t>(b[kk * plan.n + j]) - z);
        }
    }
    kernel = std::move(k);
    return Status::ok();
  };
  Status st = Status::ok();
  if (at == DataType::kUint8 && bt == DataType::kUint8)
    st = make.template operator()<uint8_t, uint8_t>();
  if (at == DataType::kUint8 && bt == DataType::kInt8)
    st = make.template operator()<uint8_t, int8_t>();
  if (at == DataType::kInt8 && bt == DataType::kUint8)
    st = make.template operator()<int8_t, uint8_t>();
  if (at == DataType::kInt8 && bt == DataType::kInt8)
    st = make.template operator()<int8_t, int8_t>();
  KEEL_RETURN_IF_ERROR(st);
  return kernel;
}

}  // namespace

void register_matmul_integer_kernels(KernelRegistry& r) {
  r.add("MatMulInteger", &make_matmul_integer, 10);
}

}  // namespace keel
