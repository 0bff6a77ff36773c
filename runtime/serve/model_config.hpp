// A served model's configuration: Triton's config.pbtxt (read with protobuf's text format
// against keel's own ModelConfig message, so an unknown field is an error naming it),
// completed from the loaded model the way Triton completes an ONNX model's configuration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "keel/keel.hpp"
#include "serve/inference.pb.h"

namespace keel::serve {

struct TensorConfig {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> dims;  // without the batch dim when max_batch_size > 0; -1 = any
};

struct ServedModelConfig {
  std::string name;
  int max_batch_size = 0;  // 0: no batching; > 0: dim 0 of every input and output is the batch
  std::vector<TensorConfig> inputs, outputs;
  int instances = 1;  // batches of this model that may run at once
  bool dynamic_batching = false;
  std::vector<int> preferred_batch_sizes;
  uint64_t max_queue_delay_us = 0;
  uint32_t max_queue_size = 0;      // 0: unbounded
  uint64_t default_timeout_us = 0;  // 0: none
  bool delay_on_timeout = false;    // timeout_action DELAY (else REJECT)
  inference::ModelConfig proto;     // the completed configuration, as the config endpoints show it
};

// Reads DIR/config.pbtxt; an absent file gives an empty configuration.
Result<inference::ModelConfig> read_config_file(const std::string& path);
// keel's model options from the configuration's `parameters` (layout, winograd, precision,
// fp32_ops: a comma-separated list of operator types), over `defaults`; an unknown
// key or value is an error naming it.
Result<ModelOptions> model_options_from_config(const inference::ModelConfig& config,
                                               const ModelOptions& defaults = {});
// Fills what the configuration leaves out from the model (inputs, outputs, max_batch_size) and
// checks what it gives against it. `default_max_batch_size` is used when the configuration has
// no max_batch_size (an explicit 0 means no batching) and every input and output has a
// dynamic first dim.
Result<ServedModelConfig> complete_config(inference::ModelConfig config, const std::string& name,
                                          const Model& model, int default_max_batch_size);
// Triton's JSON form of a configuration (GET /v2/models/{m}/config).
std::string config_to_json(const inference::ModelConfig& config);

}  // namespace keel::serve
