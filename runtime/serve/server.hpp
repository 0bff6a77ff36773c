// `keel serve`: one process hosting a model repository behind HTTP/REST, gRPC and a metrics
// port. run_server() loads every model (ready turns true only after each has run once), serves
// until SIGTERM or SIGINT, then drains: ready turns false, no new requests are taken, the ones
// in flight finish (up to exit_timeout_s), and it returns.
#pragma once

#include <string>

#include "core/status.hpp"
#include "serve/http_server.hpp"
#include "serve/log.hpp"

namespace keel::serve {

struct ServerOptions {
  std::string repository_dir;  // a Triton-layout repository, or
  std::string model_path;      // one model (file or folder)
  std::string model_name;      // its name (default: file or folder stem)
  std::string http_address = "0.0.0.0";
  int http_port = 8000;     // -1: no HTTP listener
  int grpc_port = 8001;     // -1: no gRPC listener
  int metrics_port = 8002;  // -1: /metrics on the HTTP port only
  int threads = 0;          // compute threads for the whole process; 0: the CPUs it may use
  int io_threads = 2;
  bool poll = false;  // rescan the repository every poll_secs and reload what changed
  double poll_secs = 15;
  double exit_timeout_s = 30;
  int default_max_batch_size = 4;
  Precision precision = Precision::kFp32;  // every model's, unless its parameters say
  size_t max_memory_bytes = 0;             // every model's limit, unless its parameters say
  HttpLimits http;
  int grpc_max_message_bytes = 64 << 20;
  LogFormat log_format = LogFormat::kText;
  bool log_verbose = false;
};

// The CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (a container
// limited to 2 CPUs gets 2).
int available_cpus();

Status run_server(const ServerOptions& options);

}  // namespace keel::serve
