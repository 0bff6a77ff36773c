#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "graph/graph.hpp"
#include "onnx/export_model.hpp"
#include "onnx/import_model.hpp"
#include "passes/pass.hpp"

namespace keel::tools {

namespace fs = std::filesystem;

void add_fold_options(CLI::App& app, FoldArgs& args) {
  app.add_option("input", args.input, "model to fold (.onnx)")->required();
  app.add_option("output", args.output, "where to write the folded model (.onnx)")->required();
  app.add_option("--report", args.report, "also write the report as JSON to this file");
  app.add_flag("--check", args.check,
               "run the original and the folded model with keel and compare the outputs");
  app.add_flag("--fold-overridable", args.fold_overridable,
               "also fold initializers that are listed as graph inputs");
  app.add_option("-i,--input-data", args.inputs,
                 "NAME=FILE.npy for --check (random seeded data otherwise)");
  app.add_option("--shape", args.shapes, "NAME=1,3,224,224 for dynamic inputs in --check");
  app.add_option("--rtol", args.rtol, "--check tolerance, relative to each output's scale")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", args.seed, "seed for --check's random inputs");
}

namespace {

std::map<std::string, int> op_counts(const Graph& g) {
  std::map<std::string, int> counts;
  for (const Node* n : g.nodes())
    counts[(n->domain.empty() ? "" : n->domain + "::") + n->op_type]++;
  return counts;
}

struct OutputCheck {
  std::string name;
  double max_abs = 0, max_rel = 0, scale = 0;
  int64_t worst_index = -1;
  Shape shape;
  bool pass = false;
};

Result<std::vector<OutputCheck>> check_outputs(const FoldArgs& args) {
  ModelOptions no_fold;
  no_fold.fold = false;
  KEEL_ASSIGN_OR_RETURN(auto original, Model::load_file(args.input, no_fold));
  KEEL_ASSIGN_OR_RETURN(auto folded, Model::load_file(args.output, no_fold));
  KEEL_ASSIGN_OR_RETURN(auto feeds, make_feeds(*original, args.inputs, args.shapes, "", args.seed));
  KEEL_ASSIGN_OR_RETURN(auto s1, Session::create(original, {}));
  KEEL_ASSIGN_OR_RETURN(auto s2, Session::create(folded, {}));
  KEEL_ASSIGN_OR_RETURN(auto want, s1->run(feeds));
  KEEL_ASSIGN_OR_RETURN(auto got, s2->run(feeds));
  if (want.size() != got.size())
    return internal_error("the folded model has a different number of outputs");
  std::vector<OutputCheck> checks;
  for (size_t o = 0; o < want.size(); ++o) {
    OutputCheck c;
    c.name = original->outputs()[o].name;
    c.shape = want[o].shape();
    if (want[o].shape() != got[o].shape() || want[o].dtype() != got[o].dtype()) {
      return internal_error("output '" + c.name + "' changed shape or type when folded");
    }
    if (want[o].dtype() == DataType::kFloat32) {
      const float* a = want[o].data_as<float>();
      const float* b = got[o].data_as<float>();
      for (int64_t i = 0; i < want[o].numel(); ++i) {
        c.scale = std::max(c.scale, static_cast<double>(std::fabs(a[i])));
        const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
        if (d > c.max_abs || std::isnan(d)) {
          c.max_abs = std::isnan(d) ? INFINITY : d;
          c.worst_index = i;
        }
      }
      c.max_rel = c.scale > 0 ? c.max_abs / c.scale : c.max_abs;
    } else {
      c.max_rel = std::memcmp(want[o].data(), got[o].data(), want[o].nbytes()) == 0 ? 0 : INFINITY;
      c.max_abs = c.max_rel;
    }
    c.pass = c.max_rel <= args.rtol;
    checks.push_back(c);
  }
  return checks;
}

std::string index_string(const Shape& shape, int64_t flat) {
  if (flat < 0) return "-";
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return shape_to_string(idx);
}

}  // namespace

Status fold_command(const FoldArgs& args) {
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph, import_model_file(args.input));
  const auto before = op_counts(*graph);
  PassContext passes;
  passes.options.fold = true;
  passes.options.fold_overridable = args.fold_overridable;
  passes.options.runtime_fusions = false;  // the output must be standard ONNX
  KEEL_RETURN_IF_ERROR(run_load_passes(*graph, passes).with_context("'" + args.input + "'"));
  const auto after = op_counts(*graph);
  KEEL_RETURN_IF_ERROR(
      export_model_file(*graph, args.output).with_context("writing '" + args.output + "'"));

