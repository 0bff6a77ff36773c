// oneDNN (libdnnl-dev, 2.x) on the same shapes as keel: batch_normalization forward inference
// with use_global_stats | use_scale | use_shift (NCHW and NHWC memory formats) and
// layer_normalization forward inference with scale and shift. Compiled only when CMake found
// oneDNN (KEEL_BENCH_DNNL). Debian's oneDNN uses OpenMP: threads via omp_set_num_threads.
#include <dnnl.hpp>

#include "bench_common.hpp"

extern "C" void omp_set_num_threads(int);

namespace keel::bench {
namespace {

using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;

memory channel_memory(const dnnl::engine& eng, int64_t c, float value) {
  memory m(memory::desc({c}, memory::data_type::f32, memory::format_tag::x), eng);
  auto* p = static_cast<float*>(m.get_data_handle());
  for (int64_t i = 0; i < c; ++i) p[i] = value + 0.001f * static_cast<float>(i % 7);
  return m;
}

void bm_dnnl_batchnorm(benchmark::State& st, NormShape s, bool nhwc, int threads) {
  omp_set_num_threads(threads);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const memory::desc md({s.n, s.c, s.h, s.w}, memory::data_type::f32,
                        nhwc ? memory::format_tag::nhwc : memory::format_tag::nchw);
  const auto flags = normalization_flags::use_global_stats | normalization_flags::use_scale |
                     normalization_flags::use_shift;
  const dnnl::batch_normalization_forward::primitive_desc pd(
      dnnl::batch_normalization_forward::desc(prop_kind::forward_inference, md, 1e-5f, flags), eng);
  const dnnl::batch_normalization_forward prim(pd);
  Floats x(s.numel(), 1), y(s.numel(), 2);
  memory src(md, eng, x.data()), dst(md, eng, y.data());
  memory mean = channel_memory(eng, s.c, 0.1f), var = channel_memory(eng, s.c, 1.0f);
  memory scale = channel_memory(eng, s.c, 1.0f), shift = channel_memory(eng, s.c, 0.2f);
  const std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},     {DNNL_ARG_DST, dst},
                                                {DNNL_ARG_MEAN, mean},   {DNNL_ARG_VARIANCE, var},
                                                {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}};
  for (auto _ : st) {
    prim.execute(strm, args);
    strm.wait();
  }
  set_rates(st, s.numel(), 2 * s.numel() * static_cast<int64_t>(sizeof(float)));
  st.SetLabel(pd.impl_info_str());
}

void bm_dnnl_layernorm(benchmark::State& st, RowShape s, int threads) {
  omp_set_num_threads(threads);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  const memory::desc md({s.rows, s.len}, memory::data_type::f32, memory::format_tag::ab);
  const auto flags = normalization_flags::use_scale | normalization_flags::use_shift;
  const dnnl::layer_normalization_forward::primitive_desc pd(
      dnnl::layer_normalization_forward::desc(prop_kind::forward_inference, md, 1e-5f, flags), eng);
  const dnnl::layer_normalization_forward prim(pd);
  const int64_t n = s.rows * s.len;
  Floats x(n, 1), y(n, 2);
  memory src(md, eng, x.data()), dst(md, eng, y.data());
  memory scale = channel_memory(eng, s.len, 1.0f), shift = channel_memory(eng, s.len, 0.2f);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCALE, scale}, {DNNL_ARG_SHIFT, shift}};
  if (pd.mean_desc().get_size() > 0) args.insert({DNNL_ARG_MEAN, memory(pd.mean_desc(), eng)});
  if (pd.variance_desc().get_size() > 0) {
    args.insert({DNNL_ARG_VARIANCE, memory(pd.variance_desc(), eng)});
  }
  for (auto _ : st) {
    prim.execute(strm, args);
    strm.wait();
  }
  set_rates(st, n, 2 * n * static_cast<int64_t>(sizeof(float)));
  st.SetLabel(pd.impl_info_str());
}

}  // namespace

void register_dnnl_benchmarks() {
  for (int t : {1, 2}) {
    const std::string ts = "/t" + std::to_string(t);
    for (bool nhwc : {false, true}) {
      for (const NormShape& s : bn_shapes()) {
        const std::string name =
            std::string("dnnl/batchnorm/") + (nhwc ? "nhwc/" : "nchw/") + s.text() + ts;
        benchmark::RegisterBenchmark(
            name.c_str(), [=](benchmark::State& st) { bm_dnnl_batchnorm(st, s, nhwc, t); })
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
    for (const RowShape& s : row_shapes()) {
      const std::string name = "dnnl/layernorm/rows/" + s.text() + ts;
      benchmark::RegisterBenchmark(name.c_str(),
                                   [=](benchmark::State& st) { bm_dnnl_layernorm(st, s, t); })
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace keel::bench
