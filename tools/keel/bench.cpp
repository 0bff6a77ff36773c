// keel bench: load, plan and time a model the way benchmark_app and onnxruntime_perf_test do,
// optionally with a per-step profile written as Chrome trace-event JSON.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "commands.hpp"
#include "core/cpu_features.hpp"
#include "graph/fused_ops.hpp"  // operand roles of the fused kinds, for FLOP counts
#include "machine_limits.hpp"

namespace keel::tools {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

void add_bench_options(CLI::App& app, BenchArgs& args) {
  app.add_option("model", args.model, "model.onnx, or a model folder (model.onnx, inputs/)")
      ->required();
  app.add_option("--threads", args.threads, "threads of the session (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", args.batch, "size of a dynamic first (batch) dimension of every input")
      ->check(CLI::PositiveNumber);
  app.add_option("--shape", args.shapes,
                 "NAME=1,3,224,224 for inputs with dynamic dims (repeatable)");
  app.add_option("--seed", args.seed, "seed for random inputs");
  app.add_option("-i,--input", args.inputs,
                 "NAME=FILE.npy (repeatable); the folder's inputs/ or random data otherwise");
  CLI::Option* iterations = app.add_option("--iterations", args.iterations,
                                           "timed runs (in all, over every concurrent stream)")
                                ->check(CLI::PositiveNumber);
  CLI::Option* time = app.add_option("--time", args.time_s, "run for this many seconds (default 5)")
                          ->check(CLI::PositiveNumber);
  iterations->excludes(time);
  app.add_option("--warmup", args.warmup, "untimed runs after the first inference")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--concurrency", args.concurrency, "runs in flight at once on one shared session")
      ->check(CLI::PositiveNumber);
  add_layout_options(app, args.layouts);
  app.add_flag("--no-fold", args.no_fold,
               "keep BatchNorm and friends as separate nodes, no fusions");
  app.add_option("--json", args.json_path, "write the figures as JSON to FILE");
  app.add_option("--profile", args.profile_path,
                 "write a Chrome trace-event JSON profile of the timed runs to FILE and print the "
                 "top operators");
}

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string typed_shape(DataType dtype, const std::vector<int64_t>& shape) {
  return dtype_name(dtype) + shape_to_string(Shape(shape.begin(), shape.end()));
}

int64_t product(const std::vector<int64_t>& dims, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < dims.size(); ++i) p *= dims[i];
  return p;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t idx =
      static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(sorted.size()))) - 1;
  return sorted[idx];
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Shape overrides for --batch: every input whose first dim is dynamic gets B there (other
// dynamic dims 1), unless --shape names it.
Result<std::vector<std::string>> batch_shapes(const Model& model, const BenchArgs& args) {
  std::vector<std::string> shapes = args.shapes;
  if (args.batch <= 0) return shapes;
  std::set<std::string> named;
  for (const std::string& s : args.shapes) named.insert(s.substr(0, s.find('=')));
  for (const IoInfo& in : model.inputs()) {
    if (named.count(in.name) || !in.rank_known || in.shape.empty()) continue;
    if (in.shape[0] >= 0) {
      if (in.shape[0] != args.batch) {
        return invalid_argument("--batch " + std::to_string(args.batch) + ": input '" + in.name +
                                "' has a fixed first dimension of " + std::to_string(in.shape[0]));
      }
      continue;
    }
    std::string s = in.name + "=" + std::to_string(args.batch);
    for (size_t d = 1; d < in.shape.size(); ++d)
      s += "," + std::to_string(in.shape[d] < 0 ? 1 : in.shape[d]);
    shapes.push_back(s);
  }
  return shapes;
}

// --batch with inputs read from files: a batch-1 tensor is repeated B times along dim 0.
Status apply_batch(const Model& model, const BenchArgs& args, std::vector<NamedTensor>& feeds) {
  if (args.batch <= 0) return Status::ok();
  for (NamedTensor& f : feeds) {
    const IoInfo* info = nullptr;
    for (const IoInfo& in : model.inputs()) {
      if (in.name == f.name) info = &in;
    }
    if (!info || !info->rank_known || info->shape.empty() || info->shape[0] >= 0) continue;
    const Shape& shape = f.tensor.shape();
    if (shape.empty() || shape[0] == args.batch) continue;
    if (shape[0] != 1) {
      return invalid_argument("--batch " + std::to_string(args.batch) + ": input '" + f.name +
                              "' read from a file has " + shape_to_string(shape) +
                              "; give a batch-1 or batch-" + std::to_string(args.batch) + " file");
    }
    Shape batched = shape;
    batched[0] = args.batch;
    KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(f.tensor.dtype(), batched));
    const size_t bytes = f.tensor.nbytes();
    for (int64_t b = 0; b < args.batch; ++b) {
      if (bytes)
        std::memcpy(static_cast<std::byte*>(t.data()) + static_cast<size_t>(b) * bytes,
                    f.tensor.data(), bytes);
    }
    f.tensor = std::move(t);
  }
  return Status::ok();
}

