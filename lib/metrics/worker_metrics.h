// The worker's Prometheus metrics, registered once at start-up, handles
// cached. Labels are bounded: outcome and error class names only, never a
// URL, tenant or subscription id.
#ifndef WEBHOOKS_LIB_METRICS_WORKER_METRICS_H_
#define WEBHOOKS_LIB_METRICS_WORKER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>

#include "absl/strings/string_view.h"

namespace webhooks::metrics {

class WorkerMetrics {
 public:
  // Registers every family in `registry`, which must outlive this.
  explicit WorkerMetrics(prometheus::Registry& registry);

  // webhooks_deliveries_total{outcome="delivered|retry|failed"}: outcomes of
  // attempts, as written.
  prometheus::Counter& delivered;
  prometheus::Counter& retried;
  prometheus::Counter& failed;
  // webhooks_attempts_total{class}: every attempt by error class (success,
  // http_5xx, timeout, ...). Thread-safe; the family caches label sets.
  prometheus::Counter& Attempts(absl::string_view error_class);
  // webhooks_attempt_duration_seconds: one HTTP attempt.
  prometheus::Histogram& attempt_duration;
  // webhooks_delivery_latency_seconds: event created -> delivered.
  prometheus::Histogram& delivery_latency;
  // webhooks_inflight_requests.
  prometheus::Gauge& inflight;
  // webhooks_queue_due / webhooks_queue_oldest_due_age_seconds (whole
  // database, sampled).
  prometheus::Gauge& queue_due;
  prometheus::Gauge& queue_oldest_due_age;
  // webhooks_lease_batch_size: rows per lease.
  prometheus::Histogram& lease_batch_size;
  // webhooks_db_errors_total: failed database calls.
  prometheus::Counter& db_errors;
  // webhooks_lease_releases_total: leased deliveries handed back untried
  // (per-subscription cap reached, shutdown).
  prometheus::Counter& releases;
  // webhooks_lease_handoffs_total: deliveries leased by an outcome write for
  // the slots it freed (DeliveryStore::CompleteAndHandOff), not by a lease.
  prometheus::Counter& lease_handoffs;
  // webhooks_outcome_write_failures_total: failed write calls (Complete or
  // Release), each retried.
  prometheus::Counter& outcome_write_failures;
  // webhooks_outcomes_replaced_total: outcomes written as class internal
  // because their own write kept failing.
  prometheus::Counter& outcomes_replaced;
  // webhooks_outcomes_fenced_total: outcomes the store ignored because their
  // lease had been taken over.
  prometheus::Counter& outcomes_fenced;
  // webhooks_outcomes_abandoned_total: outcomes and releases dropped unwritten
  // at the end of a shutdown grace (their leases expire and the deliveries
  // are made again).
  prometheus::Counter& outcomes_abandoned;
  // webhooks_subscriptions_auto_disabled_total: subscriptions disabled
  // because their deliveries kept failing.
  prometheus::Counter& auto_disabled;
  // webhooks_tenant_share_releases_total: leased deliveries handed back
  // untried because their tenant already held its share of this worker's
  // request slots (--max_tenant_share); also counted in releases once
  // written.
  prometheus::Counter& tenant_share_releases;
  // webhooks_lanes_reclaimed_total: subscriptions at their cap found holding
  // a lease that expired (a worker died) and made leasable for a takeover
  // (DeliveryStore::ReclaimExpired).
  prometheus::Counter& lanes_reclaimed;

 private:
  prometheus::Family<prometheus::Counter>& attempts_family_;
};

}  // namespace webhooks::metrics

#endif  // WEBHOOKS_LIB_METRICS_WORKER_METRICS_H_
