#include "services/api/metrics_interceptor.h"

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "webhooks/v1/delivery_service.pb.h"
#include "webhooks/v1/event_service.pb.h"
#include "webhooks/v1/subscription_service.pb.h"

namespace webhooks::api {
namespace {

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                     metrics::ApiMetrics* metrics)
      : method_(info->method()), metrics_(metrics), start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_,
                       static_cast<int>(methods->GetSendStatus().error_code()),
                       absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  metrics::ApiMetrics* metrics_;
  absl::Time start_;
};

}  // namespace

grpc::experimental::Interceptor*
MetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MetricsInterceptor(info, metrics_);
}

std::vector<std::string> ApiMethodNames() {
  std::vector<std::string> names = {
      "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"};
  for (const google::protobuf::ServiceDescriptor* service :
       {v1::GetSubscriptionRequest::descriptor()->file()->FindServiceByName(
            "SubscriptionService"),
        v1::PublishEventRequest::descriptor()->file()->FindServiceByName(
            "EventService"),
        v1::GetDeliveryRequest::descriptor()->file()->FindServiceByName(
            "DeliveryService")}) {
    for (int i = 0; i < service->method_count(); ++i) {
      names.push_back(absl::StrCat("/", service->full_name(), "/",
                                   service->method(i)->name()));
    }
  }
  return names;
}

}  // namespace webhooks::api
