#include "serve/model_config.hpp"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "serve/datatype.hpp"

namespace keel::serve {

namespace fs = std::filesystem;

namespace {

// Collects the text-format parser's messages (they name the unknown field and the line).
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!text.empty()) text += "; ";
    text += "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int line, int column, const std::string& message) override {}
  std::string text;
};

std::string dims_string(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// Declared dims agree when equal or either is dynamic (-1).
bool dims_compatible(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && a[i] >= 0 && b[i] >= 0) return false;
  }
  return true;
}

// The model's tensors, completed from or checked against the configuration's entries.
template <typename ProtoList>
Result<std::vector<TensorConfig>> complete_tensors(ProtoList* list, const std::vector<IoInfo>& io,
                                                   int max_batch_size, const char* what,
                                                   const std::string& model) {
  std::vector<TensorConfig> out;
  const std::string where = "model '" + model + "': ";
  for (const auto& entry : *list) {
    bool found = false;
    for (const IoInfo& info : io) found = found || info.name == entry.name();
    if (!found) {
      return invalid_argument(where + "the configuration's " + what + " '" + entry.name() +
                              "' is not a " + what + " of the model");
    }
  }
  const bool given = list->size() > 0;
  for (const IoInfo& info : io) {
    TensorConfig t;
    t.name = info.name;
    t.dtype = info.dtype;
    if (!info.rank_known) {
      return invalid_argument(where + what + " '" + info.name + "' has no declared rank");
    }
    std::vector<int64_t> dims = info.shape;
    if (max_batch_size > 0) {
      if (dims.empty() || dims[0] >= 0) {
        return invalid_argument(where + "max_batch_size is " + std::to_string(max_batch_size) +
                                " but " + what + " '" + info.name + "' has shape " +
                                dims_string(dims) + " (its first dim must be dynamic)");
      }
      dims.erase(dims.begin());
    }
    t.dims = dims;
    if (datatype_name(t.dtype).empty()) {
      return invalid_argument(where + what + " '" + info.name + "' has type " +
                              dtype_name(t.dtype) + ", which the protocol cannot carry");
    }
    const auto* match = [&]() -> const typename ProtoList::value_type* {
      for (const auto& entry : *list) {
        if (entry.name() == info.name) return &entry;
      }
      return nullptr;
    }();
    if (given && !match) {
      return invalid_argument(where + "the configuration lists " + what + "s but not '" +
                              info.name + "'");
    }
    if (match) {
      if (match->data_type() != 0 && match->data_type() != config_type(t.dtype)) {
        return invalid_argument(where + what + " '" + info.name + "': the configuration says " +
                                inference::DataType_Name(match->data_type()) + ", the model " +
                                datatype_name(t.dtype));
      }
      std::vector<int64_t> cfg(match->dims().begin(), match->dims().end());
      if (!cfg.empty() && !dims_compatible(cfg, dims)) {
        return invalid_argument(where + what + " '" + info.name + "': the configuration's dims " +
                                dims_string(cfg) + " do not match the model's " +
                                dims_string(dims) +
                                (max_batch_size > 0 ? " (without the batch dim)" : ""));
      }
      if (!cfg.empty()) t.dims = cfg;
    }
    out.push_back(std::move(t));
  }
  list->Clear();
  for (const TensorConfig& t : out) {
    auto* e = list->Add();
    e->set_name(t.name);
    e->set_data_type(static_cast<inference::DataType>(config_type(t.dtype)));
    for (int64_t d : t.dims) e->add_dims(d);
  }
  return out;
}

}  // namespace

Result<inference::ModelConfig> read_config_file(const std::string& path) {
  inference::ModelConfig config;
  std::error_code ec;
  if (!fs::exists(path, ec)) return config;
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(buf.str(), &config)) {
    return invalid_argument(
        "'" + path + "': " + (errors.text.empty() ? "not a valid configuration" : errors.text));
  }
  return config;
}

