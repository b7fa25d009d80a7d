#include "services/api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "services/api/metrics_interceptor.h"

namespace webhooks::api {

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(
    const ServerOptions& options, ServiceDeps deps) {
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
  builder.AddListeningPort(options.listen_address,
                           grpc::InsecureServerCredentials(), &api->port_);
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
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address));
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
