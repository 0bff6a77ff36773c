#include "serve/server.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <tbb/task_arena.h>

#include <boost/asio.hpp>
#include <cmath>
#include <fstream>
#include <thread>
#include <vector>

#include "serve/grpc_server.hpp"
#include "serve/http_api.hpp"
#include "serve/metrics.hpp"
#include "serve/repository.hpp"

namespace keel::serve {

namespace net = boost::asio;

int available_cpus() {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  double quota = -1;
  {
    std::ifstream f("/sys/fs/cgroup/cpu.max");  // cgroup v2: "max 100000" or "200000 100000"
    std::string q;
    double period = 0;
    if (f >> q >> period && q != "max" && period > 0) quota = std::stod(q) / period;
  }
  if (quota < 0) {
    std::ifstream fq("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        fp("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    double q = -1, p = 0;
    if (fq >> q && fp >> p && q > 0 && p > 0) quota = q / p;
  }
  if (quota > 0) cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(quota))));
  return cpus;
}

Status run_server(const ServerOptions& o) {
  Log::configure(o.log_format, o.log_verbose);
  // Signals are taken by sigtimedwait below; every thread created from here on blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const int threads = o.threads > 0 ? o.threads : available_cpus();
  tbb::task_arena arena(threads);
  arena.initialize();
  MetricsRegistry metrics;
  RepositoryOptions ro;
  ro.repository_dir = o.repository_dir;
  ro.model_path = o.model_path;
  ro.model_name = o.model_name;
  ro.default_max_batch_size = o.default_max_batch_size;
  ro.model_defaults.precision = o.precision;
  ro.model_defaults.max_memory_bytes = o.max_memory_bytes;
  ro.arena = &arena;
  Repository repository(ro, metrics);
  ServerState state;
  state.repository = &repository;
  state.metrics = &metrics;

  net::io_context io;
  auto work = net::make_work_guard(io);
  HttpApi api(state, false), metrics_api(state, true);
  std::unique_ptr<HttpServer> http, metrics_http;
  Log::Fields started = {{"threads", std::to_string(threads)}};
  if (o.http_port >= 0) {
    http = std::make_unique<HttpServer>(io, api, state, o.http);
    KEEL_RETURN_IF_ERROR(http->listen(o.http_address, o.http_port));
    started.emplace_back("http_port", std::to_string(http->port()));
  }
  if (o.metrics_port == 0 || (o.metrics_port > 0 && o.metrics_port != o.http_port)) {
    metrics_http = std::make_unique<HttpServer>(io, metrics_api, state, o.http);
    KEEL_RETURN_IF_ERROR(metrics_http->listen(o.http_address, o.metrics_port));
    started.emplace_back("metrics_port", std::to_string(metrics_http->port()));
  }
  GrpcServer grpc(state);
  if (o.grpc_port >= 0) {
    KEEL_RETURN_IF_ERROR(grpc.start(o.http_address, o.grpc_port, o.grpc_max_message_bytes));
    started.emplace_back("grpc_port", std::to_string(grpc.port()));
  }
  std::vector<std::thread> io_threads;
  for (int i = 0; i < std::max(1, o.io_threads); ++i) io_threads.emplace_back([&io] { io.run(); });
  Log::write("info", "server_listening", started);

  // Live now, ready once the models are loaded and warm.
  repository.scan();
  state.loaded = true;
  Log::write(state.ready() ? "info" : "error", state.ready() ? "server_ready" : "no_model_ready");

  const double tick = o.poll ? std::max(0.1, o.poll_secs) : 1.0;
  int signal_number = 0;
  for (;;) {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(tick);
    ts.tv_nsec = static_cast<long>((tick - static_cast<double>(ts.tv_sec)) * 1e9);
    signal_number = sigtimedwait(&signals, nullptr, &ts);
    if (signal_number > 0) break;
    if (o.poll) repository.scan();
  }

  Log::write("info", "server_draining",
             {{"signal", std::to_string(signal_number)},
              {"in_flight", std::to_string(state.in_flight.load())}});
  state.draining = true;
  if (http) http->stop_accepting();
  if (metrics_http) metrics_http->stop_accepting();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(o.exit_timeout_s * 1000));
  while (state.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t left = state.in_flight.load();
  // Time is up: queued requests are answered 503 rather than run; the batches already running
  // finish (a model run cannot be interrupted), and their answers and the 503s are written
  // before the I/O threads stop.
  repository.stop_accepting();
  if (left > 0) {
    repository.cancel_queued(
        Outcome::error(Code::kUnavailable, "the server shut down before the request ran"));
  }
  repository.stop();
  const auto flush_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (state.in_flight.load() > 0 && std::chrono::steady_clock::now() < flush_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  grpc.shutdown(0.2);
  work.reset();
  io.stop();
  for (std::thread& t : io_threads) t.join();
  Log::write(left ? "warning" : "info", "server_stopped",
             {{"in_flight_at_exit_timeout", std::to_string(left)}});
  return Status::ok();
}

}  // namespace keel::serve
