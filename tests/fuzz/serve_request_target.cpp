#include <tbb/task_arena.h>

#include <future>
#include <memory>
#include <string>

#include "fuzz_targets.hpp"
#include "serve/grpc_codec.hpp"
#include "serve/http_api.hpp"
#include "serve/repository.hpp"
#include "serve/server_state.hpp"

namespace keel::fuzz {

namespace {

// One repository for the process, as keel serve holds it: the model is loaded once.
struct Served {
  Served() : arena(1) {
    arena.initialize();
    serve::RepositoryOptions options;
    options.model_path = KEEL_SOURCE_DIR "/tests/fuzz/serve_model";
    options.model_name = "m";
    options.model_defaults.max_memory_bytes = size_t{64} << 20;
    options.arena = &arena;
    repository = std::make_unique<serve::Repository>(options, metrics);
    repository->scan();
    state.repository = repository.get();
    state.metrics = &metrics;
    state.loaded = true;
    api = std::make_unique<serve::HttpApi>(state, false);
  }
  tbb::task_arena arena;
  serve::MetricsRegistry metrics;
  std::unique_ptr<serve::Repository> repository;
  serve::ServerState state;
  std::unique_ptr<serve::HttpApi> api;
};

Served& served() {
  static Served s;
  return s;
}

// "METHOD TARGET\nHEADER-LENGTH\nBODY": the parts Beast would have parsed out of a request.
void http(const std::string& text) {
  serve::HttpRequest request;
  const size_t line = text.find('\n');
  const std::string first = text.substr(0, line);
  const size_t space = first.find(' ');
  request.method = first.substr(0, space);
  request.target = space == std::string::npos ? "/" : first.substr(space + 1);
  std::string rest = line == std::string::npos ? "" : text.substr(line + 1);
  const size_t line2 = rest.find('\n');
  const std::string header = rest.substr(0, line2);
  rest = line2 == std::string::npos ? "" : rest.substr(line2 + 1);
  if (!header.empty()) {
    try {
      size_t used = 0;
      request.inference_header_length = std::stoll(header, &used);
      request.bad_inference_header = used != header.size();
    } catch (const std::exception&) {
      request.bad_inference_header = true;
    }
  }
  request.body = std::make_shared<std::string>(std::move(rest));
  std::promise<void> answered;
  served().api->handle(std::move(request), [&answered](serve::HttpReply) { answered.set_value(); });
  answered.get_future().wait();
}

void grpc(const uint8_t* data, size_t size) {
  inference::ModelInferRequest message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;
  serve::InferRequest request;
  if (!serve::decode_model_infer_request(message, &request).ok()) return;
  serve::Outcome why;
  auto runner = served().repository->find(request.model, request.version, &why);
  if (!runner) return;
  std::promise<void> answered;
  runner->submit(std::move(request), [&answered](serve::InferResult) { answered.set_value(); });
  answered.get_future().wait();
}

}  // namespace

int serve_request(const uint8_t* data, size_t size) {
  if (size == 0 || size > (size_t{1} << 24)) return 0;
  if ((data[0] & 1) == 0) {
    http(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    grpc(data + 1, size - 1);
  }
  return 0;
}

}  // namespace keel::fuzz
