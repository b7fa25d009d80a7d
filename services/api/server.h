// The API's gRPC server: SubscriptionService, EventService, DeliveryService,
// gRPC health
// checking and server reflection, on one listening address.
#ifndef WEBHOOKS_SERVICES_API_SERVER_H_
#define WEBHOOKS_SERVICES_API_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/metrics/api_metrics.h"
#include "services/api/services.h"

namespace webhooks::api {

// The server's TLS material, as PEM text (not paths: the caller reads the
// files once, at start, so that a rotated file takes effect on a restart, as
// the API tokens do). TLS here is transport only: who may do what is still
// decided by the bearer token of every call, a client certificate grants
// nothing by itself.
struct TlsFiles {
  // The server's certificate, then the intermediates up to (not including)
  // the root its clients trust.
  std::string cert_chain_pem;
  // The private key of the first certificate of the chain. A secret: never
  // logged, never part of an error.
  std::string private_key_pem;
  // Empty: TLS only, no client certificate asked for. Otherwise mutual TLS:
  // the CAs (one or more certificates) that issue client certificates; a
  // client without a valid, unexpired certificate issued by one of them
  // cannot connect (its calls fail UNAVAILABLE), whatever its token.
  std::string client_ca_pem;
};

// The parts of TlsFiles, for CheckTlsPem.
enum class TlsPart { kCertChain, kPrivateKey, kClientCa };

// A look (not a parse) at `pem` as `part`: INVALID_ARGUMENT when it holds no
// PEM block of the kind the part needs (no certificate in the chain or the
// client CA, no private key in the key: files swapped, say), its message
// never quoting `pem`. ApiServer::Start checks every part so; a caller that
// reads the parts from files can check each as it reads it, to name the file
// and refuse before starting anything.
absl::Status CheckTlsPem(TlsPart part, absl::string_view pem);

struct ServerOptions {
  // host:port; port 0 picks a free one (see ApiServer::port).
  std::string listen_address = "127.0.0.1:50051";
  // Unset: plaintext (behind a mesh or a TLS-terminating proxy, or on
  // loopback). Set: only TLS connections are accepted on the port; a
  // plaintext client fails to connect (UNAVAILABLE).
  std::optional<TlsFiles> tls;
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
  // INVALID_ARGUMENT when a part of `options.tls` fails CheckTlsPem (the
  // message names the part, never its contents). UNAVAILABLE when the
  // address cannot be bound, or gRPC refuses the TLS material beyond that (a
  // key that does not parse, or is not the certificate's).
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
