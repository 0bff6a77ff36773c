#include <cstdio>
#include <map>

#include "commands.hpp"
#include "graph/graph.hpp"
#include "graph/validate.hpp"
#include "onnx/import_model.hpp"

namespace keel::tools {

void add_inspect_options(CLI::App& app, InspectArgs& args) {
  app.add_option("model", args.model, "model.onnx or a model folder")->required();
}

namespace {

std::string describe_type(const ValueType& t) {
  std::string s = dtype_name(t.dtype);
  if (!t.dims) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < t.dims->size(); ++i) {
    const Dim& d = (*t.dims)[i];
    s += (i ? "," : "") +
         (d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol));
  }
  return s + "]";
}

}  // namespace

Status inspect_command(const InspectArgs& args) {
  const ModelPaths paths = resolve_model_paths(args.model);
  // The graph is read without the support check, so the report can list what is missing.
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph, import_model_file(paths.onnx));
  std::printf("model: %s\n", paths.onnx.c_str());
  std::printf("ir_version: %lld\n", static_cast<long long>(graph->ir_version));
  for (const auto& [domain, version] : graph->opset_imports) {
    std::printf("opset: %s %lld\n", domain.empty() ? "ai.onnx" : domain.c_str(),
                static_cast<long long>(version));
  }
  for (const Value* v : graph->inputs)
    std::printf("input %s: %s\n", v->name.c_str(), describe_type(v->type).c_str());
  for (const Value* v : graph->outputs)
    std::printf("output %s: %s\n", v->name.c_str(), describe_type(v->type).c_str());
  int64_t params = 0, tensors = 0;
  for (const auto& v : graph->values()) {
    if (v->is_constant()) {
      params += v->constant->numel();
      ++tensors;
    }
  }
  std::printf("parameters: %lld in %lld constant tensors\n", static_cast<long long>(params),
              static_cast<long long>(tensors));
  std::map<std::string, int> histogram;
  for (const Node* n : graph->nodes())
    histogram[(n->domain.empty() ? "" : n->domain + "::") + n->op_type]++;
  std::printf("nodes: %zu\n", graph->nodes().size());
  for (const auto& [op, count] : histogram) std::printf("  %-28s %d\n", op.c_str(), count);
  Status support = check_operators_supported(*graph);
  std::printf("unsupported: %s\n", support.is_ok() ? "none" : support.message().c_str());
  return Status::ok();
}

}  // namespace keel::tools
