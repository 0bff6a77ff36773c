#include "serve/http_api.hpp"

#include <nlohmann/json.hpp>
#include <string_view>

#include "keel/version.hpp"
#include "serve/datatype.hpp"
#include "serve/http_codec.hpp"
#include "serve/log.hpp"

namespace keel::serve {

using nlohmann::json;

namespace {

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Splits a path into its segments, %-decoding each; false for a malformed escape.
bool split_path(std::string_view target, std::vector<std::string>* parts) {
  const size_t q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  std::string cur;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i <= target.size(); ++i) {
    if (i == target.size() || target[i] == '/') {
      if (!cur.empty()) parts->push_back(std::move(cur));
      cur.clear();
    } else if (target[i] == '%') {
      if (i + 2 >= target.size()) return false;
      const int hi = hex(target[i + 1]), lo = hex(target[i + 2]);
      if (hi < 0 || lo < 0) return false;
      cur += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      cur += target[i];
    }
  }
  return true;
}

json tensor_metadata(const std::vector<TensorConfig>& list, int max_batch_size) {
  json arr = json::array();
  for (const TensorConfig& t : list) {
    std::vector<int64_t> shape = t.dims;
    if (max_batch_size > 0) shape.insert(shape.begin(), -1);
    arr.push_back({{"name", t.name}, {"datatype", datatype_name(t.dtype)}, {"shape", shape}});
  }
  return arr;
}

}  // namespace

HttpReply json_reply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpReply error_reply(int status, const std::string& message) {
  return json_reply(status, error_json(message));
}

void HttpApi::handle(HttpRequest request, ReplyFn reply) {
  std::vector<std::string> p;
  if (!split_path(request.target, &p)) return reply(error_reply(400, "malformed URL escape"));
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (p.size() == 1 && p[0] == "metrics") {
    if (!get) return reply(error_reply(405, "use GET for /metrics"));
    HttpReply r = json_reply(200, state_.metrics->render());
    r.content_type = "text/plain; version=0.0.4";
    return reply(std::move(r));
  }
  if (metrics_only_) return reply(error_reply(404, "this port serves /metrics only"));
  if (p.empty() || p[0] != "v2")
    return reply(error_reply(404, "unknown endpoint '" + request.target + "'"));
  if (p.size() == 1) {
    if (!get) return reply(error_reply(405, "use GET"));
    return reply(json_reply(
        200, dump({{"name", "keel"},
                   {"version", std::string(keel::version())},
                   {"extensions", {"binary_tensor_data", "model_configuration", "parameters"}}})));
  }
  if (p[1] == "health" && p.size() == 3) {
    if (!get) return reply(error_reply(405, "use GET"));
    if (p[2] == "live") return reply(json_reply(200, dump({{"live", state_.live()}})));
    if (p[2] == "ready") {
      const bool ready = state_.ready();
      return reply(json_reply(ready ? 200 : 503, dump({{"ready", ready}})));
    }
  }
  if (p[1] != "models" || p.size() < 3) {
    return reply(error_reply(404, "unknown endpoint '" + request.target + "'"));
  }
  // /v2/models/{m}[/versions/{v}][/ready|/config|/infer]
  const std::string& model = p[2];
  std::string version;
  size_t next = 3;
  if (p.size() >= 5 && p[3] == "versions") {
    version = p[4];
    next = 5;
  }
  const std::string action = p.size() > next ? p[next] : "";
  if (p.size() > next + 1 ||
      (!action.empty() && action != "ready" && action != "config" && action != "infer")) {
    return reply(error_reply(404, "unknown endpoint '" + request.target + "'"));
  }
  if (action == "infer") {
    if (!post) return reply(error_reply(405, "use POST for infer"));
    return infer(model, version, std::move(request), std::move(reply));
  }
  if (!get) return reply(error_reply(405, "use GET"));
  Outcome why;
  auto runner = state_.repository->find(model, version, &why);
  if (action == "ready") {
    const bool ready = runner != nullptr && !state_.draining;
    json j = {{"name", model}, {"ready", ready}};
    if (!version.empty()) j["version"] = version;
    if (!runner && why.code == Code::kNotFound) return reply(error_reply(404, why.message));
    return reply(json_reply(ready ? 200 : 503, dump(j)));
  }
  if (!runner) return reply(error_reply(http_status(why.code), why.message));
  const ServedModelConfig& c = runner->config();
  if (action == "config") return reply(json_reply(200, config_to_json(c.proto)));
  return reply(json_reply(200, dump({{"name", model},
                                     {"versions", {runner->version()}},
                                     {"platform", c.proto.platform()},
                                     {"inputs", tensor_metadata(c.inputs, c.max_batch_size)},
                                     {"outputs", tensor_metadata(c.outputs, c.max_batch_size)}})));
}

void HttpApi::infer(const std::string& model, const std::string& version, HttpRequest request,
                    ReplyFn reply) {
  if (state_.draining) return reply(error_reply(503, "the server is shutting down"));
  if (request.bad_inference_header) {
    return reply(error_reply(400, "Inference-Header-Content-Length is not a number"));
  }
  Outcome why;
  auto runner = state_.repository->find(model, version, &why);
  if (!runner) return reply(error_reply(http_status(why.code), why.message));
  InferRequest r;
  r.model = model;
  r.version = version;
  Outcome decoded = decode_infer_request(request.body, request.inference_header_length, &r);
  if (!decoded.ok()) {
    if (Log::verbose())
      Log::write("info", "bad_request", {{"model", model}, {"error", decoded.message}});
    return reply(error_reply(http_status(decoded.code), decoded.message));
  }
  runner->submit(std::move(r), [reply = std::move(reply)](InferResult result) {
    if (!result.status.ok()) {
      if (Log::verbose())
        Log::write("info", "infer_failed",
                   {{"model", result.model}, {"error", result.status.message}});
      return reply(error_reply(http_status(result.status.code), result.status.message));
    }
    EncodedResponse enc = encode_infer_result(result);
    HttpReply out = json_reply(200, std::move(enc.json));
    if (enc.binary()) {
      out.content_type = "application/octet-stream";
      out.headers.emplace_back("Inference-Header-Content-Length", std::to_string(out.body.size()));
      out.blobs = std::move(enc.blobs);
      out.storage = result.storage;
    }
    reply(std::move(out));
  });
}

}  // namespace keel::serve
