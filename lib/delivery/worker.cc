#include "lib/delivery/worker.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/log.h"
#include "lib/delivery/signer.h"
#include "lib/domain/custom_headers.h"

namespace webhooks::delivery {

// What a request callback needs of its delivery.
struct Worker::Pending {
  int64_t delivery_id;
  int64_t lease_token;
  int attempt;
  std::string subscription_id;
  absl::Time event_created_at;
};

namespace {

using domain::ErrorClass;
using store::DeliveryOutcome;

DeliveryOutcome::State ToState(domain::Decision::Kind kind) {
  switch (kind) {
    case domain::Decision::Kind::kDelivered:
      return DeliveryOutcome::State::kDelivered;
    case domain::Decision::Kind::kRetry:
      return DeliveryOutcome::State::kRetry;
    case domain::Decision::Kind::kFailed:
      return DeliveryOutcome::State::kFailed;
  }
  return DeliveryOutcome::State::kFailed;
}

// The request for one delivery: the stored body and the contract's headers.
// Errors (a secret that does not open) never carry secret material.
absl::StatusOr<HttpRequest> BuildRequest(const store::LeasedDelivery& d,
                                         const security::Sealer& sealer,
                                         absl::Time now) {
  const std::string prefix =
      absl::StrCat("subscription/", d.subscription_id, "/");
  absl::StatusOr<std::string> encoded = sealer.Open(
      d.custom_headers_sealed, absl::StrCat(prefix, "custom_headers"));
  if (!encoded.ok()) return encoded.status();
  absl::StatusOr<domain::HeaderMap> custom = domain::DecodeHeaders(*encoded);
  if (!custom.ok()) return custom.status();
  std::vector<std::string> secrets;
  const std::string secret_aad = absl::StrCat(prefix, "signing_secret");
  absl::StatusOr<std::string> secret =
      sealer.Open(d.signing_secret_sealed, secret_aad);
  if (!secret.ok()) return secret.status();
  secrets.push_back(*std::move(secret));
  if (!d.previous_signing_secret_sealed.empty()) {
    absl::StatusOr<std::string> previous =
        sealer.Open(d.previous_signing_secret_sealed,
                    absl::StrCat(prefix, "previous_signing_secret"));
    if (!previous.ok()) return previous.status();
    secrets.push_back(*std::move(previous));
  }
  const int64_t timestamp = absl::ToUnixSeconds(now);
  absl::StatusOr<std::string> signature =
      SignatureHeader(secrets, d.event_id, timestamp, *d.body);
  if (!signature.ok()) return signature.status();

  HttpRequest request;
  request.id = static_cast<uint64_t>(d.id);
  request.url = d.target_url;
  request.body = d.body;
  request.headers.reserve(6 + custom->size());
  request.headers.push_back("Content-Type: application/json");
  request.headers.push_back(absl::StrCat("webhook-id: ", d.event_id));
  request.headers.push_back(absl::StrCat("webhook-timestamp: ", timestamp));
  request.headers.push_back(absl::StrCat("webhook-signature: ", *signature));
  request.headers.push_back(absl::StrCat("webhook-event: ", d.event_type));
  request.headers.push_back(absl::StrCat("webhook-attempt: ", d.attempt));
  for (const auto& [name, value] : *custom) {
    // curl drops a "Name: " line with no value; "Name;" sends it empty.
    request.headers.push_back(value.empty() ? absl::StrCat(name, ";")
                                            : absl::StrCat(name, ": ", value));
  }
  return request;
}

}  // namespace

Worker::Worker(WorkerOptions options, WorkerDeps deps)
    : options_(std::move(options)), deps_(deps) {
  absl::MutexLock lock(&mu_);
  rng_.seed(deps_.seed);
  heartbeat_ = absl::Now();
}

Worker::~Worker() {
  if (started_ && !shut_down_) Shutdown(absl::ZeroDuration());
}

void Worker::Start() {
  started_ = true;
  writer_ = std::thread([this] { WriteLoop(); });
  if (deps_.notifier != nullptr)
    listener_ = std::thread([this] { ListenLoop(); });
  leaser_ = std::thread([this] { LeaseLoop(); });
}

void Worker::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (leaser_.joinable()) leaser_.join();
  if (listener_.joinable()) listener_.join();
  // In-flight requests finish or come back as kAborted (released).
  deps_.transport->Shutdown(absl::Now() + grace);
  {
    absl::MutexLock lock(&mu_);
    writer_stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

absl::Status Worker::Ready() const {
  absl::MutexLock lock(&mu_);
  if (!database_ok_) return absl::UnavailableError("database unreachable");
  if (absl::Now() - heartbeat_ >
      3 * options_.poll_interval + options_.db_timeout) {
    return absl::UnavailableError("lease loop stalled");
  }
  return absl::OkStatus();
}

int Worker::FreeSlotsLocked() const {
  return options_.max_in_flight - in_flight_;
}

int Worker::MinLeaseLocked() const {
  return std::max(
      1, std::min(options_.lease_batch_size, options_.max_in_flight) / 2);
}

size_t Worker::MaxPendingOutcomes() const {
  return static_cast<size_t>(
      4 * std::max(options_.write_batch_size, options_.max_in_flight));
}

void Worker::RecordDatabase(const absl::Status& status) {
  if (!status.ok()) {
    deps_.metrics->db_errors.Increment();
    common::LogWarning("database: ", status.ToString());
  }
  absl::MutexLock lock(&mu_);
  database_ok_ = status.ok();
}

void Worker::ListenLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::Status status = deps_.notifier->Wait(options_.poll_interval);
    absl::MutexLock lock(&mu_);
    if (status.ok()) {
      due_hint_ = true;
    } else if (status.code() != absl::StatusCode::kDeadlineExceeded) {
      // Reconnects on the next call; meanwhile polling covers, so pause
      // rather than spin against a database that is down.
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.poll_interval);
    }
  }
}

