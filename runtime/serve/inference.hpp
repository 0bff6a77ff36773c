// One inference request and its result, independent of the protocol that carried them: the
// HTTP and gRPC front ends decode into InferRequest (viewing the request's bytes in place) and
// encode an InferResult (viewing the run's output memory), so no tensor is copied between the
// socket and the kernels except into a batch.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/status.hpp"

namespace keel::serve {

using Clock = std::chrono::steady_clock;

// What the protocols distinguish (HTTP status and gRPC code): keel's own status codes plus
// "not found" and "unavailable", which only a server has.
enum class Code {
  kOk,
  kInvalidArgument,
  kNotFound,
  kTooLarge,
  kUnavailable,
  kUnsupported,
  kInternal
};

struct Outcome {
  Code code = Code::kOk;
  std::string message;
  bool ok() const { return code == Code::kOk; }
  static Outcome of(const Status& st);
  static Outcome error(Code code, std::string message) { return {code, std::move(message)}; }
};
int http_status(Code code);

struct InputTensor {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // row-major, `bytes` long, inside InferRequest::storage
  size_t bytes = 0;
};

struct RequestedOutput {
  std::string name;
  bool binary = false;  // HTTP: send as a binary blob rather than JSON `data`
};

struct InferRequest {
  std::string model, version;  // version "" = the newest ready one
  std::string id;
  std::vector<InputTensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output
  bool binary_by_default = false;        // for outputs not named in `outputs`
  uint64_t timeout_us = 0;               // 0: the model's default queue timeout
  std::shared_ptr<const void> storage;   // keeps the bytes the inputs view alive
  Clock::time_point received = Clock::now();
};

struct OutputTensor {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // inside InferResult::storage
  size_t bytes = 0;
  bool binary = false;
};

struct InferResult {
  Outcome status;
  std::string model, version, id;
  std::vector<OutputTensor> outputs;
  std::shared_ptr<const void> storage;  // keeps the output memory alive
};

// Called exactly once per submitted request, on a compute thread (or on the submitting thread
// when the request is refused before it is queued).
using InferDone = std::function<void(InferResult)>;

}  // namespace keel::serve
