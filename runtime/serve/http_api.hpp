// The HTTP/REST endpoints of the Open Inference Protocol (KServe v2) with Triton's config
// endpoint and binary tensor extension, and /metrics. Transport-free: http_server.cpp parses
// the bytes and calls handle(); the reply may come later, from a compute thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "serve/server_state.hpp"

namespace keel::serve {

struct HttpRequest {
  std::string method;                    // "GET", "POST", ...
  std::string target;                    // path and query
  int64_t inference_header_length = -1;  // Inference-Header-Content-Length, -1 when absent
  bool bad_inference_header = false;     // present but not a number
  std::shared_ptr<std::string> body;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::pair<const void*, size_t>> blobs;  // sent after body, without copies
  std::shared_ptr<const void> storage;                // keeps the blobs alive
};

using ReplyFn = std::function<void(HttpReply)>;

class HttpApi {
 public:
  // metrics_only: the --metrics-port listener (only /metrics).
  HttpApi(ServerState& state, bool metrics_only) : state_(state), metrics_only_(metrics_only) {}
  void handle(HttpRequest request, ReplyFn reply);

 private:
  void infer(const std::string& model, const std::string& version, HttpRequest request,
             ReplyFn reply);
  ServerState& state_;
  bool metrics_only_;
};

HttpReply json_reply(int status, std::string body);
HttpReply error_reply(int status, const std::string& message);

}  // namespace keel::serve