void Worker::LeaseLoop() {
  absl::Time next_poll = absl::InfinitePast();
  absl::Time next_stats = absl::InfinitePast();
  while (true) {
    store::LeaseRequest request;
    {
      absl::MutexLock lock(&mu_);
      // Under load, lease only once a worthwhile share of a batch is free:
      // leasing one row per freed slot would be a query per delivery. The
      // writer's backlog is bounded too: while outcomes wait to be written
      // (the database is slow or away), leasing more only makes more.
      auto can_lease = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        const int free = FreeSlotsLocked();
        return free > 0 && (in_flight_ == 0 || free >= MinLeaseLocked()) &&
               outcomes_.size() < MaxPendingOutcomes();
      };
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ ||
               (can_lease() && (due_hint_ || absl::Now() >= next_poll));
      };
      while (!ready()) {
        heartbeat_ = absl::Now();
        // Until the next poll when a lease is possible; otherwise a freed
        // slot or a written batch re-evaluates the condition, and the
        // deadline only keeps the heartbeat fresh. Never a past deadline:
        // that would spin.
        const absl::Time now = absl::Now();
        mu_.AwaitWithDeadline(absl::Condition(&ready),
                              can_lease() && next_poll > now
                                  ? next_poll
                                  : now + options_.poll_interval);
      }
      heartbeat_ = absl::Now();
      if (stopping_) return;
      due_hint_ = false;
      request.owner = options_.name;
      request.limit = std::min(FreeSlotsLocked(), options_.lease_batch_size);
      request.lease_duration = options_.lease_duration;
      for (const auto& [subscription, count] : per_subscription_) {
        if (count >= options_.max_in_flight_per_subscription) {
          request.exclude_subscriptions.push_back(subscription);
        }
      }
    }
    const absl::Time now = absl::Now();
    next_poll = now + options_.poll_interval;
    absl::StatusOr<std::vector<store::LeasedDelivery>> leased =
        deps_.store->Lease(request, now + options_.db_timeout);
    RecordDatabase(leased.status());
    if (leased.ok()) {
      deps_.metrics->lease_batch_size.Observe(
          static_cast<double>(leased->size()));
      if (static_cast<int>(leased->size()) == request.limit) {
        // A full batch: more are probably due.
        absl::MutexLock lock(&mu_);
        due_hint_ = true;
      }
      for (store::LeasedDelivery& d : *leased) Dispatch(std::move(d));
    }
    if (absl::Now() >= next_stats) {
      next_stats = absl::Now() + options_.stats_interval;
      absl::StatusOr<store::QueueStats> stats =
          deps_.store->Stats(absl::Now() + options_.db_timeout);
      RecordDatabase(stats.status());
      if (stats.ok()) {
        deps_.metrics->queue_due.Set(static_cast<double>(stats->due));
        deps_.metrics->queue_oldest_due_age.Set(
            absl::ToDoubleSeconds(stats->oldest_due_age));
      }
    }
  }
}

