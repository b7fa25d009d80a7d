#include "lib/dispatch/worker.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/common/log.h"

namespace webhooks::dispatch {
namespace {

constexpr absl::Duration kMinWriteWindow = absl::Seconds(1);

// Real time to wait for a clock-time deadline, never negative, never longer
// than `cap` (so that heartbeats stay fresh and a stopped clock cannot hang a
// thread).
absl::Duration WaitFor(absl::Time deadline, absl::Time now,
                       absl::Duration cap) {
  return std::clamp(deadline - now, absl::ZeroDuration(), cap);
}

absl::Status Invalid(absl::string_view flag, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", rule));
}

DispatcherOptions ForDispatcher(const WorkerOptions& options) {
  DispatcherOptions d = options.dispatch;
  d.max_in_flight_per_tenant = TenantSlots(options);
  return d;
}

}  // namespace

int TenantSlots(const WorkerOptions& options) {
  if (options.max_tenant_share >= 1.0) return 0;
  const int slots = static_cast<int>(options.max_tenant_share *
                                     options.dispatch.lease.max_in_flight);
  return std::max(1, slots);
}

absl::Status ValidateWorkerOptions(const WorkerOptions& options,
                                   absl::Duration request_timeout) {
  const DispatcherOptions& d = options.dispatch;
  if (d.lease.max_in_flight < 1 || d.lease.max_in_flight > 100000)
    return Invalid("concurrency", "must be between 1 and 100000");
  if (d.lease.lease_batch < 1 || d.lease.lease_batch > 10000)
    return Invalid("lease_batch", "must be between 1 and 10000");
  if (d.lease.poll_interval < absl::Milliseconds(10) ||
      d.lease.poll_interval > absl::Minutes(10))
    return Invalid("poll_interval", "must be between 10ms and 10m");
  if (d.write.max_batch < 1 || d.write.max_batch > 10000)
    return Invalid("write_batch", "must be between 1 and 10000");
  if (request_timeout <= absl::ZeroDuration())
    return Invalid("request_timeout", "must be positive");
  if (d.lease_duration <= request_timeout)
    return Invalid("lease_duration", "must be longer than --request_timeout");
  if (options.db_timeout < absl::Milliseconds(100))
    return Invalid("db_timeout", "must be at least 100ms");
  if (options.stats_interval < absl::Milliseconds(100))
    return Invalid("stats_interval", "must be at least 100ms");
  if (options.auto_disable.failed_in_a_row < 0)
    return Invalid("auto_disable_after_failures", "must not be negative");
  if (options.auto_disable.failing_for < absl::ZeroDuration())
    return Invalid("auto_disable_after", "must not be negative");
  // Written so that NaN fails too.
  if (!(options.max_tenant_share > 0.0 && options.max_tenant_share <= 1.0))
    return Invalid("max_tenant_share",
                   "must be more than 0 and at most 1 (1: no bound)");
  return domain::ValidateRetryPolicy(d.retry);
}

Worker::Worker(WorkerOptions options, WorkerDeps deps)
    : options_(std::move(options)),
      deps_(deps),
      dispatcher_(ForDispatcher(options_), deps.sealer, deps.metrics) {
  common::MutexLock lock(&mu_);
  heartbeat_ = deps_.clock->Now();
}

Worker::~Worker() {
  if (started_ && !shut_down_) Shutdown(absl::ZeroDuration());
}

void Worker::Start() {
  started_ = true;
  writer_ = std::thread([this] { WriteLoop(); });
  if (deps_.notifier != nullptr)
    listener_ = std::thread([this] { ListenLoop(); });
  if (deps_.stats_store != nullptr)
    stats_ = std::thread([this] { StatsLoop(); });
  leaser_ = std::thread([this] { LeaseLoop(); });
}

void Worker::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time start = deps_.clock->Now();
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
    dispatcher_.BeginShutdown();
  }
  if (leaser_.joinable()) leaser_.join();
  if (listener_.joinable()) listener_.join();
  if (stats_.joinable()) stats_.join();
  // In-flight requests finish or come back as kAborted (released).
  deps_.transport->Shutdown(start + grace * 0.8);
  {
    common::MutexLock lock(&mu_);
    writer_stopping_ = true;
    // What the transport handed back (releases) gets a moment to be written
    // even when the grace is used up or zero.
    write_deadline_ =
        std::max(start + grace, deps_.clock->Now() + kMinWriteWindow);
  }
  if (writer_.joinable()) writer_.join();
}