// Work of one step for the profile's rate column: floating-point operations for the
// multiply-accumulate ops (2 per MAC, from the shapes), bytes moved otherwise.
struct StepWork {
  double flops = 0;   // > 0 for Conv, Gemm, MatMul
  double bytes = 0;   // inputs + outputs
  bool bf16 = false;  // a bfloat16 kernel: its rate is against the bf16 peak
};

StepWork step_work(const StepInfo& s) {
  StepWork w;
  for (size_t i = 0; i < s.input_shapes.size(); ++i) {
    if (s.input_dtypes[i] != DataType::kUndefined) {
      w.bytes += static_cast<double>(product(s.input_shapes[i])) *
                 static_cast<double>(dtype_size(s.input_dtypes[i]));
    }
  }
  for (size_t i = 0; i < s.output_shapes.size(); ++i) {
    if (s.output_dtypes[i] != DataType::kUndefined) {
      w.bytes += static_cast<double>(product(s.output_shapes[i])) *
                 static_cast<double>(dtype_size(s.output_dtypes[i]));
    }
  }
  if (s.output_shapes.empty() || s.input_shapes.size() < 2) return w;
  const std::vector<int64_t>& out = s.output_shapes[0];
  // X / A and W / B: the first two operands of Conv, Gemm and MatMul and of their fused kinds.
  const std::vector<int64_t>& a = s.input_shapes[ConvOperand::kX];
  const std::vector<int64_t>& b = s.input_shapes[ConvOperand::kW];
  double macs = 0;
  if (s.op_type == "Conv" && b.size() >= 2) {
    // Each output element sums (C_in / group) * kernel taps: the weight's dims after the first.
    macs = static_cast<double>(product(out)) * static_cast<double>(product(b, 1));
  } else if (s.op_type == "Gemm" && out.size() == 2 && out[0] > 0) {
    macs = static_cast<double>(product(out)) *
           static_cast<double>(product(a) / out[0]);  // A is M x K or K x M
  } else if (s.op_type == "MatMul" && !a.empty()) {
    macs = static_cast<double>(product(out)) * static_cast<double>(a.back());
  }
  // A depthwise FusedConv carrying its 1x1 expansion (kernels/conv/expand_depthwise.cpp): the
  // expansion's W is [C, C_in, 1, 1], X its input, so it adds X's elements times C.
  constexpr size_t kExpandW = ConvOperand::kExpandW;
  if (s.op_type == "Conv" && s.input_shapes.size() > kExpandW &&
      s.input_dtypes[kExpandW] != DataType::kUndefined && !s.input_shapes[kExpandW].empty()) {
    macs += static_cast<double>(product(a)) * static_cast<double>(s.input_shapes[kExpandW][0]);
  }
  w.flops = 2 * macs;
  w.bf16 = s.kernel.find("bf16") != std::string::npos;
  return w;
}