void Worker::Dispatch(store::LeasedDelivery d) {
  {
    absl::MutexLock lock(&mu_);
    int& count = per_subscription_[d.subscription_id];
    if (count >= options_.max_in_flight_per_subscription) {
      // Leased in the same batch as others of its subscription: hand it back.
      releases_.push_back({d.id, d.lease_token});
      deps_.metrics->releases.Increment();
      return;
    }
    ++count;
    ++in_flight_;
    deps_.metrics->inflight.Set(in_flight_);
  }
  Pending pending{d.id, d.lease_token, d.attempt, d.subscription_id,
                  d.event_created_at};
  absl::StatusOr<HttpRequest> request =
      BuildRequest(d, *deps_.sealer, deps_.clock->Now());
  if (!request.ok()) {
    common::LogError("delivery ", d.id, ": cannot prepare the request: ",
                     request.status().message());
    HttpResult result;
    result.id = static_cast<uint64_t>(d.id);
    result.error_class = ErrorClass::kInternal;
    result.started_at = deps_.clock->Now();
    result.error_detail = std::string(request.status().message());
    Finish(pending, result);
    return;
  }
  deps_.transport->Submit(
      *std::move(request),
      [this, pending](HttpResult result) { Finish(pending, result); });
}

void Worker::Finish(const Pending& p, const HttpResult& result) {
  absl::MutexLock lock(&mu_);
  int& count = per_subscription_[p.subscription_id];
  // A subscription at its cap was left out of leases; now that it has room,
  // its waiting deliveries are worth a lease at once, not at the next poll.
  if (count == options_.max_in_flight_per_subscription) due_hint_ = true;
  if (--count == 0) per_subscription_.erase(p.subscription_id);
  --in_flight_;
  deps_.metrics->inflight.Set(in_flight_);
  if (result.error_class == ErrorClass::kAborted) {
    releases_.push_back({p.delivery_id, p.lease_token});
    deps_.metrics->releases.Increment();
    return;
  }
  const absl::Time now = deps_.clock->Now();
  domain::AttemptResult attempt{result.error_class, result.http_status,
                                std::nullopt};
  if (result.http_status == 429 || result.http_status == 503) {
    attempt.retry_after = domain::ParseRetryAfter(result.retry_after, now);
  }
  const domain::Decision decision =
      domain::Decide(options_.retry, attempt, p.attempt, now, rng_);

  DeliveryOutcome outcome;
  outcome.delivery_id = p.delivery_id;
  outcome.lease_token = p.lease_token;
  outcome.state = ToState(decision.kind);
  outcome.next_attempt_at = decision.next_attempt_at;
  outcome.attempt = p.attempt;
  outcome.started_at = result.started_at;
  outcome.duration = result.duration;
  outcome.http_status = result.http_status;
  outcome.error_class = std::string(domain::ErrorClassName(result.error_class));
  outcome.response_excerpt = result.response_excerpt;
  outcome.disable_subscription = decision.disable_subscription;
  outcome.disable_reason = decision.disable_reason;

  deps_.metrics->Attempts(outcome.error_class).Increment();
  deps_.metrics->attempt_duration.Observe(
      absl::ToDoubleSeconds(result.duration));
  switch (outcome.state) {
    case DeliveryOutcome::State::kDelivered:
      deps_.metrics->delivered.Increment();
      deps_.metrics->delivery_latency.Observe(absl::ToDoubleSeconds(
          result.started_at + result.duration - p.event_created_at));
      break;
    case DeliveryOutcome::State::kRetry:
      deps_.metrics->retried.Increment();
      break;
    case DeliveryOutcome::State::kFailed:
      deps_.metrics->failed.Increment();
      break;
  }
  if (result.error_class != ErrorClass::kSuccess &&
      !result.error_detail.empty()) {
    common::LogInfo("delivery ", p.delivery_id, " attempt ", p.attempt, ": ",
                    outcome.error_class, " (", result.error_detail, ")");
  }
  outcomes_.push_back(std::move(outcome));
}