absl::Status Worker::AliveLocked() const {
  const absl::Duration limit =
      3 * options_.dispatch.lease.poll_interval + options_.db_timeout;
  if (deps_.clock->Now() - heartbeat_ > limit) {
    return absl::UnavailableError("lease loop stalled");
  }
  return absl::OkStatus();
}

absl::Status Worker::Alive() const {
  common::MutexLock lock(&mu_);
  return AliveLocked();
}

absl::Status Worker::Ready() const {
  common::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("draining");
  if (!database_ok_) return absl::UnavailableError("database unreachable");
  return AliveLocked();
}

// The Dispatcher counts failed leases and writes in webhooks_db_errors_total;
// this keeps readiness and the log.
void Worker::RecordDatabase(const absl::Status& status) {
  if (!status.ok()) common::LogWarning("database: ", status.ToString());
  common::MutexLock lock(&mu_);
  database_ok_ = status.ok();
}

void Worker::WaitLocked(absl::Time (Worker::*due)() const) {
  const absl::Time deadline = (this->*due)();
  const absl::Duration timeout = WaitFor(deadline, deps_.clock->Now(),
                                         options_.dispatch.lease.poll_interval);
  if (timeout <= absl::ZeroDuration()) return;
  // Re-evaluated whenever another thread releases mu_; reads no clock.
  auto sooner = [this, due, deadline]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (this->*due)() < deadline;
  };
  mu_.AwaitWithTimeout(&sooner, timeout);
}

absl::Time Worker::LeaseDue() const {
  if (stopping_) return absl::InfinitePast();
  // With `now` in the infinite past the check is the planner's own time.
  return dispatcher_.NextLeaseCheck(absl::InfinitePast());
}

bool Worker::DrainOverLocked(absl::Time now) const {
  return writer_stopping_ && (dispatcher_.Drained() || now >= write_deadline_);
}

absl::Time Worker::WriteDue() const {
  if (!writer_stopping_) return dispatcher_.NextWriteAt();
  if (dispatcher_.Drained()) return absl::InfinitePast();
  return std::min(dispatcher_.NextWriteAt(), write_deadline_);
}

void Worker::LeaseLoop() {
  while (true) {
    store::LeaseRequest request;
    {
      common::MutexLock lock(&mu_);
      while (true) {
        const absl::Time now = deps_.clock->Now();
        heartbeat_ = now;
        if (stopping_) return;
        std::optional<store::LeaseRequest> planned = dispatcher_.PlanLease(now);
        if (planned.has_value()) {
          request = *std::move(planned);
          break;
        }
        WaitLocked(&Worker::LeaseDue);
      }
    }
    absl::StatusOr<std::vector<store::LeasedDelivery>> leased =
        deps_.store->Lease(request, deps_.clock->Now() + options_.db_timeout);
    RecordDatabase(leased.status());
    std::vector<delivery::HttpRequest> requests;
    {
      common::MutexLock lock(&mu_);
      requests = dispatcher_.OnLeased(deps_.clock->Now(), request, leased);
    }
    Submit(std::move(requests));
  }
}

void Worker::Submit(std::vector<delivery::HttpRequest> requests) {
  for (delivery::HttpRequest& r : requests) {
    deps_.transport->Submit(
        std::move(r),
        [this](const delivery::HttpResult& result) { OnResult(result); });
  }
}

void Worker::OnResult(const delivery::HttpResult& result) {
  common::MutexLock lock(&mu_);
  dispatcher_.OnHttpResult(deps_.clock->Now(), result);
}