namespace {

// "Conv, Gemm" -> {"Conv", "Gemm"}: comma-separated, blanks around names dropped.
std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t end = std::min(v.find(',', start), v.size());
    std::string item = v.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<ModelOptions> model_options_from_config(const inference::ModelConfig& config,
                                               const ModelOptions& defaults) {
  ModelOptions options = defaults;
  for (const auto& [key, value] : config.parameters()) {
    const std::string& v = value.string_value();
    if (key == "layout") {
      if (v == "nchw") {
        options.layout = LayoutOption::kNchw;
      } else if (v == "nhwc") {
        options.layout = LayoutOption::kNhwc;
      } else if (v == "auto") {
        options.layout = LayoutOption::kAuto;
      } else {
        return invalid_argument("parameter 'layout' is '" + v + "' (nchw, nhwc or auto)");
      }
    } else if (key == "winograd") {
      if (v != "true" && v != "false") {
        return invalid_argument("parameter 'winograd' is '" + v + "' (true or false)");
      }
      options.winograd = v == "true";
    } else if (key == "precision") {
      auto precision = parse_precision(v);
      if (!precision.is_ok()) return invalid_argument("parameter " + precision.status().message());
      options.precision = *precision;
    } else if (key == "fp32_ops") {
      options.fp32_ops = split_list(v);
    } else if (key == "max_memory_bytes") {
      auto bytes = parse_byte_size(v);
      if (!bytes.is_ok())
        return invalid_argument("parameter 'max_memory_bytes': " + bytes.status().message());
      options.max_memory_bytes = *bytes;
    } else {
      return invalid_argument(
          "unknown parameter '" + key +
          "' (keel reads layout, winograd, precision, fp32_ops, max_memory_bytes)");
    }
  }
  return options;
}

Result<ServedModelConfig> complete_config(inference::ModelConfig config, const std::string& name,
                                          const Model& model, int default_max_batch_size) {
  const std::string where = "model '" + name + "': ";
  if (!config.name().empty() && config.name() != name) {
    return invalid_argument(where + "the configuration names the model '" + config.name() +
                            "' (it must match its folder)");
  }
  config.set_name(name);
  if (!config.platform().empty() && config.platform() != "onnxruntime_onnx") {
    return invalid_argument(where + "platform '" + config.platform() +
                            "' (keel serves onnxruntime_onnx models)");
  }
  if (!config.backend().empty() && config.backend() != "onnxruntime" &&
      config.backend() != "keel") {
    return invalid_argument(where + "backend '" + config.backend() + "' (onnxruntime or keel)");
  }
  config.set_platform("onnxruntime_onnx");
  config.set_backend("keel");
  if (config.max_batch_size() < 0) {
    return invalid_argument(where + "max_batch_size must be >= 0");
  }
  if (!config.has_max_batch_size()) {
    // Nothing said about batching: batch when every input and output has a dynamic first dim.
    bool batchable = !model.inputs().empty();
    for (const auto* list : {&model.inputs(), &model.outputs()}) {
      for (const IoInfo& io : *list) {
        batchable = batchable && io.rank_known && !io.shape.empty() && io.shape[0] < 0;
      }
    }
    if (batchable && default_max_batch_size > 0) {
      config.set_max_batch_size(default_max_batch_size);
      if (!config.has_dynamic_batching()) config.mutable_dynamic_batching();
    } else {
      config.set_max_batch_size(0);
    }
  }
  ServedModelConfig out;
  out.name = name;
  out.max_batch_size = config.max_batch_size();
  KEEL_ASSIGN_OR_RETURN(out.inputs, complete_tensors(config.mutable_input(), model.inputs(),
                                                     out.max_batch_size, "input", name));
  KEEL_ASSIGN_OR_RETURN(out.outputs, complete_tensors(config.mutable_output(), model.outputs(),
                                                      out.max_batch_size, "output", name));
  int instances = 0;
  for (const auto& group : config.instance_group()) {
    if (group.kind() == inference::ModelInstanceGroup::KIND_GPU) {
      return invalid_argument(where + "instance_group kind KIND_GPU (keel runs on the CPU)");
    }
    if (group.count() < 0) return invalid_argument(where + "instance_group count must be >= 0");
    instances += group.count() == 0 ? 1 : group.count();
  }
  if (config.instance_group_size() == 0) {
    auto* g = config.add_instance_group();
    g->set_name(name);
    g->set_count(1);
    instances = 1;
  }
  for (auto& group : *config.mutable_instance_group()) {
    group.set_kind(inference::ModelInstanceGroup::KIND_CPU);
    if (group.count() == 0) group.set_count(1);
    if (group.name().empty()) group.set_name(name);
  }
  if (instances > 64) return invalid_argument(where + "more than 64 instances");
  out.instances = instances;
  if (config.has_dynamic_batching()) {
    const auto& db = config.dynamic_batching();
    if (out.max_batch_size == 0) {
      return invalid_argument(where + "dynamic_batching needs max_batch_size > 0");
    }
    out.dynamic_batching = true;
    for (int p : db.preferred_batch_size()) {
      if (p <= 0 || p > out.max_batch_size) {
        return invalid_argument(where + "preferred_batch_size " + std::to_string(p) +
                                " is not in [1, max_batch_size]");
      }
      out.preferred_batch_sizes.push_back(p);
    }
    if (db.max_queue_delay_microseconds() > 10'000'000) {
      return invalid_argument(where + "max_queue_delay_microseconds is over 10 s");
    }
    out.max_queue_delay_us = db.max_queue_delay_microseconds();
    const auto& policy = db.default_queue_policy();
    out.max_queue_size = policy.max_queue_size();
    out.default_timeout_us = policy.default_timeout_microseconds();
    out.delay_on_timeout = policy.timeout_action() == inference::ModelQueuePolicy::DELAY;
  }
  out.proto = std::move(config);
  return out;
}

std::string config_to_json(const inference::ModelConfig& c) {
  using nlohmann::json;
  auto tensors = [](const auto& list, bool input) {
    json arr = json::array();
    for (const auto& t : list) {
      json e = {{"name", t.name()},
                {"data_type", inference::DataType_Name(t.data_type())},
                {"dims", json(std::vector<int64_t>(t.dims().begin(), t.dims().end()))}};
      if (input) e["format"] = "FORMAT_NONE";
      arr.push_back(std::move(e));
    }
    return arr;
  };
  json j = {{"name", c.name()},
            {"platform", c.platform()},
            {"backend", c.backend()},
            {"version_policy", {{"latest", {{"num_versions", 1}}}}},
            {"max_batch_size", c.max_batch_size()},
            {"input", tensors(c.input(), true)},
            {"output", tensors(c.output(), false)}};
  json groups = json::array();
  for (const auto& g : c.instance_group()) {
    groups.push_back({{"name", g.name()},
                      {"kind", inference::ModelInstanceGroup::Kind_Name(g.kind())},
                      {"count", g.count()}});
  }
  j["instance_group"] = std::move(groups);
  if (c.has_dynamic_batching()) {
    const auto& db = c.dynamic_batching();
    json d = {{"preferred_batch_size", std::vector<int>(db.preferred_batch_size().begin(),
                                                        db.preferred_batch_size().end())},
              {"max_queue_delay_microseconds", db.max_queue_delay_microseconds()}};
    if (db.has_default_queue_policy()) {
      const auto& p = db.default_queue_policy();
      d["default_queue_policy"] = {
          {"timeout_action", inference::ModelQueuePolicy::TimeoutAction_Name(p.timeout_action())},
          {"default_timeout_microseconds", p.default_timeout_microseconds()},
          {"allow_timeout_override", p.allow_timeout_override()},
          {"max_queue_size", p.max_queue_size()}};
    }
    j["dynamic_batching"] = std::move(d);
  }
  json params = json::object();
  for (const auto& [k, v] : c.parameters()) params[k] = {{"string_value", v.string_value()}};
  j["parameters"] = std::move(params);
  return j.dump();
}

}  // namespace keel::serve
