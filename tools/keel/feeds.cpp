#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "commands.hpp"
#include "core/cpu_features.hpp"
#include "core/npy.hpp"

namespace keel::tools {

namespace fs = std::filesystem;

ModelPaths resolve_model_paths(const std::string& model) {
  ModelPaths p;
  std::error_code ec;
  if (fs::is_directory(model, ec)) {
    p.onnx = (fs::path(model) / "model.onnx").string();
    if (fs::is_directory(fs::path(model) / "inputs", ec))
      p.inputs_dir = (fs::path(model) / "inputs").string();
    if (fs::is_directory(fs::path(model) / "outputs_f64", ec)) {
      p.references_dir = (fs::path(model) / "outputs_f64").string();
    }
  } else {
    p.onnx = model;
  }
  return p;
}

void add_layout_options(CLI::App& app, LayoutFlags& flags) {
  app.add_option("--layout", flags.layout,
                 "activation layout inside the model: nchw, nhwc or auto (NHWC for CNNs)")
      ->check(CLI::IsMember({"nchw", "nhwc", "auto"}));
  app.add_option("--input-layout", flags.input_layout,
                 "how rank-4 inputs are given: nchw (as the model declares) or nhwc")
      ->check(CLI::IsMember({"nchw", "nhwc"}));
  app.add_flag("--no-winograd", flags.no_winograd,
               "run 3x3 convolutions directly, never as Winograd F(2x2, 3x3)");
  app.add_option("--precision", flags.precision,
                 "fp32 (default), or bf16: convolutions and matrix products with constant "
                 "weights in bfloat16 (float32 sums), except what the policy keeps float32")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--keep-fp32", flags.keep_fp32,
                 "under --precision bf16, operator types kept float32 (Conv, Gemm, MatMul)")
      ->delimiter(',');
  app.add_option("--max-memory", flags.max_memory,
                 "refuse to load or plan when weights, packed weights and one run's activations "
                 "would pass this many bytes (512M, 2G; 0: no limit)");
}

Status apply_layout_flags(const LayoutFlags& flags, ModelOptions& options) {
  KEEL_ASSIGN_OR_RETURN(options.layout, parse_layout_option(flags.layout));
  options.input_layout = flags.input_layout == "nhwc" ? Layout::kNhwc : Layout::kNchw;
  options.winograd = !flags.no_winograd;
  KEEL_ASSIGN_OR_RETURN(options.precision, parse_precision(flags.precision));
  options.fp32_ops = flags.keep_fp32;
  KEEL_ASSIGN_OR_RETURN(options.max_memory_bytes, parse_byte_size(flags.max_memory));
  return Status::ok();
}

void print_precision_report(const Model& model, bool details) {
  if (model.options().precision != Precision::kBf16) return;
  std::map<std::string, int> bf16_ops;
  int bf16 = 0, kept = 0;
  for (const PrecisionChoice& c : model.precision_choices()) {
    if (c.precision == Precision::kBf16) {
      ++bf16;
      ++bf16_ops[c.op_type];
    } else {
      ++kept;
    }
  }
  std::string ops;
  for (const auto& [op, count] : bf16_ops) {
    ops += (ops.empty() ? "" : ", ") + op + " " + std::to_string(count);
  }
  std::printf("precision: bf16 (%s) on %d nodes%s, float32 kept on %d\n",
              bf16_tier_name(active_bf16_tier()), bf16,
              ops.empty() ? "" : (" (" + ops + ")").c_str(), kept);
  if (!details) return;
  for (const PrecisionChoice& c : model.precision_choices()) {
    if (c.precision != Precision::kBf16) {
      std::printf("keep fp32 %s (%s): %s\n", c.node.c_str(), c.op_type.c_str(), c.reason.c_str());
    }
  }
}

namespace {

Result<std::pair<std::string, std::string>> split_assignment(const std::string& s,
                                                             const char* what) {
  const size_t eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
    return invalid_argument(std::string(what) + " '" + s + "' must look like NAME=VALUE");
  }
  return std::make_pair(s.substr(0, eq), s.substr(eq + 1));
}

