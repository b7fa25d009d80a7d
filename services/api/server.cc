#include "services/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "services/api/metrics_interceptor.h"

namespace webhooks::api {
namespace {

// A part's name in errors.
absl::string_view PartName(TlsPart part) {
  switch (part) {
    case TlsPart::kCertChain:
      return "TLS certificate chain";
    case TlsPart::kPrivateKey:
      return "TLS private key";
    case TlsPart::kClientCa:
      return "TLS client CA";
  }
  return "TLS";
}

std::shared_ptr<grpc::ServerCredentials> Credentials(
    const ServerOptions& options) {
  if (!options.tls.has_value()) return grpc::InsecureServerCredentials();
  const TlsFiles& tls = *options.tls;
  // With a client CA, a client certificate is required and verified against
  // it (chain, validity period) in the handshake; without one, none is asked
  // for, so that TLS-only clients are not prompted for one.
  grpc::SslServerCredentialsOptions ssl(
      tls.client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.client_ca_pem;
  ssl.pem_key_cert_pairs.push_back(
      {.private_key = tls.private_key_pem, .cert_chain = tls.cert_chain_pem});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

// A cheap look before gRPC gets the PEM: gRPC reports bad material only as a
// port it could not add, which reads like an address in use, and logs
// OpenSSL's errors without saying which part they are about.
absl::Status CheckTlsPem(TlsPart part, absl::string_view pem) {
  if (part == TlsPart::kPrivateKey) {
    // "BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY".
    if (absl::StrContains(pem, "PRIVATE KEY-----")) return absl::OkStatus();
    return absl::InvalidArgumentError("no PEM private key in it");
  }
  if (absl::StrContains(pem, "-----BEGIN CERTIFICATE-----")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("no PEM certificate in it");
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(
    const ServerOptions& options, ServiceDeps deps) {
  if (options.tls.has_value()) {
    for (const auto& [part, pem] :
         {std::pair(TlsPart::kCertChain, &options.tls->cert_chain_pem),
          std::pair(TlsPart::kPrivateKey, &options.tls->private_key_pem),
          std::pair(TlsPart::kClientCa, &options.tls->client_ca_pem)}) {
      if (part == TlsPart::kClientCa && pem->empty()) continue;  // TLS only
      if (absl::Status s = CheckTlsPem(part, *pem); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(PartName(part), ": ", s.message()));
      }
    }
  }
  grpc::EnableDefaultHealthCheckService(true);
  // The plugin is process-wide: once initialised, every server built later
  // gets reflection, so it is only initialised when asked for.
  if (options.enable_reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    // gRPC's own health service carries no descriptors: ours
    // (proto/grpc/health/v1) are linked in and registered by this use, so
    // that reflection can describe the service it lists.
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
  }

  std::unique_ptr<ApiServer> api(
      new ApiServer(deps, options.subscription_service));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, Credentials(options),
                           &api->port_);
  builder.RegisterService(&api->subscriptions_);
  builder.RegisterService(&api->events_);
  builder.RegisterService(&api->deliveries_);
  grpc::ResourceQuota quota("webhooks-api");
  quota.SetMaxThreads(options.max_threads);
  builder.SetResourceQuota(quota);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.metrics != nullptr) {
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(
        std::make_unique<MetricsInterceptorFactory>(options.metrics));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  api->server_ = builder.BuildAndStart();
  if (api->server_ == nullptr || api->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen_address,
        options.tls.has_value()
            ? " with TLS (the address in use, or a certificate chain or "
              "private key that does not parse, or a key not the "
              "certificate's: gRPC's log above says which)"
            : ""));
  }
  grpc::HealthCheckServiceInterface* health =
      api->server_->GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus(v1::SubscriptionService::service_full_name(), true);
  health->SetServingStatus(v1::EventService::service_full_name(), true);
  health->SetServingStatus(v1::DeliveryService::service_full_name(), true);
  health->SetServingStatus(std::string(kLivenessService), true);
  return api;
}

ApiServer::~ApiServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

void ApiServer::StopServingHealth() {
  // One by one, not SetServingStatus(false) for all: "liveness" must not
  // flap to NOT_SERVING (Watch callers would see it). Draining is not being
  // wedged: a liveness probe must not restart the pod meanwhile.
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  for (const std::string& service :
       {std::string(""),
        std::string(v1::SubscriptionService::service_full_name()),
        std::string(v1::EventService::service_full_name()),
        std::string(v1::DeliveryService::service_full_name())}) {
    health->SetServingStatus(service, false);
  }
}

void ApiServer::Shutdown(absl::Time deadline) {
  StopServingHealth();
  server_->Shutdown(absl::ToChronoTime(deadline));
}

void ApiServer::Wait() { server_->Wait(); }

}  // namespace webhooks::api