void Worker::ListenLoop() {
  while (true) {
    {
      common::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::Status status =
        deps_.notifier->Wait(options_.dispatch.lease.poll_interval);
    common::MutexLock lock(&mu_);
    if (status.ok()) {
      dispatcher_.OnNotify();
    } else if (status.code() != absl::StatusCode::kDeadlineExceeded) {
      // Reconnects on the next call; meanwhile polling covers, so pause
      // rather than spin against a database that is down.
      mu_.AwaitWithTimeout(&stopping_, options_.dispatch.lease.poll_interval);
    }
  }
}

void Worker::WriteLoop() {
  while (true) {
    WriteBatch batch;
    absl::Time deadline;
    {
      common::MutexLock lock(&mu_);
      while (true) {
        const absl::Time now = deps_.clock->Now();
        if (DrainOverLocked(now)) {
          if (!dispatcher_.Drained()) {
            const size_t dropped = dispatcher_.Abandon();
            common::LogError("shutdown grace over: ", dropped,
                             " outcomes not written; their leases will "
                             "expire and they will be delivered again");
          }
          return;
        }
        std::optional<WriteBatch> next = dispatcher_.NextWrite(now);
        if (next.has_value()) {
          batch = *std::move(next);
          deadline =
              std::min(now + options_.db_timeout,
                       std::max(write_deadline_, now + absl::Seconds(1)));
          break;
        }
        WaitLocked(&Worker::WriteDue);
      }
    }
    absl::Status status;
    store::CompleteResult written;
    if (batch.kind == WriteBatch::Kind::kOutcomes) {
      absl::StatusOr<store::CompleteResult> result =
          deps_.store->CompleteAndHandOff(batch.outcomes, batch.hand_off,
                                          deadline);
      status = result.status();
      if (result.ok()) written = *std::move(result);
    } else {
      status = deps_.store->Release(batch.releases, deadline).status();
    }
    RecordDatabase(status);
    std::vector<delivery::HttpRequest> requests;
    {
      common::MutexLock lock(&mu_);
      requests = dispatcher_.OnWriteResult(deps_.clock->Now(), batch, status,
                                           written.applied, written.handed_off);
    }
    Submit(std::move(requests));
    if (!written.failing.empty()) DisableFailing(written.failing, deadline);
  }
}

// Rare (a lane crossing a threshold), so inline on the writer's thread. A
// failure is logged and left: the lane's next failed write asks again.
void Worker::DisableFailing(const std::vector<store::LaneHealth>& lanes,
                            absl::Time deadline) {
  const std::vector<store::FailingSubscription> failing =
      ToDisable(options_.auto_disable, lanes, deps_.clock->Now());
  if (failing.empty()) return;
  absl::StatusOr<std::vector<std::string>> disabled =
      deps_.store->DisableFailing(failing, deadline);
  RecordDatabase(disabled.status());
  if (!disabled.ok()) return;
  for (const std::string& id : *disabled) {
    for (const store::FailingSubscription& f : failing) {
      if (f.subscription_id == id) {
        common::LogWarning("subscription ", id, " ", f.reason);
      }
    }
    if (deps_.metrics != nullptr) deps_.metrics->auto_disabled.Increment();
  }
}

void Worker::StatsLoop() {
  while (true) {
    {
      common::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::StatusOr<store::QueueStats> stats =
        deps_.stats_store->Stats(deps_.clock->Now() + options_.db_timeout);
    if (stats.ok()) {
      deps_.metrics->queue_due.Set(static_cast<double>(stats->due));
      deps_.metrics->queue_oldest_due_age.Set(
          absl::ToDoubleSeconds(stats->oldest_due_age));
    } else {
      deps_.metrics->db_errors.Increment();
      common::LogWarning("queue statistics: ", stats.status().ToString());
    }
    absl::StatusOr<int> reclaimed = deps_.stats_store->ReclaimExpired(
        deps_.clock->Now() + options_.db_timeout);
    if (reclaimed.ok()) {
      deps_.metrics->lanes_reclaimed.Increment(*reclaimed);
    } else {
      deps_.metrics->db_errors.Increment();
      common::LogWarning("reclaiming expired leases: ",
                         reclaimed.status().ToString());
    }
    common::MutexLock lock(&mu_);
    // Often enough that a dead worker's slots come back within about a lease
    // and a half.
    mu_.AwaitWithTimeout(&stopping_,
                         std::min(options_.stats_interval,
                                  options_.dispatch.lease_duration / 2));
  }
}

}  // namespace webhooks::dispatch