  nlohmann::json report;
  report["input"] = args.input;
  report["output"] = args.output;
  int folded = 0, skipped = 0;
  for (const FoldEvent& e : passes.events) {
    nlohmann::json j = {
        {"pass", e.pass}, {"target", e.target}, {"source", e.source}, {"reason", e.reason}};
    if (e.folded) {
      ++folded;
      std::printf("fold %s <- %s\n", e.target.c_str(), e.source.c_str());
      report["folds"].push_back(j);
    } else {
      ++skipped;
      std::printf("skip %s: %s\n", (e.source.empty() ? e.target : e.source).c_str(),
                  e.reason.c_str());
      report["skips"].push_back(j);
    }
  }
  if (!report.contains("folds")) report["folds"] = nlohmann::json::array();
  if (!report.contains("skips")) report["skips"] = nlohmann::json::array();
  std::printf("\n%-28s %8s    %s\n", "op", "before", "after");
  std::map<std::string, int> all = before;
  for (const auto& [op, n] : after) all.emplace(op, 0);
  for (const auto& [op, n] : all) {
    const int b = before.count(op) ? before.at(op) : 0;
    const int a = after.count(op) ? after.at(op) : 0;
    std::printf("%-28s %8d -> %d\n", op.c_str(), b, a);
    report["op_counts"][op] = {{"before", b}, {"after", a}};
  }
  std::error_code ec;
  const auto size_in = fs::file_size(args.input, ec);
  const auto size_out = fs::file_size(args.output, ec);
  std::printf("model size: %llu -> %llu bytes\n", static_cast<unsigned long long>(size_in),
              static_cast<unsigned long long>(size_out));
  std::printf("folded: %d, kept: %d\n", folded, skipped);
  report["size_bytes"] = {{"before", size_in}, {"after", size_out}};

  // The system ONNX checker understands IR <= 8 / opset <= 17; newer models are reported as
  // not checked rather than failed.
  std::ifstream f(args.output, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Status checked = check_with_onnx_checker(bytes);
  const std::string checker = checked.is_ok() ? "passed"
                              : checked.code() == StatusCode::kUnsupported
                                  ? "not run (" + checked.message() + ")"
                                  : "FAILED: " + checked.message();
  std::printf("onnx checker: %s\n", checker.c_str());
  report["onnx_checker"] = checker;
  if (!checked.is_ok() && checked.code() != StatusCode::kUnsupported) {
    return internal_error("the folded model does not pass the ONNX checker: " + checked.message());
  }

  bool check_failed = false;
  if (args.check) {
    KEEL_ASSIGN_OR_RETURN(auto checks, check_outputs(args));
    for (const OutputCheck& c : checks) {
      std::printf("check %s: max_abs=%.3g max_rel=%.3g (of scale %.3g) at %s %s\n", c.name.c_str(),
                  c.max_abs, c.max_rel, c.scale, index_string(c.shape, c.worst_index).c_str(),
                  c.pass ? "PASS" : "FAIL");
      report["check"].push_back({{"output", c.name},
                                 {"max_abs", c.max_abs},
                                 {"max_rel", c.max_rel},
                                 {"scale", c.scale},
                                 {"worst_index", index_string(c.shape, c.worst_index)},
                                 {"pass", c.pass}});
      check_failed = check_failed || !c.pass;
    }
  }
  if (!args.report.empty()) {
    std::ofstream out(args.report);
    out << report.dump(2) << "\n";
    if (!out) return invalid_argument("cannot write the report '" + args.report + "'");
  }
  if (check_failed) {
    return internal_error("folded outputs differ by more than --rtol " + std::to_string(args.rtol) +
                          " of the output scale");
  }
  return Status::ok();
}

}  // namespace keel::tools
