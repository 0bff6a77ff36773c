// bench_conv: keel's SGEMM core and its convolutions on layers of real models, as GFLOP/s and as
// % of the machine's FMA peak (the probe's loop for the active ISA, run again after each
// benchmark; 2 threads are measured against twice the single-core peak). Depthwise layers
// also report the bytes they must move (input, output, weights) as bytes_per_second.
// Names: gemm/<M>x<N>x<K>/t<threads>, conv/<layout>/<layer>/t<threads>; the label is the
// kernel that ran. Layouts: nchw, nhwc, and nchw_in (NHWC output from the model's NCHW image,
// read in place: how a model's stem runs; layers of at most 4 input channels), and nhwc_direct
// (Winograd off) beside nhwc for the layers that run as Winograd F(2x2, 3x3). The convolutions run
// through the kernel registry exactly as in a model (tests/support/prepared_op.hpp), with weights
// constant and packed at prepare time. KEEL_MAX_ISA caps the ISA, as everywhere.
#include <memory>

#include "bench_common.hpp"
#include "kernels/conv/conv_implementation.hpp"
#include "machine_limits.hpp"  // tools/keel: the bf16 peak probe
#include "support/prepared_op.hpp"
#include "ukernels/bf16_gemm.hpp"
#include "ukernels/sgemm.hpp"

