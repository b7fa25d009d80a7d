// The delivery worker: leases due deliveries, POSTs them through an
// HttpTransport, and writes outcomes back in batches.
//
// Threads: a leaser (leases only as many deliveries as it has free slots,
// woken by NOTIFY, by freed slots, or by the poll interval), a listener
// (LISTEN on the deliveries channel), a writer (one Complete per batch of
// outcomes), and the transport's own event loop, on which request callbacks
// run. No transaction or connection is held while a subscriber answers.
#ifndef WEBHOOKS_LIB_DELIVERY_WORKER_H_
#define WEBHOOKS_LIB_DELIVERY_WORKER_H_

#include <atomic>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "lib/delivery/http_transport.h"
#include "lib/domain/retry_policy.h"
#include "lib/metrics/worker_metrics.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_notifier.h"
#include "lib/store/delivery_store.h"

namespace webhooks::delivery {

struct WorkerOptions {
  // Lease owner, for operators (host name and pid by default in main).
  std::string name = "worker";
  // Requests in flight at once, in total and per subscription (so one slow
  // endpoint cannot take every slot).
  int max_in_flight = 256;
  int max_in_flight_per_subscription = 16;
  int lease_batch_size = 100;
  int write_batch_size = 500;
  // Backstop for missed notifications, and the idle wake-up.
  absl::Duration poll_interval = absl::Seconds(1);
  // Longer than the request timeout plus the time to write the outcome.
  absl::Duration lease_duration = absl::Seconds(60);
  // Bound on each database call.
  absl::Duration db_timeout = absl::Seconds(10);
  absl::Duration stats_interval = absl::Seconds(5);
  domain::RetryPolicy retry;
};

// Everything must outlive the worker. `notifier` may be null (poll only).
struct WorkerDeps {
  store::DeliveryStore* store = nullptr;
  store::DeliveryNotifier* notifier = nullptr;
  HttpTransport* transport = nullptr;
  const security::Sealer* sealer = nullptr;
  common::Clock* clock = nullptr;
  metrics::WorkerMetrics* metrics = nullptr;
  // Seed of the jitter generator: the same seed gives the same jitter in
  // every run (a seeded absl::BitGen would not: it mixes in per-process
  // entropy).
  uint64_t seed = 0;
};

class Worker {
 public:
  Worker(WorkerOptions options, WorkerDeps deps);
  // Shuts down with no grace if still running.
  ~Worker();

  void Start();

  // Stops leasing, lets in-flight requests finish within `grace`, hands the
  // rest back (due again at once), writes every outcome, and returns.
  void Shutdown(absl::Duration grace);

  // OK when the last database call succeeded and the leaser turned within
  // three poll intervals; UNAVAILABLE otherwise (for /readyz).
  absl::Status Ready() const;

 private:
  struct Pending;  // one request in flight

  void LeaseLoop();
  void ListenLoop();
  void WriteLoop();
  void Dispatch(store::LeasedDelivery delivery);
  void Finish(const Pending& pending, const HttpResult& result);
  void RecordDatabase(const absl::Status& status);
  int FreeSlotsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Free slots worth a lease while requests are in flight.
  int MinLeaseLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Outcomes waiting to be written above which leasing pauses.
  size_t MaxPendingOutcomes() const;

  const WorkerOptions options_;
  const WorkerDeps deps_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool due_hint_ ABSL_GUARDED_BY(mu_) = true;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int> per_subscription_ ABSL_GUARDED_BY(mu_);
  std::deque<store::DeliveryOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::vector<store::LeaseRelease> releases_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  absl::Time heartbeat_ ABSL_GUARDED_BY(mu_);
  bool database_ok_ ABSL_GUARDED_BY(mu_) = true;

  std::thread leaser_;
  std::thread listener_;
  std::thread writer_;
  bool started_ = false;
  bool shut_down_ = false;
};

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_WORKER_H_
