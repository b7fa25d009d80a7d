// A gRPC server interceptor that records every call in ApiMetrics.
#ifndef WEBHOOKS_SERVICES_API_METRICS_INTERCEPTOR_H_
#define WEBHOOKS_SERVICES_API_METRICS_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <string>
#include <vector>

#include "lib/metrics/api_metrics.h"

namespace webhooks::api {

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` must outlive the server.
  explicit MetricsInterceptorFactory(metrics::ApiMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::ApiMetrics* metrics_;
};

// Every method of the API's services, health and reflection, as full names:
// the label values ApiMetrics accepts.
std::vector<std::string> ApiMethodNames();

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_METRICS_INTERCEPTOR_H_
