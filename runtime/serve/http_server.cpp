#include "serve/http_server.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>

#include "serve/log.hpp"

namespace keel::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(net::io_context& io, HttpApi& api, ServerState& state, HttpLimits limits)
      : io(io), acceptor(io), api(api), state(state), limits(limits) {}
  net::io_context& io;
  tcp::acceptor acceptor;
  HttpApi& api;
  ServerState& state;
  HttpLimits limits;
  std::atomic<int> connections{0};
  std::atomic<bool> accepting{true};

  void accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    server_->connections.fetch_add(1);
  }
  ~Connection() { server_->connections.fetch_sub(1); }

  void start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    read_header();
  }

  // Over the connection limit: one 503, then close.
  void refuse() { send_and_close(error_reply(503, "too many connections")); }

 private:
  void read_header() {
    parser_.emplace();
    parser_->body_limit(server_->limits.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(server_->limits.max_header_bytes));
    // The first request may take the whole request timeout; later ones may idle first.
    stream_.expires_after(std::chrono::seconds(requests_ == 0 ? server_->limits.request_timeout_s
                                                              : server_->limits.idle_timeout_s));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    stream_.expires_after(std::chrono::seconds(server_->limits.request_timeout_s));
    const auto& req = parser_->get();
    if (auto len = parser_->content_length(); len && *len > server_->limits.max_body_bytes) {
      return send_and_close(error_reply(
          413, "the request body (" + std::to_string(*len) + " bytes) is over the limit of " +
                   std::to_string(server_->limits.max_body_bytes) + " (--http-max-input-size)"));
    }
    auto expect = req.find(http::field::expect);
    if (expect != req.end() && beast::iequals(expect->value(), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    const auto length = parser_->content_length();
    if (!length || parser_->chunked()) {
      http::async_read(
          stream_, buffer_, *parser_,
          [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
      return;
    }
    // A body of known length is read straight into its final string: one or a few large
    // reads, where the parser would take it through the buffer in small pieces (at 602 KB
    // that cost milliseconds). What the header read already buffered is moved first.
    body_ = std::make_shared<std::string>(static_cast<size_t>(*length), '\0');
    const size_t have = std::min<size_t>(buffer_.size(), body_->size());
    net::buffer_copy(net::buffer(body_->data(), have), buffer_.data());
    buffer_.consume(have);
    if (have == body_->size()) return on_body({});
    net::async_read(stream_, net::buffer(body_->data() + have, body_->size() - have),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return self->on_read_error(ec);
                      self->on_body({});
                    });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return send_and_close(error_reply(413, "the request body is over the limit of " +
                                                 std::to_string(server_->limits.max_body_bytes) +
                                                 " bytes (--http-max-input-size)"));
    }
    if (ec == http::error::header_limit) {
      return send_and_close(error_reply(431, "the request header is over the limit of " +
                                                 std::to_string(server_->limits.max_header_bytes) +
                                                 " bytes"));
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted ||
        ec == http::error::partial_message) {
      return close();  // the peer left, or was too slow: nothing to answer
    }
    // Malformed HTTP: say so, then close (the stream cannot be resynchronised).
    send_and_close(error_reply(400, "malformed HTTP request: " + ec.message()));
  }

  void on_body(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    stream_.expires_never();
    ++requests_;
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto h = req.find("Inference-Header-Content-Length");  // field lookup is case-insensitive
    if (h != req.end()) {
      const auto v = h->value();
      int64_t n = -1;
      auto [ptr, err] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (err != std::errc() || ptr != v.data() + v.size() || n < 0) {
        r.bad_inference_header = true;
      } else {
        r.inference_header_length = n;
      }
    }
    head_ = r.method == "HEAD";
    r.body = body_ ? std::move(body_) : std::make_shared<std::string>(std::move(req.body()));
    parser_.reset();
    auto in_flight = std::make_shared<InFlight>(server_->state);
    auto self = shared_from_this();
    server_->api.handle(std::move(r), [self, in_flight](HttpReply reply) {
      // The reply may come from a compute thread: write from the connection's executor.
      net::post(self->stream_.get_executor(),
                [self, in_flight, reply = std::move(reply)]() mutable {
                  self->write(std::move(reply), std::move(in_flight));
                });
    });
  }

  void write(HttpReply reply, std::shared_ptr<InFlight> in_flight) {
    reply_ = std::move(reply);
    const bool keep = keep_alive_ && !server_->state.draining;
    size_t length = reply_.body.size();
    for (const auto& [p, n] : reply_.blobs) length += n;
    head_text_.clear();
    head_text_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head_text_ += std::to_string(reply_.status);
    head_text_ += ' ';
    head_text_ += reason_phrase(reply_.status);
    head_text_ += "\r\nServer: keel\r\nContent-Type: ";
    head_text_ += reply_.content_type;
    head_text_ += "\r\nContent-Length: ";
    head_text_ += std::to_string(length);
    for (const auto& [k, v] : reply_.headers) head_text_ += "\r\n" + k + ": " + v;
    head_text_ +=
        keep ? (version_ == 10 ? "\r\nConnection: keep-alive" : "") : "\r\nConnection: close";
    head_text_ += "\r\n\r\n";
    buffers_.clear();
    buffers_.emplace_back(head_text_.data(), head_text_.size());
    if (!head_) {
      buffers_.emplace_back(reply_.body.data(), reply_.body.size());
      for (const auto& [p, n] : reply_.blobs) buffers_.emplace_back(p, n);
    }
    stream_.expires_after(std::chrono::seconds(server_->limits.request_timeout_s));
    net::async_write(stream_, buffers_,
                     [self = shared_from_this(), keep, in_flight](beast::error_code ec, size_t) {
                       self->reply_ = HttpReply();  // release the outputs before the next read
                       if (ec || !keep) return self->close();
                       self->read_header();
                     });
  }

  void send_and_close(HttpReply reply) {
    keep_alive_ = false;
    write(std::move(reply), nullptr);
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<std::string> body_;  // a body of known length, read past the parser
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
  int64_t requests_ = 0;
  HttpReply reply_;
  std::string head_text_;
  std::vector<net::const_buffer> buffers_;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(io),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          if (!self->accepting) return;
                          if (!ec) {
                            auto conn = std::make_shared<Connection>(std::move(socket), self);
                            if (self->connections.load() > self->limits.max_connections) {
                              conn->refuse();
                            } else {
                              conn->start();
                            }
                          } else if (ec == net::error::operation_aborted) {
                            return;
                          }
                          self->accept();
                        });
}

HttpServer::HttpServer(net::io_context& io, HttpApi& api, ServerState& state, HttpLimits limits)
    : impl_(std::make_shared<Impl>(io, api, state, limits)) {}

HttpServer::~HttpServer() { stop_accepting(); }

Status HttpServer::listen(const std::string& address, int port) {
  beast::error_code ec;
  const auto addr = net::ip::make_address(address, ec);
  if (ec) return invalid_argument("'" + address + "' is not an IP address");
  const tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return invalid_argument("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                            ec.message());
  }
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  return Status::ok();
}

void HttpServer::stop_accepting() {
  if (!impl_->accepting.exchange(false)) return;
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace keel::serve
