// HTTP/1.1 transport on Boost.Beast: asynchronous, a few I/O threads for every connection
// (keep-alive without a thread per connection), TCP_NODELAY, and each response sent in one
// gathered write (headers, JSON, output blobs). Every limit has a name, a default and an
// error: body size (413), header size (431), time to receive a request (closed), idle
// keep-alive time (closed), connection count (503 and closed).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "core/status.hpp"
#include "serve/http_api.hpp"

namespace boost::asio {
class io_context;
}

namespace keel::serve {

struct HttpLimits {
  size_t max_body_bytes = size_t{64} << 20;
  size_t max_header_bytes = size_t{64} << 10;
  int request_timeout_s = 30;  // from the first byte of a request to its last
  int idle_timeout_s = 300;    // between requests on a keep-alive connection
  int max_connections = 1024;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, HttpApi& api, ServerState& state, HttpLimits limits);
  ~HttpServer();
  // Binds and starts accepting; port 0 picks a free one (see port()).
  Status listen(const std::string& address, int port);
  int port() const { return port_; }
  // Closes the listening socket; open connections finish their request and close.
  void stop_accepting();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace keel::serve
