#include "lib/metrics/worker_metrics.h"

#include <string>

namespace webhooks::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

prometheus::Family<prometheus::Counter>& Deliveries(prometheus::Registry& r) {
  return BuildCounter()
      .Name("webhooks_deliveries_total")
      .Help("Delivery attempt outcomes as written: delivered, retry or failed")
      .Register(r);
}

// Seconds, from 5 ms to the 30 s request timeout.
Histogram::BucketBoundaries AttemptBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// Seconds, from 5 ms to a day: first tries land in the low buckets, retries
// in the high ones.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,  1,     2.5,
          5,     10,   30,    60,   300, 900,  3600, 21600, 86400};
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : delivered(Deliveries(registry).Add({{"outcome", "delivered"}})),
      retried(Deliveries(registry).Add({{"outcome", "retry"}})),
      failed(Deliveries(registry).Add({{"outcome", "failed"}})),
      attempt_duration(BuildHistogram()
                           .Name("webhooks_attempt_duration_seconds")
                           .Help("Duration of one HTTP delivery attempt")
                           .Register(registry)
                           .Add({}, AttemptBuckets())),
      delivery_latency(BuildHistogram()
                           .Name("webhooks_delivery_latency_seconds")
                           .Help("From event creation to successful delivery")
                           .Register(registry)
                           .Add({}, LatencyBuckets())),
      inflight(BuildGauge()
                   .Name("webhooks_inflight_requests")
                   .Help("HTTP requests in flight")
                   .Register(registry)
                   .Add({})),
      queue_due(
          BuildGauge()
              .Name("webhooks_queue_due")
              .Help("Pending deliveries due now (whole database, sampled)")
              .Register(registry)
              .Add({})),
      queue_oldest_due_age(
          BuildGauge()
              .Name("webhooks_queue_oldest_due_age_seconds")
              .Help("How long the oldest due delivery has waited")
              .Register(registry)
              .Add({})),
      lease_batch_size(
          BuildHistogram()
              .Name("webhooks_lease_batch_size")
              .Help("Deliveries leased per lease query")
              .Register(registry)
              .Add({}, Histogram::BucketBoundaries{0, 1, 2, 5, 10, 25, 50, 100,
                                                   250, 500})),
      db_errors(BuildCounter()
                    .Name("webhooks_db_errors_total")
                    .Help("Failed database calls")
                    .Register(registry)
                    .Add({})),
      releases(BuildCounter()
                   .Name("webhooks_lease_releases_total")
                   .Help("Leased deliveries handed back untried")
                   .Register(registry)
                   .Add({})),
      lease_handoffs(BuildCounter()
                         .Name("webhooks_lease_handoffs_total")
                         .Help("Deliveries leased by an outcome write for the "
                               "slots it freed")
                         .Register(registry)
                         .Add({})),
      outcome_write_failures(
          BuildCounter()
              .Name("webhooks_outcome_write_failures_total")
              .Help("Failed calls writing outcomes or releases (retried)")
              .Register(registry)
              .Add({})),
      outcomes_replaced(
          BuildCounter()
              .Name("webhooks_outcomes_replaced_total")
              .Help("Outcomes written as internal after their write kept "
                    "failing")
              .Register(registry)
              .Add({})),
      outcomes_fenced(
          BuildCounter()
              .Name("webhooks_outcomes_fenced_total")
              .Help("Outcomes ignored because the lease had been taken over")
              .Register(registry)
              .Add({})),
      outcomes_abandoned(
          BuildCounter()
              .Name("webhooks_outcomes_abandoned_total")
              .Help("Outcomes and releases dropped unwritten at the end of a "
                    "shutdown grace")
              .Register(registry)
              .Add({})),
      auto_disabled(
          BuildCounter()
              .Name("webhooks_subscriptions_auto_disabled_total")
              .Help("Subscriptions disabled because their deliveries kept "
                    "failing")
              .Register(registry)
              .Add({})),
      tenant_share_releases(
          BuildCounter()
              .Name("webhooks_tenant_share_releases_total")
              .Help("Leased deliveries handed back untried because their "
                    "tenant held its share of the worker's slots")
              .Register(registry)
              .Add({})),
      lanes_reclaimed(
          BuildCounter()
              .Name("webhooks_lanes_reclaimed_total")
              .Help("Capped subscriptions whose expired leases were made "
                    "leasable for a takeover")
              .Register(registry)
              .Add({})),
      attempts_family_(BuildCounter()
                           .Name("webhooks_attempts_total")
                           .Help("Delivery attempts by error class")
                           .Register(registry)) {}

prometheus::Counter& WorkerMetrics::Attempts(absl::string_view error_class) {
  return attempts_family_.Add({{"class", std::string(error_class)}});
}

}  // namespace webhooks::metrics
