#include "lib/metrics/http_endpoint.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace webhooks::metrics {
namespace {

class HttplibEndpoint final : public HttpEndpoint {
 public:
  ~HttplibEndpoint() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const override { return port_; }

  absl::Status Start(const std::string& address, prometheus::Registry* registry,
                     ReadinessCheck readiness, ReadinessCheck liveness) {
    const auto colon = address.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics address must be host:port: ", address));
    }
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    server_.Get("/metrics", [registry](const httplib::Request&,
                                       httplib::Response& response) {
      response.set_content(
          prometheus::TextSerializer().Serialize(registry->Collect()),
          "text/plain; version=0.0.4; charset=utf-8");
    });
    auto check = [](ReadinessCheck probe, std::string ok) {
      return [probe = std::move(probe), ok = std::move(ok)](
                 const httplib::Request&, httplib::Response& response) {
        absl::Status status = probe ? probe() : absl::OkStatus();
        if (status.ok()) {
          response.set_content(ok, "text/plain");
        } else {
          response.status = 503;
          response.set_content(absl::StrCat(status.message(), "\n"),
                               "text/plain");
        }
      };
    };
    server_.Get("/healthz", check(std::move(liveness), "ok\n"));
    server_.Get("/readyz", check(std::move(readiness), "ready\n"));
    port_ = port == 0 ? server_.bind_to_any_port(host)
                      : (server_.bind_to_port(host, port) ? port : -1);
    if (port_ <= 0)
      return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
    thread_ = std::thread([this] {
      server_.listen_after_bind();
      listen_returned_ = true;
    });
    // httplib 0.11's stop() does nothing until the listen loop has begun
    // (is_running()): a stop that came earlier was lost, and the destructor
    // then waited for ever for a loop nothing would end. The loop begins
    // within microseconds of the thread's start.
    while (!server_.is_running() && !listen_returned_) {
      std::this_thread::yield();
    }
    return absl::OkStatus();
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    const std::string& address, prometheus::Registry* registry,
    ReadinessCheck readiness, ReadinessCheck liveness) {
  auto endpoint = std::make_unique<HttplibEndpoint>();
  absl::Status status = endpoint->Start(address, registry, std::move(readiness),
                                        std::move(liveness));
  if (!status.ok()) return status;
  return endpoint;
}

}  // namespace webhooks::metrics
