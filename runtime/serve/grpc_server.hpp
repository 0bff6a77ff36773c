// The Open Inference Protocol's gRPC service (package inference, GRPCInferenceService) with
// Triton's ModelConfig RPC, on gRPC's callback API: a request's raw input contents are viewed
// in place and the result always comes back in raw_output_contents (tritonclient reads only
// those). Message size limits are configurable.
#pragma once

#include <memory>
#include <string>

#include "core/status.hpp"
#include "serve/server_state.hpp"

namespace keel::serve {

class GrpcServer {
 public:
  explicit GrpcServer(ServerState& state);
  ~GrpcServer();
  Status start(const std::string& address, int port, int max_message_bytes);
  int port() const { return port_; }
  // Stops taking calls and waits for running ones until `deadline_s` seconds from now.
  void shutdown(double deadline_s);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace keel::serve
