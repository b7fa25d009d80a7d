#include "lib/metrics/api_metrics.h"

namespace webhooks::metrics {

absl::string_view StatusCodeName(int code) {
  static constexpr absl::string_view kNames[] = {"OK",
                                                 "CANCELLED",
                                                 "UNKNOWN",
                                                 "INVALID_ARGUMENT",
                                                 "DEADLINE_EXCEEDED",
                                                 "NOT_FOUND",
                                                 "ALREADY_EXISTS",
                                                 "PERMISSION_DENIED",
                                                 "RESOURCE_EXHAUSTED",
                                                 "FAILED_PRECONDITION",
                                                 "ABORTED",
                                                 "OUT_OF_RANGE",
                                                 "UNIMPLEMENTED",
                                                 "INTERNAL",
                                                 "UNAVAILABLE",
                                                 "DATA_LOSS",
                                                 "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

ApiMetrics::ApiMetrics(prometheus::Registry& registry,
                       std::vector<std::string> methods)
    : methods_(methods.begin(), methods.end()),
      requests_(prometheus::BuildCounter()
                    .Name("webhooks_grpc_requests_total")
                    .Help("gRPC calls by method and status code")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("webhooks_grpc_request_duration_seconds")
                    .Help("gRPC call latency by method")
                    .Register(registry)) {}

void ApiMetrics::Record(absl::string_view method, int code,
                        absl::Duration duration) {
  const std::string label =
      methods_.contains(method) ? std::string(method) : "other";
  requests_
      .Add({{"method", label}, {"code", std::string(StatusCodeName(code))}})
      .Increment();
  duration_
      .Add({{"method", label}},
           prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005,
                                                   0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5, 1, 2.5, 5, 10})
      .Observe(absl::ToDoubleSeconds(duration));
}

}  // namespace webhooks::metrics
