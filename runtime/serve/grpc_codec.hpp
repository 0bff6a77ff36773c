// The gRPC form of the protocol: a ModelInferRequest message into an InferRequest. Raw input
// contents are viewed in place (the message must outlive the request); typed contents
// (fp32_contents, ...) are converted into buffers the request owns.
#pragma once

#include <memory>

#include "serve/inference.grpc.pb.h"
#include "serve/inference.hpp"

namespace keel::serve {

// `req` is kept alive by the caller until the request finishes; model, version and id are
// copied from it. The request's outputs are all sent as raw contents.
Outcome decode_model_infer_request(const inference::ModelInferRequest& req, InferRequest* out);

}  // namespace keel::serve
