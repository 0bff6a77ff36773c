// keel serve: the inference server (runtime/serve). This file only maps flags to options.
#include "serve_command.hpp"

namespace keel::tools {

void add_serve_options(CLI::App& app, serve::ServerOptions& o, std::string& log_format) {
  app.add_option("model", o.model_path,
                 "one model to serve: a .onnx file, or a folder with model.onnx or "
                 "<version>/model.onnx (and an optional config.pbtxt)");
  app.add_option("--name", o.model_name, "the served model's name (default: the file's stem)");
  app.add_option("--model-repository", o.repository_dir,
                 "a Triton-layout repository: DIR/<model>/<version>/model.onnx, optional "
                 "DIR/<model>/config.pbtxt");
  app.add_option("--http-address", o.http_address,
                 "address of the HTTP, gRPC and metrics listeners");
  app.add_option("--http-port", o.http_port, "HTTP/REST port (-1: none)")
      ->check(CLI::Range(-1, 65535));
  app.add_option("--grpc-port", o.grpc_port, "gRPC port (-1: none)")->check(CLI::Range(-1, 65535));
  app.add_option("--metrics-port", o.metrics_port,
                 "Prometheus /metrics port (also on the HTTP port; -1: HTTP port only)")
      ->check(CLI::Range(-1, 65535));
  app.add_option("--threads", o.threads,
                 "compute threads for the whole process, shared by every model instance (0: the "
                 "CPUs this process may use, cgroup quota included)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--io-threads", o.io_threads, "HTTP I/O threads")->check(CLI::Range(1, 64));
  app.add_option_function<std::string>(
         "--model-control-mode", [&o](const std::string& mode) { o.poll = mode == "poll"; },
         "none, or poll: rescan the repository every --repository-poll-secs")
      ->check(CLI::IsMember({"none", "poll"}));
  app.add_option("--repository-poll-secs", o.poll_secs, "seconds between rescans in poll mode")
      ->check(CLI::PositiveNumber);
  app.add_option("--exit-timeout-secs", o.exit_timeout_s,
                 "on SIGTERM, how long in-flight requests may take to finish")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--http-max-input-size", o.http.max_body_bytes,
                 "largest HTTP request body (bytes)")
      ->check(CLI::PositiveNumber);
  app.add_option("--http-max-header-size", o.http.max_header_bytes,
                 "largest HTTP request header (bytes)")
      ->check(CLI::PositiveNumber);
  app.add_option("--http-request-timeout-secs", o.http.request_timeout_s,
                 "time a client has to send one request (slow clients are disconnected)")
      ->check(CLI::PositiveNumber);
  app.add_option("--http-idle-timeout-secs", o.http.idle_timeout_s,
                 "idle time after which a keep-alive connection is closed")
      ->check(CLI::PositiveNumber);
  app.add_option("--http-max-connections", o.http.max_connections, "open HTTP connections at most")
      ->check(CLI::PositiveNumber);
  app.add_option("--grpc-max-message-size", o.grpc_max_message_bytes,
                 "largest gRPC message (bytes)")
      ->check(CLI::PositiveNumber);
  app.add_option("--default-max-batch-size", o.default_max_batch_size,
                 "max_batch_size of a model whose configuration does not say, when its first dims "
                 "are dynamic (0: no batching)")
      ->check(CLI::NonNegativeNumber);
  app.add_option_function<std::string>(
         "--precision",
         [&o](const std::string& p) {
           o.precision = p == "bf16" ? Precision::kBf16 : Precision::kFp32;
         },
         "fp32 (default) or bf16: every model's precision unless its config.pbtxt parameters "
         "say otherwise")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option_function<std::string>(
         "--max-memory",
         [&o](const std::string& text) {
           auto bytes = parse_byte_size(text);
           if (!bytes.is_ok()) throw CLI::ValidationError("--max-memory", bytes.status().message());
           o.max_memory_bytes = *bytes;
         },
         "every model's memory limit (weights, packed weights and one batch's activations: 512M, "
         "2G; 0: none) unless its config.pbtxt parameters set max_memory_bytes")
      ->type_name("BYTES");
  app.add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--log-verbose", o.log_verbose, "also log failed requests");
}

Status serve_command(serve::ServerOptions o, const std::string& log_format) {
  if (o.repository_dir.empty() == o.model_path.empty()) {
    return invalid_argument("give either a model path or --model-repository DIR");
  }
  if (!o.model_name.empty() && o.model_path.empty()) {
    return invalid_argument("--name names a single model; a repository names models by folder");
  }
  o.log_format = log_format == "json" ? serve::LogFormat::kJson : serve::LogFormat::kText;
  return serve::run_server(o);
}

}  // namespace keel::tools
