// The worker's engine: which deliveries to lease, the requests to send, the
// outcomes to write and when, as one plain object. The threads, the database
// and the HTTP transport stay outside: a thin shell calls these methods (under
// one mutex) and does the I/O they ask for.
//
// A delivery's life here: PlanLease -> (shell leases) -> OnLeased returns its
// request -> (shell sends) -> OnHttpResult queues its outcome, or a release
// if the request was aborted -> NextWrite hands it out in a batch -> (shell
// writes) -> OnWriteResult. Per-subscription caps are the store's (lanes);
// the dispatcher bounds its own requests in flight, in all and per tenant.
#ifndef WEBHOOKS_LIB_DISPATCH_DISPATCHER_H_
#define WEBHOOKS_LIB_DISPATCH_DISPATCHER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/delivery/http_transport.h"
#include "lib/dispatch/lease_planner.h"
#include "lib/dispatch/outcome_mapper.h"
#include "lib/dispatch/write_batcher.h"
#include "lib/domain/retry_policy.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

struct DispatcherOptions {
  // Lease owner, for operators.
  std::string owner;
  // Longer than the request timeout plus the time to write the outcome.
  absl::Duration lease_duration = absl::Seconds(60);
  LeasePlannerOptions lease;
  WriteBatcherOptions write;
  domain::RetryPolicy retry;
  // Most requests in flight of one tenant (0: no bound). A lease passes over
  // the lanes of tenants at the bound; deliveries a lease or hand-off returns
  // beyond it are released untried. So a tenant whose endpoints are slow
  // cannot take every slot: the others keep the rest.
  int max_in_flight_per_tenant = 0;
  // Seed of the jitter generators: the same seed and the same calls give the
  // same retry times.
  uint64_t seed = 0;
};

// Not thread-safe: the caller serialises every call. Never reads the clock:
// every time is passed in.
class Dispatcher {
 public:
  // `sealer` must outlive this; `metrics` may be null, else must outlive
  // this.
  Dispatcher(DispatcherOptions options, const security::Sealer* sealer,
             metrics::WorkerMetrics* metrics);

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The lease to make now, or nullopt: when stopping, while a lease is out
  // (until OnLeased), or when LeasePlanner::LeaseSize is 0. A returned
  // request is a lease out; it excludes the tenants at
  // max_in_flight_per_tenant.
  std::optional<store::LeaseRequest> PlanLease(absl::Time now);

  // When PlanLease may return a lease with no other call in between:
  // LeasePlanner::NextCheck, or absl::InfiniteFuture() when stopping or while
  // a lease is out.
  absl::Time NextLeaseCheck(absl::Time now) const;

  // The result of the lease `request` PlanLease returned. Registers each
  // delivery in flight (keyed by delivery id; HttpRequest.id is the delivery
  // id) and returns the requests to submit. A delivery whose request cannot
  // be built (a secret that does not open) is not sent: it gets an outcome of
  // class internal at once, logged without secrets. Deliveries leased after
  // BeginShutdown, or beyond their tenant's max_in_flight_per_tenant, are
  // released, not sent. A failed lease backs the planner
  // off (and counts a database error).
  std::vector<delivery::HttpRequest> OnLeased(
      absl::Time now, const store::LeaseRequest& request,
      const absl::StatusOr<std::vector<store::LeasedDelivery>>& leased);

  // A NOTIFY arrived: deliveries may be due.
  void OnNotify();

  // A request finished at `now`. kAborted queues a release (not an attempt);
  // anything else its outcome (MapOutcome). Frees the request's slot (the
  // subscription's slot frees when the outcome is written, which hints the
  // planner). A result of no request in flight is ignored.
  void OnHttpResult(absl::Time now, const delivery::HttpResult& result);

  // The next write to make now (WriteBatcher::Next). An outcome batch on its
  // first try carries a hand-off (WriteBatch::hand_off, limit from
  // LeasePlanner::HandOffLimit; none when stopping): the store may lease
  // back, in the same write, the slots the batch frees. Until
  // OnWriteResult, that limit counts as requests in flight.
  std::optional<WriteBatch> NextWrite(absl::Time now);
  // When NextWrite may return a batch (WriteBatcher::NextAt): <= now means at
  // once.
  absl::Time NextWriteAt() const;
  // The result of writing `batch`, the one NextWrite returned last
  // (WriteBatcher::OnResult), with the deliveries the store handed off to us
  // in the same write. Written outcomes and releases count in the metrics
  // here, and only here; a successful write that freed more slots than it
  // handed back hints the planner (lane slots are free). Returns the
  // requests to submit for the handed-off deliveries, exactly as OnLeased.
  std::vector<delivery::HttpRequest> OnWriteResult(
      absl::Time now, const WriteBatch& batch, const absl::Status& status,
      const std::vector<int64_t>& applied_ids,
      const std::vector<store::LeasedDelivery>& handed_off = {});

  // No more leases from now on; everything else carries on.
  void BeginShutdown();
  bool stopping() const { return stopping_; }

  // Requests in flight.
  int in_flight() const { return static_cast<int>(in_flight_.size()); }
  // Requests in flight of `tenant_id`.
  int tenant_in_flight(const std::string& tenant_id) const;
  // Outcomes and releases not yet written.
  size_t pending_writes() const { return batcher_.pending(); }
  // Nothing in flight (no request, no lease out) and nothing to write.
  bool Drained() const;

  // Drops every unwritten outcome and release, and forgets the requests in
  // flight (at the end of a shutdown grace): their leases expire and the
  // deliveries are made again. Returns how many were dropped, also counted
  // in webhooks_outcomes_abandoned_total.
  size_t Abandon();

 private:
  void Hint();
  void SetInflightGauge();
  // Requests in flight plus what a lease or hand-off out may add.
  int Committed() const;
  // Registers leased deliveries in flight and builds their requests
  // (OnLeased's contract).
  std::vector<delivery::HttpRequest> Launch(
      absl::Time now, const std::vector<store::LeasedDelivery>& leased);
  // Queues `outcome` for writing, remembering what the metrics need.
  void AddOutcome(store::DeliveryOutcome outcome, absl::Time event_created_at);
  void RecordWritten(const store::DeliveryOutcome& outcome);

  const DispatcherOptions options_;
  const security::Sealer* const sealer_;
  metrics::WorkerMetrics* const metrics_;
  std::mt19937_64 rng_;
  LeasePlanner planner_;
  WriteBatcher batcher_;

  bool stopping_ = false;
  bool lease_out_ = false;
  int lease_out_limit_ = 0;
  int hand_off_out_ = 0;
  // A hint that arrived while a lease was out, applied after its result.
  bool hint_during_lease_ = false;
  absl::flat_hash_map<int64_t, InFlightDelivery> in_flight_;
  // Requests in flight per tenant; tenants with none are not kept.
  absl::flat_hash_map<std::string, int> tenant_in_flight_;
  // Event creation times of unwritten outcomes, for delivery_latency.
  absl::flat_hash_map<int64_t, absl::Time> event_created_at_;
};

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_DISPATCHER_H_
