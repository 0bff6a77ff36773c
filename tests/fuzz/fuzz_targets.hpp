// The libFuzzer targets' bodies, as plain functions: the fuzz executables (fuzz_main.cpp, built
// with clang and -fsanitize=fuzzer under the asan preset) call them, and test_fuzz_inputs
// replays every committed seed and every input that ever crashed through them in the normal
// test suite, with any compiler.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keel::fuzz {

// Bytes as an ONNX model: load (all passes), plan, and one run on small seeded inputs.
int load_model(const uint8_t* data, size_t size);
// Bytes as a .npy file.
int npy(const uint8_t* data, size_t size);
// Bytes as one request to keel serve's HTTP/REST API (first byte even) or one gRPC
// ModelInferRequest (first byte odd), answered by a repository serving
// tests/fuzz/serve_model/model.onnx.
int serve_request(const uint8_t* data, size_t size);

}  // namespace keel::fuzz