Result<Tensor> random_tensor(DataType dtype, const Shape& shape, std::mt19937_64& rng) {
  KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  switch (dtype) {
    case DataType::kFloat32:
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = normal(rng);
      break;
    case DataType::kFloat64:
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<double>()[i] = normal(rng);
      break;
    case DataType::kInt64:
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data_as<int64_t>()[i] = static_cast<int64_t>(rng() % 4);
      break;
    case DataType::kInt32:
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data_as<int32_t>()[i] = static_cast<int32_t>(rng() % 4);
      break;
    case DataType::kBool:
    case DataType::kUint8:
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data_as<uint8_t>()[i] = static_cast<uint8_t>(rng() % 2);
      break;
    default:
      return unsupported("cannot make random data of type " + dtype_name(dtype) +
                         "; give the input with -i NAME=FILE.npy");
  }
  return t;
}

}  // namespace

// [N, C, H, W] -> [N, H, W, C], any element type.
Result<Tensor> nchw_to_nhwc(const Tensor& t) {
  const Shape& s = t.shape();
  KEEL_ASSIGN_OR_RETURN(Tensor r, Tensor::allocate(t.dtype(), {s[0], s[2], s[3], s[1]}));
  const size_t esize = dtype_size(t.dtype());
  const auto* src = static_cast<const char*>(t.data());
  auto* dst = static_cast<char*>(r.data());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < s[2] * s[3]; ++p) {
        const int64_t from = (n * s[1] + c) * s[2] * s[3] + p;
        const int64_t to = (n * s[2] * s[3] + p) * s[1] + c;
        std::memcpy(dst + to * esize, src + from * esize, esize);
      }
  return r;
}

Result<std::vector<NamedTensor>> make_feeds(const Model& model,
                                            const std::vector<std::string>& files,
                                            const std::vector<std::string>& shapes,
                                            const std::string& inputs_dir, uint64_t seed,
                                            bool folder_inputs_to_nhwc) {
  std::map<std::string, std::string> given;
  for (const std::string& f : files) {
    KEEL_ASSIGN_OR_RETURN(auto kv, split_assignment(f, "-i"));
    given[kv.first] = kv.second;
  }
  std::map<std::string, Shape> shape_overrides;
  for (const std::string& s : shapes) {
    KEEL_ASSIGN_OR_RETURN(auto kv, split_assignment(s, "--shape"));
    Shape shape;
    std::stringstream ss(kv.second);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        shape.push_back(std::stoll(item));
      } catch (const std::exception&) {
        return invalid_argument("--shape " + s + ": '" + item + "' is not a number");
      }
    }
    shape_overrides[kv.first] = shape;
  }
  for (const auto& [name, path] : given) {
    bool known = false;
    for (const IoInfo& in : model.inputs()) known = known || in.name == name;
    if (!known)
      return invalid_argument("-i " + name + "=" + path + ": the model has no input '" + name +
                              "'");
  }
  std::mt19937_64 rng(seed);
  std::vector<NamedTensor> feeds;
  for (const IoInfo& in : model.inputs()) {
    std::string file;
    bool from_folder = false;
    if (given.count(in.name)) {
      file = given[in.name];
    } else if (!inputs_dir.empty() && fs::exists(fs::path(inputs_dir) / npy_file_name(in.name))) {
      file = (fs::path(inputs_dir) / npy_file_name(in.name)).string();
      from_folder = true;
    }
    if (!file.empty()) {
      KEEL_ASSIGN_OR_RETURN(Tensor t, read_npy(file));
      // A model folder's inputs are stored as the model declares them (NCHW).
      if (from_folder && folder_inputs_to_nhwc && t.rank() == 4) {
        KEEL_ASSIGN_OR_RETURN(t, nchw_to_nhwc(t));
      }
      feeds.push_back({in.name, std::move(t)});
      continue;
    }
    Shape shape;
    if (shape_overrides.count(in.name)) {
      shape = shape_overrides[in.name];
    } else {
      if (!in.rank_known) {
        return invalid_argument("input '" + in.name + "' has unknown rank: give --shape " +
                                in.name + "=...");
      }
      for (int64_t d : in.shape) shape.push_back(d < 0 ? 1 : d);  // dynamic dims default to 1
    }
    KEEL_ASSIGN_OR_RETURN(Tensor t, random_tensor(in.dtype, shape, rng));
    feeds.push_back({in.name, std::move(t)});
  }
  return feeds;
}

}  // namespace keel::tools
