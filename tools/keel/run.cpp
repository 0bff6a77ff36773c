#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "commands.hpp"
#include "core/npy.hpp"
#include "graph/graph.hpp"

namespace keel::tools {

namespace fs = std::filesystem;

void add_run_options(CLI::App& app, RunArgs& args) {
  app.add_option("model", args.model,
                 "model.onnx, or a model folder (model.onnx, inputs/, outputs_f64/)")
      ->required();
  app.add_option("-i,--input", args.inputs,
                 "NAME=FILE.npy (repeatable); random seeded data otherwise");
  app.add_option("--shape", args.shapes, "NAME=1,3,224,224 for inputs with dynamic dims");
  app.add_option("-o,--output-dir", args.output_dir,
                 "write each output as DIR/<name>.npy (characters unsafe in a file name as _)");
  app.add_option("--reference", args.reference_dir,
                 "folder of <output>.npy references (a model folder's outputs_f64/ by default)");
  app.add_option("--threads", args.threads, "threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--iterations", args.iterations, "timed runs after the first")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", args.seed, "seed for random inputs");
  app.add_flag("--no-fold", args.no_fold, "keep BatchNorm and friends as separate nodes");
  add_layout_options(app, args.layouts);
}

namespace {

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Reads element i of any numeric tensor as double.
double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data_as<float>()[i];
    case DataType::kFloat64: return t.data_as<double>()[i];
    case DataType::kInt64: return static_cast<double>(t.data_as<int64_t>()[i]);
    case DataType::kInt32: return t.data_as<int32_t>()[i];
    case DataType::kInt8: return t.data_as<int8_t>()[i];
    case DataType::kUint8:
    case DataType::kBool: return t.data_as<uint8_t>()[i];
    default: return std::nan("");
  }
}

void print_summary(const std::string& name, const Tensor& t) {
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = element(t, i);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  std::printf("output %s: %s%s min=%.6g max=%.6g mean=%.6g\n", name.c_str(),
              dtype_name(t.dtype()).c_str(), shape_to_string(t.shape()).c_str(), lo, hi,
              t.numel() ? sum / t.numel() : 0.0);
}

}  // namespace

