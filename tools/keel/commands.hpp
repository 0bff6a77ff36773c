// Subcommands of the keel tool. They go through the public API (keel/keel.hpp) except where a
// command's job is the graph itself, and these are the only internals the tool uses:
//   fold     onnx/import_model, passes/pass (run_load_passes with PassOptions), onnx/export_model
//   inspect  onnx/import_model, graph/graph and graph/validate (operators keel does not implement)
//   run      graph/graph, to print the model's node count; core/cpu_features (the bf16 tier, run
//            and bench)
//   bench    graph/fused_ops (operand roles of fused kinds, for FLOP counts), core/cpu_features and
//            core/aligned_buffer (the machine-limit probe), core/npy (inputs, outputs)
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "keel/keel.hpp"

namespace keel::tools {

// --layout, --input-layout, --no-winograd, --precision and --keep-fp32 (how the model runs),
// the same for run and bench.
struct LayoutFlags {
  std::string layout = "auto";
  std::string input_layout = "nchw";
  bool no_winograd = false;
  std::string precision = "fp32";
  std::vector<std::string> keep_fp32;  // operator types kept float32 under bf16
  std::string max_memory = "0";        // ModelOptions::max_memory_bytes ("512M", ...)
};

// One line for bench ("bf16 on 51 nodes (Conv 50, MatMul 1), float32 kept on 2"), and under
// `details` one line per node kept float32 with its reason (run). Nothing under fp32.
void print_precision_report(const Model& model, bool details);

// keel run's check against float64 references under --precision bf16 (relative to the output's
// largest magnitude); float32 is checked at 1e-5.
constexpr double kBf16ReferenceBound = 2e-2;
// ... and for a quantized (QDQ) model against the float64 reference of its float model: int8
// models land at 0.5-2% (ONNX Runtime's own error on the committed and zoo models).
constexpr double kQuantizedReferenceBound = 5e-2;

struct RunArgs {
  std::string model;  // a .onnx file, or a model folder (model.onnx, inputs/, outputs_f64/)
  std::vector<std::string> inputs;  // NAME=FILE.npy
  std::vector<std::string> shapes;  // NAME=1,3,224,224 for dynamic inputs
  std::string output_dir;
  std::string reference_dir;  // folder of <output>.npy references to compare with
  int threads = 0;
  int iterations = 10;
  uint64_t seed = 1;
  bool no_fold = false;
  LayoutFlags layouts;
};

struct FoldArgs {
  std::string input, output, report;
  bool check = false;
  bool fold_overridable = false;
  std::vector<std::string> inputs;
  std::vector<std::string> shapes;
  double rtol = 1e-4;
  uint64_t seed = 1;
};

struct BenchArgs {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE.npy
  std::vector<std::string> shapes;  // NAME=1,3,224,224
  int threads = 0;
  int64_t batch = 0;  // 0: not given
  uint64_t seed = 1;
  int64_t iterations = 0;  // 0: run for time_s seconds instead
  double time_s = 0;       // 0: 5 seconds unless iterations is given
  int warmup = 2;
  int concurrency = 1;
  LayoutFlags layouts;
  bool no_fold = false;
  std::string json_path;
  std::string profile_path;
};

struct InspectArgs {
  std::string model;
};

void add_run_options(CLI::App& app, RunArgs& args);
void add_inspect_options(CLI::App& app, InspectArgs& args);
void add_fold_options(CLI::App& app, FoldArgs& args);
void add_bench_options(CLI::App& app, BenchArgs& args);
Status bench_command(const BenchArgs& args);
Status fold_command(const FoldArgs& args);
Status run_command(const RunArgs& args);
Status inspect_command(const InspectArgs& args);

// Shared helpers ------------------------------------------------------------------------
// Resolves MODEL (file or folder) to the .onnx path; fills the folder's defaults.
struct ModelPaths {
  std::string onnx;
  std::string inputs_dir;      // empty when the model is a bare file
  std::string references_dir;  // likewise
};
ModelPaths resolve_model_paths(const std::string& model);
// Declares --layout and --input-layout on `app`.
void add_layout_options(CLI::App& app, LayoutFlags& flags);
// Sets options.layout, options.input_layout and options.winograd from the flags.
Status apply_layout_flags(const LayoutFlags& flags, ModelOptions& options);
// Builds the feeds: -i files, then the folder's inputs/ (stored NCHW; transposed to NHWC when
// folder_inputs_to_nhwc), then seeded random data.
Result<std::vector<NamedTensor>> make_feeds(const Model& model,
                                            const std::vector<std::string>& files,
                                            const std::vector<std::string>& shapes,
                                            const std::string& inputs_dir, uint64_t seed,
                                            bool folder_inputs_to_nhwc = false);

}  // namespace keel::tools