void Worker::WriteLoop() {
  constexpr int kMaxBatchFailures = 3;
  absl::Duration backoff = absl::Milliseconds(100);
  int batch_failures = 0;
  while (true) {
    std::vector<DeliveryOutcome> batch;
    std::vector<store::LeaseRelease> releases;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return writer_stopping_ || !outcomes_.empty() || !releases_.empty();
      };
      mu_.Await(absl::Condition(&work));
      if (outcomes_.empty() && releases_.empty())
        return;  // stopping, nothing left
      const size_t n = std::min(outcomes_.size(),
                                static_cast<size_t>(options_.write_batch_size));
      batch.assign(
          std::make_move_iterator(outcomes_.begin()),
          std::make_move_iterator(outcomes_.begin() + static_cast<long>(n)));
      outcomes_.erase(outcomes_.begin(),
                      outcomes_.begin() + static_cast<long>(n));
      releases.swap(releases_);
    }
    absl::Status complete = absl::OkStatus();
    if (!batch.empty()) {
      complete = deps_.store->Complete(batch, absl::Now() + options_.db_timeout)
                     .status();
    }
    absl::Status release = absl::OkStatus();
    if (!releases.empty()) {
      release =
          deps_.store->Release(releases, absl::Now() + options_.db_timeout)
              .status();
    }
    RecordDatabase(complete.ok() ? release : complete);
    if (complete.ok()) batch_failures = 0;
    if (complete.ok() && release.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    // Put what failed back and try again later. Writes are idempotent (fenced
    // by lease token), so repeating one whose outcome is unknown does no harm;
    // if the database stays away past the lease, the deliveries are simply
    // made again: duplicated, never lost.
    absl::MutexLock lock(&mu_);
    if (!complete.ok()) {
      // A batch that keeps failing for a reason other than the connection
      // would block every later write: after a few tries it is given up, and
      // its deliveries are made again when their leases expire.
      if (complete.code() != absl::StatusCode::kUnavailable &&
          ++batch_failures >= kMaxBatchFailures) {
        common::LogError(
            "giving up writing ", batch.size(), " outcomes after ",
            batch_failures,
            " failures; their leases will expire: ", complete.ToString());
        batch_failures = 0;
      } else {
        outcomes_.insert(outcomes_.begin(),
                         std::make_move_iterator(batch.begin()),
                         std::make_move_iterator(batch.end()));
      }
    }
    if (!release.ok())
      releases_.insert(releases_.end(), releases.begin(), releases.end());
    if (writer_stopping_) {
      common::LogWarning("database unavailable at shutdown: leaving ",
                         outcomes_.size(), " outcomes and ", releases_.size(),
                         " releases to lease expiry");
      outcomes_.clear();
      releases_.clear();
      return;
    }
    mu_.AwaitWithTimeout(absl::Condition(&writer_stopping_), backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace webhooks::delivery