Status run_command(const RunArgs& args) {
  const ModelPaths paths = resolve_model_paths(args.model);
  const std::string reference_dir =
      args.reference_dir.empty() ? paths.references_dir : args.reference_dir;
  ModelOptions mopts;
  mopts.fold = !args.no_fold;
  mopts.runtime_fusions = !args.no_fold;  // --no-fold runs the graph as written
  KEEL_RETURN_IF_ERROR(apply_layout_flags(args.layouts, mopts));
  const auto t0 = std::chrono::steady_clock::now();
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::load_file(paths.onnx, mopts));
  const auto t1 = std::chrono::steady_clock::now();
  SessionOptions sopts;
  sopts.threads = args.threads;
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::create(model, sopts));
  KEEL_ASSIGN_OR_RETURN(std::vector<NamedTensor> feeds,
                        make_feeds(*model, args.inputs, args.shapes, paths.inputs_dir, args.seed,
                                   mopts.input_layout == Layout::kNhwc));
  KEEL_RETURN_IF_ERROR(session->prepare(feeds));
  const auto t2 = std::chrono::steady_clock::now();
  KEEL_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, session->run(feeds));
  const auto t3 = std::chrono::steady_clock::now();
  std::vector<double> times;
  for (int i = 0; i < args.iterations; ++i) {
    const auto a = std::chrono::steady_clock::now();
    KEEL_ASSIGN_OR_RETURN(outputs, session->run(feeds));
    times.push_back(ms_between(a, std::chrono::steady_clock::now()));
  }

  std::printf("model: %s (opset %lld, %zu nodes)\n", paths.onnx.c_str(),
              static_cast<long long>(model->default_opset()), model->graph().nodes().size());
  int folded = 0, kept = 0;
  for (const FoldEvent& e : model->fold_events()) {
    if (e.folded) {
      ++folded;
      std::printf("fold %s <- %s\n", e.target.c_str(), e.source.c_str());
    } else {
      ++kept;
      std::printf("skip %s: %s\n", (e.source.empty() ? e.target : e.source).c_str(),
                  e.reason.c_str());
    }
  }
  std::printf("folding: %s, %d folded, %d kept\n", args.no_fold ? "off (--no-fold)" : "on", folded,
              kept);
  print_precision_report(*model, true);
  for (const NamedTensor& f : feeds) {
    std::printf("input %s: %s%s\n", f.name.c_str(), dtype_name(f.tensor.dtype()).c_str(),
                shape_to_string(f.tensor.shape()).c_str());
  }
  for (size_t o = 0; o < outputs.size(); ++o) print_summary(model->outputs()[o].name, outputs[o]);
  std::printf("threads: %d\n", session->threads());
  std::printf("load: %.2f ms (parse %.2f, passes %.2f), plan: %.2f ms, first run: %.2f ms\n",
              ms_between(t0, t1), model->timings().parse_ms, model->timings().passes_ms,
              ms_between(t1, t2), ms_between(t2, t3));
  if (!times.empty()) {
    std::sort(times.begin(), times.end());
    std::printf("latency: median %.3f ms, min %.3f ms, max %.3f ms over %zu runs\n",
                times[times.size() / 2], times.front(), times.back(), times.size());
  }

  if (!args.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(args.output_dir, ec);
    std::set<std::string> written;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const std::string& name = model->outputs()[o].name;
      const std::string file = npy_file_name(name);
      if (!written.insert(file).second) {
        return Status(StatusCode::kInvalidArgument, "output '" + name +
                                                        "' would overwrite another output's file " +
                                                        file + " in " + args.output_dir);
      }
      KEEL_RETURN_IF_ERROR(write_npy((fs::path(args.output_dir) / file).string(), outputs[o]));
    }
    std::printf("outputs written to %s\n", args.output_dir.c_str());
  }

  if (!reference_dir.empty()) {
    bool all_pass = true;
    // float32 keel is exact to float32 rounding; bfloat16 keeps 8 bits of each weight and input
    // of the bf16 nodes (the zoo's bounds, tests/models/test_zoo.cpp); a quantized model is as
    // far from its float model's reference as its quantization puts it.
    bool quantized = false;
    for (const Node* n : model->graph().nodes()) {
      quantized |= n->op_type == "QuantizeLinear" || n->op_type == "DynamicQuantizeLinear" ||
                   n->op_type == "MatMulInteger";
    }
    const double bound = quantized                             ? kQuantizedReferenceBound
                         : mopts.precision == Precision::kBf16 ? kBf16ReferenceBound
                                                               : 1e-5;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const std::string name = model->outputs()[o].name;
      const std::string path = (fs::path(reference_dir) / npy_file_name(name)).string();
      if (!fs::exists(path)) continue;
      KEEL_ASSIGN_OR_RETURN(Tensor ref, read_npy(path));
      if (ref.shape() != outputs[o].shape()) {
        return invalid_argument("reference " + path + " has shape " + shape_to_string(ref.shape()) +
                                ", output has " + shape_to_string(outputs[o].shape()));
      }
      double max_abs = 0, scale = 0;
      for (int64_t i = 0; i < ref.numel(); ++i) {
        max_abs = std::max(max_abs, std::fabs(element(outputs[o], i) - element(ref, i)));
        scale = std::max(scale, std::fabs(element(ref, i)));
      }
      const double rel = scale > 0 ? max_abs / scale : max_abs;
      const bool pass = rel <= bound;
      all_pass = all_pass && pass;
      std::printf("check %s vs %s: max_abs=%.3g rel_to_scale=%.3g %s\n", name.c_str(), path.c_str(),
                  max_abs, rel, pass ? "PASS" : "FAIL");
    }
    if (!all_pass) {
      char msg[128];
      std::snprintf(msg, sizeof msg,
                    "outputs differ from the references by more than %g of their scale", bound);
      return invalid_argument(msg);
    }
  }
  return Status::ok();
}

}  // namespace keel::tools