namespace keel::bench {
namespace {

double g_peak = 0.0;  // FLOP/s of one core, active ISA, at start

// Counters every benchmark sets: the FLOP rate and its share of the peak of `threads` cores,
// the peak probed again right after the timed loop (the machine is shared: a peak measured
// once at start drifts with other tenants' load), and that peak itself.
void set_flop_counters(benchmark::State& st, double flops_per_iter, int threads) {
  const double peak = fma_peak_flops(active_isa());
  st.counters["peak_GFLOPs"] = peak * 1e-9;
  st.counters["GFLOPs"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["pct_peak"] = benchmark::Counter(flops_per_iter * 100.0 / (peak * threads),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void bm_gemm(benchmark::State& st, int64_t m, int64_t n, int64_t k, int threads) {
  Floats a(m * k, 1), b(k * n, 2), c(m * n, 3);
  SgemmPackedB packed;
  if (!packed.pack(k, n, b.data(), n, false)) {
    st.SkipWithError("out of memory packing B");
    return;
  }
  tbb::task_arena arena(threads);
  for (auto _ : st) {
    arena.execute([&] { sgemm_packed_b(m, a.data(), k, false, packed, c.data(), n, {}); });
    benchmark::ClobberMemory();
  }
  set_flop_counters(st, 2.0 * static_cast<double>(m * n * k), threads);
  st.SetLabel(sgemm_ukernel_name(packed.ukernels()));
}

// The bfloat16 GEMM on the active tier (AMX, vdpbf16ps or emulated), B packed once, A's rows
// rounded per call as a 1x1 convolution's are. Its % of peak is against the float32 FMA probe
// (bf16_peak_GFLOPs gives the tier's own).
void bm_bf16_gemm(benchmark::State& st, int64_t m, int64_t n, int64_t k, int threads) {
  Floats a(m * k, 1), b(k * n, 2), c(m * n, 3);
  Bf16PackedB packed;
  if (!packed.pack(k, n, b.data(), n, false)) {
    st.SkipWithError("out of memory packing B");
    return;
  }
  tbb::task_arena arena(threads);
  for (auto _ : st) {
    arena.execute([&] { bf16_gemm_packed_b(m, a.data(), k, packed, c.data(), n, {}); });
    benchmark::ClobberMemory();
  }
  set_flop_counters(st, 2.0 * static_cast<double>(m * n * k), threads);
  st.counters["bf16_peak_GFLOPs"] = measure_bf16_peak(threads) * 1e-9;
  st.SetLabel(bf16_gemm_ukernel_name(packed.ukernels()));
}

// A classifier GEMV (1 x K times packed K x N) whose weights come from memory, as in a model
// where the layers before evicted them: the call cycles through enough copies of B to
// overflow the last-level cache. Reports the weight bytes read per second.
void bm_gemv_cold(benchmark::State& st, int64_t n, int64_t k, int threads) {
  constexpr int kCopies = 24;  // 24 x 4 MB for 1024 x 1000: well past a 32 MB L3
  Floats a(k, 1), b(k * n, 2), c(n, 3);
  std::vector<SgemmPackedB> packed(kCopies);
  for (SgemmPackedB& p : packed) {
    if (!p.pack(k, n, b.data(), n, false)) {
      st.SkipWithError("out of memory packing B");
      return;
    }
  }
  tbb::task_arena arena(threads);
  size_t i = 0;
  for (auto _ : st) {
    const SgemmPackedB& p = packed[i++ % kCopies];
    arena.execute([&] { sgemm_packed_b(1, a.data(), k, false, p, c.data(), n, {}); });
    benchmark::ClobberMemory();
  }
  set_flop_counters(st, 2.0 * static_cast<double>(n * k), threads);
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * n * k * 4);
  st.SetLabel(sgemm_ukernel_name(packed[0].ukernels()));
}

struct ConvLayer {
  const char* name;
  int64_t c, m, h, w, k, stride, group;
  ActKind act = ActKind::kNone;  // a fused activation (EfficientNet's SiLU), as the passes set it
};

// Batch 1, 224x224 models. Pads keep "same" size (k/2).
const std::vector<ConvLayer>& conv_layers() {
  static const std::vector<ConvLayer> layers = {
      {"resnet50_stem_7x7s2", 3, 64, 224, 224, 7, 2, 1},
      {"mobilenetv3_stem_3x3s2", 3, 16, 224, 224, 3, 2, 1},
      {"regnet_stem_3x3s2", 3, 32, 224, 224, 3, 2, 1},
      {"efficientnet_stem_3x3s2_silu", 3, 32, 224, 224, 3, 2, 1, ActKind::kSilu},
      {"resnet50_1x1_64to256_56", 64, 256, 56, 56, 1, 1, 1},
      {"mobilenetv3_1x1_16to72_56", 16, 72, 56, 56, 1, 1, 1},
      {"mobilenetv2_1x1_16to96_112", 16, 96, 112, 112, 1, 1, 1},
      // The same with EfficientNet's SiLU in the epilogue: what the activation costs.
      {"efficientnet_1x1_16to96_112_silu", 16, 96, 112, 112, 1, 1, 1, ActKind::kSilu},
      {"regnet_1x1_32to48_112", 32, 48, 112, 112, 1, 1, 1},
      {"resnet50_1x1_256to64_56", 256, 64, 56, 56, 1, 1, 1},
      {"mobilenetv2_1x1_144to24_56", 144, 24, 56, 56, 1, 1, 1},
      {"mobilenetv2_1x1_192to32_28", 192, 32, 28, 28, 1, 1, 1},
      {"resnet50_3x3_64_56", 64, 64, 56, 56, 3, 1, 1},
      {"resnet50_3x3_128s2_56", 128, 128, 56, 56, 3, 2, 1},
      {"resnet18_3x3_128_28", 128, 128, 28, 28, 3, 1, 1},
      {"resnet50_3x3_256_14", 256, 256, 14, 14, 3, 1, 1},
      {"resnet50_1x1_512to2048_7", 512, 2048, 7, 7, 1, 1, 1},
      {"resnet18_3x3_512_7", 512, 512, 7, 7, 3, 1, 1},
      {"densenet_3x3_128to32_56", 128, 32, 56, 56, 3, 1, 1},
      {"densenet_3x3_128to32_28", 128, 32, 28, 28, 3, 1, 1},
      {"densenet_3x3_128to32_14", 128, 32, 14, 14, 3, 1, 1},
      {"densenet_3x3_128to32_7", 128, 32, 7, 7, 3, 1, 1},
      {"mobilenetv2_dw3x3_144_56", 144, 144, 56, 56, 3, 1, 144},
      {"mobilenetv2_dw3x3s2_96_112", 96, 96, 112, 112, 3, 2, 96},
      {"mobilenetv2_dw3x3_960_7", 960, 960, 7, 7, 3, 1, 960},
      {"efficientnet_dw5x5_240_28", 240, 240, 28, 28, 5, 1, 240},
      {"efficientnet_dw5x5_1152_7_silu", 1152, 1152, 7, 7, 5, 1, 1152, ActKind::kSilu},
      {"regnet_g8_3x3_48_56", 48, 48, 56, 56, 3, 1, 6},
      {"regnet_g8_3x3_208_14", 208, 208, 14, 14, 3, 1, 26},
  };
  return layers;
}

std::vector<float> random_values(int64_t n, uint32_t seed) {
  Floats f(n, seed);
  return std::vector<float>(f.data(), f.data() + n);
}

// How a layer's activations are stored; every 2-D layer also runs as NCHW X read in place by an
// NHWC conv (kNchwIn) when it has few input channels, as a stem on an RGB image does.
enum class ConvLayout { kNchw, kNhwc, kNchwIn };

const char* conv_layout_name(ConvLayout layout) {
  switch (layout) {
    case ConvLayout::kNchw: return "nchw";
    case ConvLayout::kNhwc: return "nhwc";
    case ConvLayout::kNchwIn: break;
  }
  return "nchw_in";
}

// The layer as one op call; `implementation` forces an entry of the Conv implementation list
// (kernels/conv/conv_implementation.hpp), "" takes the list's choice.
testing::OpCall conv_call(const ConvLayer& l, ConvLayout layout, int threads,
                          const std::string& implementation) {
  const bool nhwc = layout == ConvLayout::kNhwc;
  const int64_t pad = l.k / 2;
  const int64_t cg = l.c / l.group;
  testing::OpCall call;
  call.op_type = "Conv";
  call.threads = threads;
  call.attributes["kernel_shape"] = Attribute::of_ints({l.k, l.k});
  call.attributes["strides"] = Attribute::of_ints({l.stride, l.stride});
  call.attributes["pads"] = Attribute::of_ints({pad, pad, pad, pad});
  call.attributes["group"] = Attribute::of_int(l.group);
  if (layout != ConvLayout::kNchw) call.decisions.layout = Layout::kNhwc;
  if (layout == ConvLayout::kNchwIn) {
    call.decisions.has_input_layout = true;
    call.decisions.input_layout = Layout::kNchw;
  }
  call.options.conv_implementation = implementation;
  // The bfloat16 entry runs only nodes choose_precision marked.
  if (implementation == "conv_nhwc_bf16") call.decisions.precision = Precision::kBf16;
  if (l.act != ActKind::kNone) {
    testing::use_fused_kind(call);
    call.decisions.activation.kind = l.act;
  }
  const Shape x_shape = nhwc ? Shape{1, l.h, l.w, l.c} : Shape{1, l.c, l.h, l.w};
  call.inputs.push_back({Tensor::from_vector(x_shape, random_values(l.c * l.h * l.w, 1)), false});
  call.inputs.push_back(
      {Tensor::from_vector(Shape{l.m, cg, l.k, l.k}, random_values(l.m * cg * l.k * l.k, 2)),
       true});
  call.inputs.push_back({Tensor::from_vector(Shape{l.m}, random_values(l.m, 3)), true});
  return call;
}

void bm_conv(benchmark::State& st, ConvLayer l, ConvLayout layout, int threads,
             const std::string& implementation) {
  const int64_t pad = l.k / 2;
  const int64_t oh = (l.h + 2 * pad - l.k) / l.stride + 1;
  const int64_t ow = (l.w + 2 * pad - l.k) / l.stride + 1;
  const int64_t cg = l.c / l.group;
  auto op = testing::PreparedOp::prepare(conv_call(l, layout, threads, implementation));
  if (!op.is_ok()) {
    st.SkipWithError(op.status().message().c_str());
    return;
  }
  if (const Status first = (*op)->run(); !first.is_ok()) {
    st.SkipWithError(first.to_string().c_str());
    return;
  }
  for (auto _ : st) {
    static_cast<void>((*op)->run());  // the same inputs: it succeeded above
    benchmark::ClobberMemory();
  }
  const double macs = static_cast<double>(oh * ow * l.m * cg * l.k * l.k);
  set_flop_counters(st, 2.0 * macs, threads);
  if (l.group == l.c) {
    const int64_t bytes = (l.c * l.h * l.w + l.m * oh * ow + l.m * l.k * l.k + l.m) * 4;
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * bytes);
  }
  st.SetLabel((*op)->kernel_name());
}

// The NHWC entries of the list that accept the layer besides the one the list chooses: each
// gets rows of its own (conv/<entry>/<layer>/t<n>), so a choice can be checked against the
// alternatives it declined or came before.
std::vector<std::string> alternative_implementations(const ConvLayer& l) {
  std::vector<std::string> names;
  auto chosen = testing::PreparedOp::prepare(conv_call(l, ConvLayout::kNhwc, 1, ""));
  if (!chosen.is_ok()) return names;
  for (const ConvImplementation* impl : conv_implementations()) {
    if (impl->name == std::string((*chosen)->kernel_name())) continue;
    if (testing::PreparedOp::prepare(conv_call(l, ConvLayout::kNhwc, 1, impl->name)).is_ok()) {
      names.push_back(impl->name);
    }
  }
  return names;
}

void register_benchmarks() {
  struct GemmShape {
    int64_t m, n, k;
  };
  for (GemmShape s : {GemmShape{1024, 1024, 1024}, GemmShape{3136, 64, 576},
                      GemmShape{196, 1024, 256}, GemmShape{1, 1000, 1280}}) {
    for (int t : {1, 2}) {
      const std::string name = "gemm/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                               std::to_string(s.k) + "/t" + std::to_string(t);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [s, t](benchmark::State& st) { bm_gemm(st, s.m, s.n, s.k, t); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark(
          ("bf16_" + name).c_str(),
          [s, t](benchmark::State& st) { bm_bf16_gemm(st, s.m, s.n, s.k, t); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int t : {1, 2}) {
    const std::string name = "gemv_cold/1x1000x1024/t" + std::to_string(t);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [t](benchmark::State& st) { bm_gemv_cold(st, 1000, 1024, t); })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
  for (const ConvLayer& l : conv_layers()) {
    for (ConvLayout layout : {ConvLayout::kNhwc, ConvLayout::kNchwIn, ConvLayout::kNchw}) {
      if (layout == ConvLayout::kNchwIn && l.c > 4) continue;
      for (int t : {1, 2}) {
        if (layout == ConvLayout::kNchw && t == 2) continue;  // the single-thread reference only
        const std::string name = std::string("conv/") + conv_layout_name(layout) + "/" + l.name +
                                 "/t" + std::to_string(t);
        benchmark::RegisterBenchmark(
            name.c_str(), [l, layout, t](benchmark::State& st) { bm_conv(st, l, layout, t, ""); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
    for (const std::string& impl : alternative_implementations(l)) {
      for (int t : {1, 2}) {
        const std::string name = "conv/" + impl + "/" + l.name + "/t" + std::to_string(t);
        benchmark::RegisterBenchmark(
            name.c_str(),
            [l, impl, t](benchmark::State& st) { bm_conv(st, l, ConvLayout::kNhwc, t, impl); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace keel::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const keel::Isa isa = keel::active_isa();
  keel::bench::g_peak = keel::bench::fma_peak_flops(isa);
  benchmark::AddCustomContext("isa", keel::isa_name(isa));
  benchmark::AddCustomContext("fma_peak_gflops_per_core",
                              std::to_string(keel::bench::g_peak * 1e-9));
  keel::bench::register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