// What each stream (concurrent caller) records.
struct Stream {
  std::vector<double> latencies_ms;
  std::vector<StepTiming> timings;  // profile: steps of every run, in order
  std::vector<size_t> run_begin;    // index in `timings` where each run starts
};

struct OpTotal {
  std::string key;
  std::string kernel;
  std::string dispatch;  // StepInfo::dispatch
  int64_t calls = 0;
  double ns = 0;
  StepWork work;
};

// A step's rate and its share of the machine's limit for that kind of work: the FMA peak for
// steps that count floating-point operations, the streaming bandwidth for the others (a step
// whose data sits in cache can pass 100% of the latter).
double pct_of_limit(const StepWork& work, double ns, const MachineLimits& lim) {
  const double peak = work.bf16 ? lim.bf16_flops_per_s : lim.flops_per_s;
  if (work.flops > 0) return peak > 0 ? 100.0 * work.flops / ns / (peak * 1e-9) : 0.0;
  return lim.bytes_per_s > 0 ? 100.0 * work.bytes / ns / (lim.bytes_per_s * 1e-9) : 0.0;
}

std::string rate_text(const StepWork& work, double ns, const MachineLimits& lim) {
  char buf[96];
  if (ns <= 0) return "";
  const double pct = pct_of_limit(work, ns, lim);
  if (work.flops > 0) {
    std::snprintf(buf, sizeof buf, "%.2f GFLOP/s (%.0f%% of %s peak)", work.flops / ns, pct,
                  work.bf16 ? "bf16" : "FMA");
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GB/s (%.0f%% of stream)", work.bytes / ns, pct);
  }
  return buf;
}

json rate_json(const StepWork& work, double ns, const MachineLimits& lim) {
  json j;
  if (ns <= 0) return j;
  const double pct = pct_of_limit(work, ns, lim);
  if (work.flops > 0) {
    j["gflops"] = work.flops / ns;
    j[work.bf16 ? "pct_of_bf16_peak" : "pct_of_fma_peak"] = pct;
  } else {
    j["gbps"] = work.bytes / ns;
    j["pct_of_stream"] = pct;
  }
  return j;
}

void print_top(const char* title, std::vector<OpTotal> totals, double all_ns, size_t runs,
               size_t top, const MachineLimits& lim) {
  std::sort(totals.begin(), totals.end(),
            [](const OpTotal& x, const OpTotal& y) { return x.ns > y.ns; });
  std::printf("%s\n", title);
  std::printf("  %-32s %7s %11s %7s %11s  %s\n", "name", "calls", "total ms", "share", "ms/run",
              "rate");
  for (size_t i = 0; i < std::min(top, totals.size()); ++i) {
    const OpTotal& t = totals[i];
    std::printf(
        "  %-32s %7lld %11.3f %6.1f%% %11.4f  %s\n", t.key.c_str(), static_cast<long long>(t.calls),
        t.ns * 1e-6, all_ns > 0 ? 100.0 * t.ns / all_ns : 0.0,
        runs ? t.ns * 1e-6 / static_cast<double>(runs) : 0.0, rate_text(t.work, t.ns, lim).c_str());
  }
}

// Why the slowest nodes run the implementation they run (the list walk of their factory).
void print_dispatch(std::vector<OpTotal> nodes, size_t top) {
  std::sort(nodes.begin(), nodes.end(),
            [](const OpTotal& x, const OpTotal& y) { return x.ns > y.ns; });
  bool header = false;
  for (size_t i = 0; i < std::min(top, nodes.size()); ++i) {
    if (nodes[i].dispatch.empty()) continue;
    if (!header) std::printf("Implementation choices of those nodes (KEEL_VERBOSE=dispatch):\n");
    header = true;
    std::printf("  %s: %s\n", nodes[i].key.c_str(), nodes[i].dispatch.c_str());
  }
}

