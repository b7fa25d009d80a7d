// The API's Prometheus metrics. `method` is a full gRPC method name from a
// fixed set the server registers (anything else is counted as "other"), and
// `code` a canonical status code name: both bounded.
#ifndef WEBHOOKS_LIB_METRICS_API_METRICS_H_
#define WEBHOOKS_LIB_METRICS_API_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace webhooks::metrics {

class ApiMetrics {
 public:
  // `methods`: the full method names ("/webhooks.v1.EventService/PublishEvent")
  // that may appear as labels.
  ApiMetrics(prometheus::Registry& registry, std::vector<std::string> methods);

  // Counts webhooks_grpc_requests_total{method,code} and observes
  // webhooks_grpc_request_duration_seconds{method}. `code` is the numeric
  // gRPC status code. Thread-safe.
  void Record(absl::string_view method, int code, absl::Duration duration);

 private:
  absl::flat_hash_set<std::string> methods_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
};

// "OK", "INVALID_ARGUMENT", ... for a numeric gRPC/absl status code.
absl::string_view StatusCodeName(int code);

}  // namespace webhooks::metrics

#endif  // WEBHOOKS_LIB_METRICS_API_METRICS_H_
