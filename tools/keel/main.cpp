// keel: one command-line tool with subcommands (run, fold, inspect, bench, serve). Thin: everything
// it does goes through the public API.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#if KEEL_HAVE_SERVER
#include "serve_command.hpp"
#endif

int main(int argc, char** argv) {
  CLI::App app{"keel: a CPU inference runtime for ONNX models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(keel::version()));

  keel::tools::RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "Load a model, run it, summarise the outputs");
  keel::tools::add_run_options(*run, run_args);

  keel::tools::InspectArgs inspect_args;
  CLI::App* inspect = app.add_subcommand("inspect", "Show a model's inputs, outputs and operators");
  keel::tools::add_inspect_options(*inspect, inspect_args);

  keel::tools::FoldArgs fold_args;
  CLI::App* fold = app.add_subcommand(
      "fold", "Fold BatchNorm (and per-channel Mul/Add) into neighbouring linear ops; write ONNX");
  keel::tools::add_fold_options(*fold, fold_args);

  keel::tools::BenchArgs bench_args;
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure load, plan, latency and throughput; optional per-operator profile");
  keel::tools::add_bench_options(*bench, bench_args);

#if KEEL_HAVE_SERVER
  keel::serve::ServerOptions serve_options;
  std::string serve_log_format = "text";
  CLI::App* serve = app.add_subcommand(
      "serve", "Serve models over the KServe v2 / Triton protocol (HTTP, gRPC, metrics)");
  keel::tools::add_serve_options(*serve, serve_options, serve_log_format);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  keel::Status st;
  try {
    if (*run) st = keel::tools::run_command(run_args);
    if (*inspect) st = keel::tools::inspect_command(inspect_args);
    if (*fold) st = keel::tools::fold_command(fold_args);
    if (*bench) st = keel::tools::bench_command(bench_args);
#if KEEL_HAVE_SERVER
    if (*serve) st = keel::tools::serve_command(serve_options, serve_log_format);
#endif
  } catch (const std::exception& e) {
    st = keel::internal_error(e.what());
  }
  if (!st.is_ok()) {
    std::fprintf(stderr, "keel: error: %s\n", st.to_string().c_str());
    return st.code() == keel::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