// Writes the trace (streamed: a long run has many events) and prints/returns the summary.
Result<json> write_profile(const std::string& path, const std::vector<StepInfo>& steps,
                           const std::vector<Stream>& streams, Clock::time_point origin,
                           const std::string& layout, const json& meta, const MachineLimits& lim) {
  // The args object of each step is the same in every run: serialise it once.
  std::vector<std::string> step_args(steps.size()), step_names(steps.size());
  std::vector<StepWork> work(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepInfo& s = steps[i];
    json a;
    a["op_type"] = s.op_type;
    a["kernel"] = s.kernel;
    if (!s.dispatch.empty()) a["dispatch"] = s.dispatch;
    a["layout"] = layout;
    json ins = json::array(), outs = json::array();
    for (size_t k = 0; k < s.input_shapes.size(); ++k) {
      ins.push_back(s.input_dtypes[k] == DataType::kUndefined
                        ? ""
                        : typed_shape(s.input_dtypes[k], s.input_shapes[k]));
    }
    for (size_t k = 0; k < s.output_shapes.size(); ++k) {
      outs.push_back(s.output_dtypes[k] == DataType::kUndefined
                         ? ""
                         : typed_shape(s.output_dtypes[k], s.output_shapes[k]));
    }
    a["input_shapes"] = ins;
    a["output_shapes"] = outs;
    work[i] = step_work(s);
    if (work[i].flops > 0) a["flops"] = work[i].flops;
    a["bytes"] = work[i].bytes;
    std::string dumped = a.dump();
    dumped.pop_back();  // the run index is appended per event
    step_args[i] = std::move(dumped);
    step_names[i] = json(s.node_name.empty() ? s.op_type : s.node_name).dump();
  }

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f)
    return invalid_argument("--profile: cannot write '" + path + "': " + std::strerror(errno));
  const int64_t origin_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(origin.time_since_epoch()).count();
  std::fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":%s,\"traceEvents\":[",
               meta.dump().c_str());
  size_t events = 0, runs = 0;
  std::vector<double> step_ns(steps.size(), 0.0);
  std::vector<int64_t> step_calls(steps.size(), 0);
  for (size_t w = 0; w < streams.size(); ++w) {
    const Stream& st = streams[w];
    runs += st.run_begin.size();
    for (size_t r = 0; r < st.run_begin.size(); ++r) {
      const size_t b = st.run_begin[r];
      const size_t e = r + 1 < st.run_begin.size() ? st.run_begin[r + 1] : st.timings.size();
      for (size_t k = b; k < e; ++k) {
        const StepTiming& t = st.timings[k];
        const size_t si = static_cast<size_t>(t.step);
        step_ns[si] += static_cast<double>(t.end_ns - t.start_ns);
        ++step_calls[si];
        std::fprintf(f,
                     "%s\n{\"name\":%s,\"cat\":\"op\",\"ph\":\"X\",\"pid\":1,\"tid\":%zu,\"ts\":%."
                     "3f,\"dur\":%.3f,"
                     "\"args\":%s,\"run\":%zu,\"step\":%d}}",
                     events ? "," : "", step_names[si].c_str(), w + 1,
                     static_cast<double>(t.start_ns - origin_ns) * 1e-3,
                     static_cast<double>(t.end_ns - t.start_ns) * 1e-3, step_args[si].c_str(), r,
                     t.step);
        ++events;
      }
    }
  }
  std::fprintf(f, "\n]}\n");
  const bool ok = std::ferror(f) == 0;
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return invalid_argument("--profile: cannot write '" + path + "'");
  }

  // Totals per op type and per node.
  double all_ns = 0;
  std::map<std::string, OpTotal> by_op;
  std::vector<OpTotal> by_node;
  for (size_t i = 0; i < steps.size(); ++i) {
    all_ns += step_ns[i];
    const double calls = static_cast<double>(step_calls[i]);
    OpTotal& op = by_op[steps[i].op_type];
    op.key = steps[i].op_type;
    op.calls += step_calls[i];
    op.ns += step_ns[i];
    // An op type's total counts as bf16 when its first node with FLOPs is (the policy keeps
    // only a few nodes of a type float32; the per-node lines are exact).
    if (op.work.flops == 0 && work[i].flops > 0) op.work.bf16 = work[i].bf16;
    op.work.flops += work[i].flops * calls;
    op.work.bytes += work[i].bytes * calls;
    OpTotal node;
    node.key = (steps[i].node_name.empty() ? steps[i].op_type : steps[i].node_name);
    node.kernel = steps[i].kernel;
    node.dispatch = steps[i].dispatch;
    node.calls = step_calls[i];
    node.ns = step_ns[i];
    node.work = {work[i].flops * calls, work[i].bytes * calls, work[i].bf16};
    by_node.push_back(node);
  }
  std::vector<OpTotal> ops;
  for (auto& [k, v] : by_op) ops.push_back(v);
  std::sort(ops.begin(), ops.end(), [](const OpTotal& x, const OpTotal& y) { return x.ns > y.ns; });

  std::printf("Profile: %s\n", path.c_str());
  std::printf("Profile events: %zu\n", events);
  std::printf("Profile steps per run: %zu\n", steps.size());
  std::printf("Profile runs: %zu\n", runs);
  std::printf("Profile step time per run ms: %.4f\n",
              runs ? all_ns * 1e-6 / static_cast<double>(runs) : 0.0);
  std::printf("Machine FMA peak GFLOP/s: %.1f\n", lim.flops_per_s * 1e-9);
  std::printf("Machine bf16 peak GFLOP/s (%s): %.1f\n", bf16_tier_name(active_bf16_tier()),
              lim.bf16_flops_per_s * 1e-9);
  std::printf("Machine stream GB/s: %.1f\n", lim.bytes_per_s * 1e-9);
  print_top("Top operator types by total time:", ops, all_ns, runs, 15, lim);
  print_top("Top nodes by total time:", by_node, all_ns, runs, 10, lim);
  print_dispatch(by_node, 10);

  json j;
  j["file"] = path;
  j["events"] = events;
  j["runs"] = runs;
  j["steps_per_run"] = steps.size();
  j["step_time_per_run_ms"] = runs ? all_ns * 1e-6 / static_cast<double>(runs) : 0.0;
  j["fma_peak_gflops"] = lim.flops_per_s * 1e-9;
  j["bf16_peak_gflops"] = lim.bf16_flops_per_s * 1e-9;
  j["stream_gbps"] = lim.bytes_per_s * 1e-9;
  json jops = json::array();
  for (const OpTotal& t : ops) {
    json o;
    o["op_type"] = t.key;
    o["calls"] = t.calls;
    o["total_ms"] = t.ns * 1e-6;
    o["share"] = all_ns > 0 ? t.ns / all_ns : 0.0;
    o.update(rate_json(t.work, t.ns, lim));
    jops.push_back(o);
  }
  j["operators"] = jops;
  return j;
}

}  // namespace

