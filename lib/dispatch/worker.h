// The delivery worker's threads around a Dispatcher: the thin shell that does
// the waiting and the I/O while the Dispatcher decides.
//
// Threads: a leaser (PlanLease -> DeliveryStore::Lease -> submit), a writer
// (NextWrite -> Complete/Release), a listener (LISTEN, which hints the
// leaser), a statistics sampler on a store of its own (so that a slow count
// never delays a lease), and the transport's event loop, on which results
// arrive. Every Dispatcher call is made under one mutex; no database call or
// HTTP request is made while holding it. No transaction or connection is held
// while a subscriber answers.
#ifndef WEBHOOKS_LIB_DISPATCH_WORKER_H_
#define WEBHOOKS_LIB_DISPATCH_WORKER_H_

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/common/mutex.h"
#include "lib/delivery/http_transport.h"
#include "lib/dispatch/auto_disable.h"
#include "lib/dispatch/dispatcher.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_notifier.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

struct WorkerOptions {
  DispatcherOptions dispatch;
  // Bound on each database call.
  absl::Duration db_timeout = absl::Seconds(10);
  // How often queue statistics are sampled (on their own thread and store).
  absl::Duration stats_interval = absl::Seconds(5);
  AutoDisablePolicy auto_disable;
  // The most of the worker's request slots (dispatch.lease.max_in_flight)
  // one tenant's deliveries may hold, as a fraction in (0, 1]; 1: no bound.
  // Sets dispatch.max_in_flight_per_tenant (TenantSlots).
  double max_tenant_share = 1.0;
};

// The requests in flight one tenant may have: max_tenant_share of
// concurrency, rounded down, at least 1; 0 (no bound) for a share of 1.
int TenantSlots(const WorkerOptions& options);

// INVALID_ARGUMENT naming the flag (the worker's flag names) when a setting
// would stop delivery or spin: concurrency, lease_batch, poll_interval,
// lease_duration (longer than `request_timeout`), stats_interval, db_timeout,
// write batch size, the retry policy, the auto-disable thresholds and
// max_tenant_share.
absl::Status ValidateWorkerOptions(const WorkerOptions& options,
                                   absl::Duration request_timeout);

// Everything must outlive the worker. `notifier` may be null (poll only);
// `stats_store` may be null (no queue statistics).
struct WorkerDeps {
  store::DeliveryStore* store = nullptr;
  store::DeliveryStore* stats_store = nullptr;
  store::DeliveryNotifier* notifier = nullptr;
  delivery::HttpTransport* transport = nullptr;
  const security::Sealer* sealer = nullptr;
  common::Clock* clock = nullptr;
  metrics::WorkerMetrics* metrics = nullptr;
};

class Worker {
 public:
  Worker(WorkerOptions options, WorkerDeps deps);
  // Shuts down with no grace if still running.
  ~Worker();

  void Start();

  // Stops leasing; lets in-flight requests finish until 80% of `grace` has
  // passed and hands the rest back; retries writing every outcome until
  // `grace` has passed (and at least a second after the requests ended),
  // then gives up what is left (counted in
  // webhooks_outcomes_abandoned_total: those leases expire and the deliveries
  // are made again). Returns when done.
  void Shutdown(absl::Duration grace);

  // OK while the lease loop turns (it has made a decision within three poll
  // intervals plus a database timeout); UNAVAILABLE when it is wedged. For
  // /healthz.
  absl::Status Alive() const;
  // Alive, not shutting down, and the last database call succeeded. For
  // /readyz: a draining worker leaves its Service before it exits.
  absl::Status Ready() const;

 private:
  void LeaseLoop();
  void WriteLoop();
  void ListenLoop();
  void StatsLoop();
  // Disables the subscriptions of `lanes` that options_.auto_disable says
  // to (after a write that reported them failing).
  void DisableFailing(const std::vector<store::LaneHealth>& lanes,
                      absl::Time deadline);
  void OnResult(const delivery::HttpResult& result);
  // Hands requests to the transport (without mu_ held).
  void Submit(std::vector<delivery::HttpRequest> requests);
  void RecordDatabase(const absl::Status& status);
  // Waits until the time `due()` says this thread should act next has come
  // (`due` is evaluated first, and again under mu_ whenever another thread
  // releases it: a thread wakes only when that time moves earlier, so a
  // result that gives it nothing to do wakes nobody), at most one poll
  // interval of real time, so that the heartbeat stays fresh.
  void WaitLocked(absl::Time (Worker::*due)() const)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the leaser should next act: the planner's next check, or at once
  // when stopping.
  absl::Time LeaseDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // When the writer should next act: the batcher's next write, bounded by
  // the end of the drain; at once when the drain is done.
  absl::Time WriteDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DrainOverLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AliveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerOptions options_;
  const WorkerDeps deps_;

  mutable common::Mutex mu_;
  Dispatcher dispatcher_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time write_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time heartbeat_ ABSL_GUARDED_BY(mu_);
  bool database_ok_ ABSL_GUARDED_BY(mu_) = true;

  std::thread leaser_;
  std::thread listener_;
  std::thread writer_;
  std::thread stats_;
  bool started_ = false;
  bool shut_down_ = false;
};

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_WORKER_H_
