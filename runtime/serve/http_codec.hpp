// The HTTP/JSON form of the protocol: an infer request body (JSON, optionally followed by
// binary tensors: Triton's binary tensor extension) into an InferRequest that views the body
// in place, and an InferResult into the JSON header plus the output blobs of one response.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serve/inference.hpp"

namespace keel::serve {

// `body` is kept alive by the request; `header_length` is Inference-Header-Content-Length
// (-1 when absent: the whole body is JSON).
Outcome decode_infer_request(std::shared_ptr<const std::string> body, int64_t header_length,
                             InferRequest* out);

struct EncodedResponse {
  std::string json;
  std::vector<std::pair<const void*, size_t>> blobs;  // after the JSON, in output order
  bool binary() const { return !blobs.empty(); }
};
EncodedResponse encode_infer_result(const InferResult& result);

// {"error": "..."}
std::string error_json(const std::string& message);

}  // namespace keel::serve