Status bench_command(const BenchArgs& args) {
  const ModelPaths paths = resolve_model_paths(args.model);
  ModelOptions mopts;
  mopts.fold = !args.no_fold;
  mopts.runtime_fusions = !args.no_fold;
  KEEL_RETURN_IF_ERROR(apply_layout_flags(args.layouts, mopts));

  const Clock::time_point t_load = Clock::now();
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::load_file(paths.onnx, mopts));
  const Clock::time_point t_loaded = Clock::now();
  KEEL_ASSIGN_OR_RETURN(std::vector<std::string> shapes, batch_shapes(*model, args));
  KEEL_ASSIGN_OR_RETURN(std::vector<NamedTensor> feeds,
                        make_feeds(*model, args.inputs, shapes, paths.inputs_dir, args.seed,
                                   mopts.input_layout == Layout::kNhwc));
  KEEL_RETURN_IF_ERROR(apply_batch(*model, args, feeds));
  const Clock::time_point t_plan = Clock::now();
  SessionOptions sopts;
  sopts.threads = args.threads;
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, sopts));
  KEEL_RETURN_IF_ERROR(session->prepare(feeds));
  const Clock::time_point t_planned = Clock::now();
  { KEEL_ASSIGN_OR_RETURN(std::vector<Tensor> first, session->run(feeds)); }
  const Clock::time_point t_first = Clock::now();
  KEEL_ASSIGN_OR_RETURN(std::vector<StepInfo> steps, session->describe_plan(feeds));
  for (int i = 0; i < args.warmup; ++i) {
    KEEL_ASSIGN_OR_RETURN(std::vector<Tensor> out, session->run(feeds));
  }

  // Timed phase: `concurrency` streams share the session; each run's latency is recorded.
  const bool profile = !args.profile_path.empty();
  const bool by_time = args.iterations <= 0;
  const double time_s = args.time_s > 0 ? args.time_s : 5.0;
  const int concurrency = std::max(1, args.concurrency);
  std::vector<Stream> streams(static_cast<size_t>(concurrency));
  std::atomic<int64_t> claimed{0}, done{0};  // runs started (--iterations), runs finished
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  Status first_error;
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::atomic<int64_t> next_progress_ns{2'000'000'000};
  std::atomic<bool> progress_printed{false};

  const double cpu0 = cpu_seconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(time_s));
  auto stream_body = [&](Stream& st) {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      if (by_time) {
        if (Clock::now() >= deadline && done.load() > 0) return;  // at least one timed run
      } else if (claimed.fetch_add(1) >= args.iterations) {
        return;
      }
      const Clock::time_point a = Clock::now();
      Result<std::vector<Tensor>> out = Status::ok();
      if (profile) {
        st.run_begin.push_back(st.timings.size());
        out = session->run_profiled(feeds, &st.timings);
      } else {
        out = session->run(feeds);
      }
      const Clock::time_point b = Clock::now();
      if (!out.is_ok()) {
        std::lock_guard lock(error_mutex);
        if (!failed.exchange(true)) first_error = out.status();
        return;
      }
      st.latencies_ms.push_back(ms_between(a, b));
      const int64_t n = done.fetch_add(1) + 1;
      const int64_t elapsed_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(b - start).count();
      int64_t due = next_progress_ns.load();
      if (elapsed_ns >= due &&
          next_progress_ns.compare_exchange_strong(due, elapsed_ns + 1'000'000'000)) {
        if (by_time) {
          std::fprintf(stderr, "bench: %.1f s of %.1f s, %lld runs%s",
                       static_cast<double>(elapsed_ns) * 1e-9, time_s, static_cast<long long>(n),
                       tty ? "\r" : "\n");
        } else {
          std::fprintf(stderr, "bench: %.1f s, %lld of %lld runs%s",
                       static_cast<double>(elapsed_ns) * 1e-9, static_cast<long long>(n),
                       static_cast<long long>(args.iterations), tty ? "\r" : "\n");
        }
        progress_printed = true;
      }
    }
  };
  if (concurrency == 1) {
    stream_body(streams[0]);
  } else {
    std::vector<std::thread> threads;
    for (int c = 0; c < concurrency; ++c)
      threads.emplace_back([&, c] { stream_body(streams[static_cast<size_t>(c)]); });
    for (std::thread& t : threads) t.join();
  }
  const Clock::time_point end = Clock::now();
  const double cpu1 = cpu_seconds();
  if (progress_printed && tty) std::fprintf(stderr, "\n");
  if (failed) return first_error;

  std::vector<double> lat;
  for (const Stream& st : streams)
    lat.insert(lat.end(), st.latencies_ms.begin(), st.latencies_ms.end());
  std::sort(lat.begin(), lat.end());
  double sum = 0;
  for (double v : lat) sum += v;
  const double wall_s = std::chrono::duration<double>(end - start).count();
  const double mean = lat.empty() ? 0 : sum / static_cast<double>(lat.size());
  const double throughput = wall_s > 0 ? static_cast<double>(lat.size()) / wall_s : 0;
  const int threads = session->threads();
  const double cpu_util = wall_s > 0 ? (cpu1 - cpu0) / wall_s / threads : 0;
  const double overhead_us = session->parallel_overhead_us(2000);
  const double rss = peak_rss_mb();
  // The model's multiply-adds against the FMA peak at the p50 latency (the probe runs after the
  // timed runs, with the run's thread count).
  double model_flops = 0;
  for (const StepInfo& s : steps) model_flops += step_work(s).flops;
  const double fma_peak = measure_fma_peak(threads);
  const double p50_s = percentile(lat, 50) * 1e-3;
  const double pct_peak = p50_s > 0 && fma_peak > 0 ? 100.0 * model_flops / p50_s / fma_peak : 0;
  // Under bf16 the same multiply-adds against the bfloat16 tier's peak (AMX, vdpbf16ps, FMA).
  const bool bf16 = model->options().precision == Precision::kBf16;
  const double bf16_peak = bf16 ? measure_bf16_peak(threads) : 0;
  const double pct_bf16 = p50_s > 0 && bf16_peak > 0 ? 100.0 * model_flops / p50_s / bf16_peak : 0;

  json j;
  j["model"] = paths.onnx;
  j["keel_version"] = version();
  j["isa"] = isa_name(active_isa());
  j["threads"] = threads;
  j["concurrency"] = concurrency;
  j["layout"] = args.layouts.layout;
  j["fold"] = !args.no_fold;
  j["batch"] = args.batch > 0 ? json(args.batch) : json(nullptr);
  json jin = json::array();
  for (const NamedTensor& f : feeds) {
    jin.push_back(
        {{"name", f.name}, {"dtype", dtype_name(f.tensor.dtype())}, {"shape", f.tensor.shape()}});
  }
  j["inputs"] = jin;
  j["load_parse_ms"] = model->timings().parse_ms;
  j["load_passes_ms"] = model->timings().passes_ms;
  j["load_file_ms"] = ms_between(t_load, t_loaded);
  j["plan_ms"] = ms_between(t_plan, t_planned);
  j["load_total_ms"] = ms_between(t_load, t_loaded) + ms_between(t_plan, t_planned);
  j["first_inference_ms"] = ms_between(t_planned, t_first);
  j["plan_steps"] = steps.size();
  j["warmup_runs"] = args.warmup;
  j["runs"] = lat.size();
  j["duration_s"] = wall_s;
  j["latency_min_ms"] = lat.empty() ? 0 : lat.front();
  j["latency_mean_ms"] = mean;
  j["latency_p50_ms"] = percentile(lat, 50);
  j["latency_p90_ms"] = percentile(lat, 90);
  j["latency_p95_ms"] = percentile(lat, 95);
  j["latency_p99_ms"] = percentile(lat, 99);
  j["latency_p99_9_ms"] = percentile(lat, 99.9);
  j["latency_max_ms"] = lat.empty() ? 0 : lat.back();
  j["throughput_ips"] = throughput;
  j["cpu_utilisation"] = cpu_util;
  j["peak_rss_mb"] = rss;
  j["parallel_overhead_us"] = overhead_us;
  j["model_gflop"] = model_flops * 1e-9;
  j["fma_peak_gflops"] = fma_peak * 1e-9;
  j["pct_of_fma_peak_at_p50"] = pct_peak;
  j["precision"] = precision_name(model->options().precision);
  if (bf16) {
    j["bf16_tier"] = bf16_tier_name(active_bf16_tier());
    j["bf16_peak_gflops"] = bf16_peak * 1e-9;
    j["pct_of_bf16_peak_at_p50"] = pct_bf16;
  }

  std::printf("Model: %s\n", paths.onnx.c_str());
  std::printf("Version: %s\n", version());
  std::printf("ISA: %s\n", isa_name(active_isa()));
  std::printf("Threads: %d\n", threads);
  std::printf("Concurrency: %d\n", concurrency);
  std::printf("Layout: %s\n", args.layouts.layout.c_str());
  std::printf("Folding: %s\n", args.no_fold ? "off" : "on");
  std::printf("Precision: %s\n", args.layouts.precision.c_str());
  print_precision_report(*model, false);
  for (const NamedTensor& f : feeds) {
    std::printf("Input %s: %s%s\n", f.name.c_str(), dtype_name(f.tensor.dtype()).c_str(),
                shape_to_string(f.tensor.shape()).c_str());
  }
  std::printf("Load parse ms: %.3f\n", model->timings().parse_ms);
  std::printf("Load passes ms: %.3f\n", model->timings().passes_ms);
  std::printf("Plan ms: %.3f\n", ms_between(t_plan, t_planned));
  std::printf("First inference ms: %.3f\n", ms_between(t_planned, t_first));
  std::printf("Plan steps: %zu\n", steps.size());
  std::printf("Warmup runs: %d\n", args.warmup);
  std::printf("Runs: %zu\n", lat.size());
  std::printf("Duration s: %.3f\n", wall_s);
  std::printf("Latency min ms: %.4f\n", lat.empty() ? 0 : lat.front());
  std::printf("Latency mean ms: %.4f\n", mean);
  std::printf("Latency p50 ms: %.4f\n", percentile(lat, 50));
  std::printf("Latency p90 ms: %.4f\n", percentile(lat, 90));
  std::printf("Latency p95 ms: %.4f\n", percentile(lat, 95));
  std::printf("Latency p99 ms: %.4f\n", percentile(lat, 99));
  std::printf("Latency p99.9 ms: %.4f\n", percentile(lat, 99.9));
  std::printf("Latency max ms: %.4f\n", lat.empty() ? 0 : lat.back());
  std::printf("Throughput: %.3f inferences/s\n", throughput);
  std::printf("CPU utilisation: %.1f %%\n", 100.0 * cpu_util);
  std::printf("Peak RSS: %.1f MB\n", rss);
  std::printf("Parallel op overhead: %.2f us\n", overhead_us);
  std::printf("Model GFLOP per run: %.3f (Conv, Gemm, MatMul multiply-adds x 2)\n",
              model_flops * 1e-9);
  std::printf("FMA peak GFLOP/s (%d threads): %.1f\n", threads, fma_peak * 1e-9);
  std::printf("Share of the FMA peak at p50: %.1f %%\n", pct_peak);
  if (bf16) {
    std::printf("bf16 peak GFLOP/s (%s, %d threads): %.1f\n", bf16_tier_name(active_bf16_tier()),
                threads, bf16_peak * 1e-9);
    std::printf("Share of the bf16 peak at p50: %.1f %%\n", pct_bf16);
  }

  if (profile) {
    json meta = {
        {"model", paths.onnx},        {"isa", isa_name(active_isa())}, {"threads", threads},
        {"concurrency", concurrency}, {"layout", args.layouts.layout}, {"keel_version", version()}};
    // After the timed runs, with the run's thread count, so the probes disturb nothing.
    const MachineLimits lim = measure_machine_limits(threads);
    KEEL_ASSIGN_OR_RETURN(json p, write_profile(args.profile_path, steps, streams, start,
                                                args.layouts.layout, meta, lim));
    j["profile"] = p;
  } else {
    j["profile"] = nullptr;
  }
  std::fflush(stdout);

  if (!args.json_path.empty()) {
    const std::string tmp = args.json_path + ".tmp";
    {
      std::ofstream out(tmp);
      if (!out) return invalid_argument("--json: cannot write '" + args.json_path + "'");
      out << j.dump(2) << "\n";
      if (!out) return invalid_argument("--json: cannot write '" + args.json_path + "'");
    }
    if (std::rename(tmp.c_str(), args.json_path.c_str()) != 0) {
      std::remove(tmp.c_str());
      return invalid_argument("--json: cannot write '" + args.json_path + "'");
    }
  }
  return Status::ok();
}

}  // namespace keel::tools
