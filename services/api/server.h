// The API's gRPC server: SubscriptionService, EventService, DeliveryService,
// gRPC health
// checking and server reflection, on one listening address.
#ifndef WEBHOOKS_SERVICES_API_SERVER_H_
#define WEBHOOKS_SERVICES_API_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/metrics/api_metrics.h"
#include "services/api/services.h"

namespace webhooks::api {

struct ServerOptions {
  // host:port; port 0 picks a free one (see ApiServer::port).
  std::string listen_address = "127.0.0.1:50051";
  // Bounds the handler threads, and so the blocking database work, at once.
  int max_threads = 64;
  int max_receive_message_bytes = 16 * 1024 * 1024;
  // gRPC server reflection. It answers without a token: it exposes only the
  // API's schema (the .proto files in this repository), no data. Turn it off
  // where even that is unwanted.
  bool enable_reflection = true;
  // Records every call when set; must outlive the server.
  metrics::ApiMetrics* metrics = nullptr;
  // max_in_flight defaults and bounds.
  SubscriptionServiceConfig subscription_service;
};

// The health service name that answers SERVING for as long as the server
// takes calls, the shutdown delay included: for liveness probes. "" and the
// API's services turn NOT_SERVING when shutdown begins: for readiness.
inline constexpr absl::string_view kLivenessService = "liveness";

class ApiServer {
 public:
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(
      const ServerOptions& options, ServiceDeps deps);
  ~ApiServer();

  int port() const { return port_; }
  // Health turns NOT_SERVING (so that load balancers and Kubernetes stop
  // sending calls); calls are still served. Shutdown calls it too.
  void StopServingHealth();
  // Stops accepting calls; in-flight ones get until `deadline`, then are
  // cancelled. Health turns NOT_SERVING first.
  void Shutdown(absl::Time deadline);
  void Wait();

 private:
  ApiServer(ServiceDeps deps, const SubscriptionServiceConfig& subscriptions)
      : subscriptions_(deps, subscriptions), events_(deps), deliveries_(deps) {}

  SubscriptionServiceImpl subscriptions_;
  EventServiceImpl events_;
  DeliveryServiceImpl deliveries_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_SERVER_H_
