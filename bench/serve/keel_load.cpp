// keel_load: a closed-loop load generator for the KServe v2 HTTP protocol, so that a server's
// throughput on this 2-core machine is not bounded by a Python client's own CPU time. N
// connections (keep-alive, TCP_NODELAY), each sending one binary-tensor infer request (the
// Triton binary extension, as tritonclient sends by default) and waiting for its answer.
//
//   keel_load --port P --model m --input x.npy [--input-name input] [--concurrency 16]
//             [--requests 400] [--json-output]
// Prints one JSON line: requests, failures, seconds, rps, p50_ms, p90_ms, p99_ms.
// clang-format off
#include <utility>  // first: Boost 1.74's asio uses std::exchange without including it
// clang-format on
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/npy.hpp"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

int main(int argc, char** argv) {
  std::string host = "127.0.0.1", model = "m", input_path, input_name = "input";
  int port = 8000, concurrency = 16, requests = 400;
  bool json_output = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--host")
      host = next();
    else if (a == "--port")
      port = std::stoi(next());
    else if (a == "--model")
      model = next();
    else if (a == "--input")
      input_path = next();
    else if (a == "--input-name")
      input_name = next();
    else if (a == "--concurrency")
      concurrency = std::stoi(next());
    else if (a == "--requests")
      requests = std::stoi(next());
    else if (a == "--json-output")
      json_output = true;
    else {
      std::fprintf(stderr, "keel_load: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto x = keel::read_npy(input_path);
  if (!x.is_ok()) {
    std::fprintf(stderr, "keel_load: %s\n", x.status().to_string().c_str());
    return 2;
  }
  std::string shape;
  for (int64_t d : x->shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
  const std::string header =
      "{\"inputs\":[{\"name\":\"" + input_name + "\",\"datatype\":\"FP32\",\"shape\":[" + shape +
      "],\"parameters\":{\"binary_data_size\":" + std::to_string(x->nbytes()) +
      "}}],\"parameters\":{\"binary_data_output\":" + (json_output ? "false" : "true") + "}}";
  std::string body = header;
  body.append(static_cast<const char*>(x->data()), x->nbytes());
  const std::string target = "/v2/models/" + model + "/infer";

  const int per = std::max(1, requests / concurrency);
  std::vector<std::vector<double>> lat(static_cast<size_t>(concurrency));
  std::atomic<int> failures{0};
  auto client = [&](int k) {
    try {
      net::io_context io;
      tcp::resolver resolver(io);
      beast::tcp_stream stream(io);
      stream.connect(resolver.resolve(host, std::to_string(port)));
      stream.socket().set_option(tcp::no_delay(true));
      http::request<http::string_body> req{http::verb::post, target, 11};
      req.set(http::field::host, host);
      req.set(http::field::content_type, "application/octet-stream");
      req.set("Inference-Header-Content-Length", std::to_string(header.size()));
      req.body() = body;
      req.prepare_payload();
      beast::flat_buffer buffer;
      for (int i = 0; i < per + 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (res.result_int() != 200) failures.fetch_add(1);
        if (i >= 3) lat[static_cast<size_t>(k)].push_back(ms);  // 3 warm-up requests each
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "keel_load: client %d: %s\n", k, e.what());
      failures.fetch_add(per);
    }
  };
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < concurrency; ++k) threads.emplace_back(client, k);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1,
                                      static_cast<size_t>(p / 100 * (all.size() - 1) + 0.5))];
  };
  // Warm-up requests are inside `seconds` too: count them in the rate.
  const double total = static_cast<double>(all.size() + 3 * static_cast<size_t>(concurrency));
  std::printf(
      "{\"requests\": %zu, \"failures\": %d, \"seconds\": %.4f, \"rps\": %.3f, \"p50_ms\": %.4f, "
      "\"p90_ms\": %.4f, \"p99_ms\": %.4f}\n",
      all.size(), failures.load(), seconds, total / seconds, pct(50), pct(90), pct(99));
  return failures.load() ? 1 : 0;
}
