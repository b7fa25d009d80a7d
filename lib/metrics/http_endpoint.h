// A small HTTP server for operators: GET /metrics (Prometheus text format of a
// registry), /healthz (the process is alive and not wedged) and /readyz (the
// caller's readiness check). Runs its own threads.
#ifndef WEBHOOKS_LIB_METRICS_HTTP_ENDPOINT_H_
#define WEBHOOKS_LIB_METRICS_HTTP_ENDPOINT_H_

#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace webhooks::metrics {

class HttpEndpoint {
 public:
  // OK means ready; otherwise /readyz answers 503 with the message.
  using ReadinessCheck = std::function<absl::Status()>;

  // Listens on `address` ("host:port"; port 0 picks one). UNAVAILABLE when it
  // cannot bind. `registry` must outlive the endpoint. /readyz answers 503
  // when `readiness` fails, /healthz when `liveness` does (null: always ok).
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& address, prometheus::Registry* registry,
      ReadinessCheck readiness, ReadinessCheck liveness = nullptr);
  virtual ~HttpEndpoint() = default;
  virtual int port() const = 0;
};

}  // namespace webhooks::metrics

#endif  // WEBHOOKS_LIB_METRICS_HTTP_ENDPOINT_H_
