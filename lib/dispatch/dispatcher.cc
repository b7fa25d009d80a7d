#include "lib/dispatch/dispatcher.h"

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/common/log.h"
#include "lib/dispatch/request_builder.h"

namespace webhooks::dispatch {
namespace {

using domain::ErrorClass;
using store::DeliveryOutcome;

// Distinct from the outcome generator's stream, so that write failures do
// not shift the retry times of other deliveries.
constexpr uint64_t kBatcherSeedSalt = 0x9e3779b97f4a7c15;

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options,
                       const security::Sealer* sealer,
                       metrics::WorkerMetrics* metrics)
    : options_(std::move(options)),
      sealer_(sealer),
      metrics_(metrics),
      rng_(options_.seed),
      planner_(options_.lease),
      batcher_(options_.write, options_.retry,
               options_.seed ^ kBatcherSeedSalt) {}

void Dispatcher::Hint() {
  planner_.Hint();
  if (lease_out_) hint_during_lease_ = true;
}

void Dispatcher::SetInflightGauge() {
  if (metrics_ != nullptr) {
    metrics_->inflight.Set(static_cast<double>(in_flight_.size()));
  }
}

int Dispatcher::tenant_in_flight(const std::string& tenant_id) const {
  const auto it = tenant_in_flight_.find(tenant_id);
  return it == tenant_in_flight_.end() ? 0 : it->second;
}

int Dispatcher::Committed() const {
  return in_flight() + lease_out_limit_ + hand_off_out_;
}

std::optional<store::LeaseRequest> Dispatcher::PlanLease(absl::Time now) {
  if (stopping_ || lease_out_) return std::nullopt;
  const int size = planner_.LeaseSize(now, Committed(), pending_writes());
  if (size == 0) return std::nullopt;
  lease_out_ = true;
  lease_out_limit_ = size;
  hint_during_lease_ = false;
  store::LeaseRequest request;
  request.owner = options_.owner;
  request.limit = size;
  request.lease_duration = options_.lease_duration;
  if (options_.max_in_flight_per_tenant > 0) {
    for (const auto& [tenant, count] : tenant_in_flight_) {
      if (count >= options_.max_in_flight_per_tenant) {
        request.excluded_tenants.push_back(tenant);
      }
    }
  }
  return request;
}

absl::Time Dispatcher::NextLeaseCheck(absl::Time now) const {
  if (stopping_ || lease_out_) return absl::InfiniteFuture();
  return planner_.NextCheck(now, Committed(), pending_writes());
}

std::vector<delivery::HttpRequest> Dispatcher::OnLeased(
    absl::Time now, const store::LeaseRequest& request,
    const absl::StatusOr<std::vector<store::LeasedDelivery>>& leased) {
  lease_out_ = false;
  lease_out_limit_ = 0;
  if (!leased.ok()) {
    planner_.OnLeaseFailed(now);
    if (metrics_ != nullptr) metrics_->db_errors.Increment();
    common::LogWarning("lease: ", leased.status().ToString());
    return {};
  }
  planner_.OnLeased(now, request.limit, static_cast<int>(leased->size()));
  if (hint_during_lease_) planner_.Hint();
  hint_during_lease_ = false;
  if (metrics_ != nullptr) {
    metrics_->lease_batch_size.Observe(static_cast<double>(leased->size()));
  }
  return Launch(now, *leased);
}

std::vector<delivery::HttpRequest> Dispatcher::Launch(
    absl::Time now, const std::vector<store::LeasedDelivery>& leased) {
  std::vector<delivery::HttpRequest> requests;
  requests.reserve(leased.size());
  for (const store::LeasedDelivery& d : leased) {
    if (stopping_) {
      batcher_.AddRelease({d.id, d.lease_token, d.subscription_id});
      continue;
    }
    // A lease of ours that expired while its request is still out, taken
    // over again: it holds its slot already, and must not count twice.
    const bool again = in_flight_.contains(d.id);
    if (!again && options_.max_in_flight_per_tenant > 0 &&
        tenant_in_flight(d.tenant_id) >= options_.max_in_flight_per_tenant) {
      batcher_.AddRelease({d.id, d.lease_token, d.subscription_id});
      if (metrics_ != nullptr) metrics_->tenant_share_releases.Increment();
      continue;
    }
    InFlightDelivery in_flight{
        d.id,        d.lease_token,      d.attempt, d.subscription_id,
        d.tenant_id, d.event_created_at, {}};
    absl::StatusOr<delivery::HttpRequest> built =
        BuildRequest(d, *sealer_, now, &in_flight.header_values);
    if (!built.ok()) {
      // BuildRequest's errors carry no secret material.
      common::LogError("delivery ", d.id, ": cannot prepare the request: ",
                       built.status().ToString());
      delivery::HttpResult result;
      result.id = static_cast<uint64_t>(d.id);
      result.error_class = ErrorClass::kInternal;
      result.started_at = now;
      result.duration = absl::ZeroDuration();
      AddOutcome(MapOutcome(in_flight, result, options_.retry, now, rng_),
                 d.event_created_at);
      continue;
    }
    if (!again) ++tenant_in_flight_[d.tenant_id];
    in_flight_[d.id] = std::move(in_flight);
    requests.push_back(*std::move(built));
  }
  SetInflightGauge();
  return requests;
}

void Dispatcher::OnNotify() { Hint(); }

void Dispatcher::OnHttpResult(absl::Time now,
                              const delivery::HttpResult& result) {
  const auto it = in_flight_.find(static_cast<int64_t>(result.id));
  if (it == in_flight_.end()) return;
  const InFlightDelivery d = std::move(it->second);
  in_flight_.erase(it);
  const auto tenant = tenant_in_flight_.find(d.tenant_id);
  if (tenant != tenant_in_flight_.end() && --tenant->second <= 0) {
    tenant_in_flight_.erase(tenant);
  }
  SetInflightGauge();
  // No hint yet: the subscription's slot is the store's, and frees only when
  // this outcome is written (OnWriteResult hints then).
  if (result.error_class == ErrorClass::kAborted) {
    batcher_.AddRelease({d.delivery_id, d.lease_token, d.subscription_id});
    return;
  }
  DeliveryOutcome outcome = MapOutcome(d, result, options_.retry, now, rng_);
  if (result.error_class != ErrorClass::kSuccess &&
      !result.error_detail.empty()) {
    common::LogInfo("delivery ", d.delivery_id, " attempt ", d.attempt, ": ",
                    outcome.error_class, " (", result.error_detail, ")");
  }
  AddOutcome(std::move(outcome), d.event_created_at);
}

void Dispatcher::AddOutcome(DeliveryOutcome outcome,
                            absl::Time event_created_at) {
  event_created_at_[outcome.delivery_id] = event_created_at;
  batcher_.Add(std::move(outcome));
}

std::optional<WriteBatch> Dispatcher::NextWrite(absl::Time now) {
  std::optional<WriteBatch> batch = batcher_.Next(now);
  if (!batch.has_value()) return batch;
  if (batch->kind == WriteBatch::Kind::kOutcomes && batch->first_try &&
      !stopping_) {
    batch->hand_off.owner = options_.owner;
    batch->hand_off.lease_duration = options_.lease_duration;
    batch->hand_off.limit = planner_.HandOffLimit(
        Committed(), static_cast<int>(batch->outcomes.size()));
    hand_off_out_ = batch->hand_off.limit;
  }
  return batch;
}

absl::Time Dispatcher::NextWriteAt() const { return batcher_.NextAt(); }

void Dispatcher::RecordWritten(const DeliveryOutcome& outcome) {
  const auto created = event_created_at_.find(outcome.delivery_id);
  if (metrics_ != nullptr) {
    metrics_->Attempts(outcome.error_class).Increment();
    metrics_->attempt_duration.Observe(absl::ToDoubleSeconds(outcome.duration));
    switch (outcome.state) {
      case DeliveryOutcome::State::kDelivered:
        metrics_->delivered.Increment();
        if (created != event_created_at_.end()) {
          metrics_->delivery_latency.Observe(absl::ToDoubleSeconds(
              outcome.started_at + outcome.duration - created->second));
        }
        break;
      case DeliveryOutcome::State::kRetry:
        metrics_->retried.Increment();
        break;
      case DeliveryOutcome::State::kFailed:
        metrics_->failed.Increment();
        break;
    }
  }
  if (created != event_created_at_.end()) event_created_at_.erase(created);
}

std::vector<delivery::HttpRequest> Dispatcher::OnWriteResult(
    absl::Time now, const WriteBatch& batch, const absl::Status& status,
    const std::vector<int64_t>& applied_ids,
    const std::vector<store::LeasedDelivery>& handed_off) {
  hand_off_out_ = 0;
  const WriteReport report = batcher_.OnResult(now, batch, status, applied_ids);
  if (!status.ok()) {
    common::LogWarning(batch.kind == WriteBatch::Kind::kOutcomes
                           ? "writing outcomes: "
                           : "writing releases: ",
                       status.ToString());
    if (metrics_ != nullptr) {
      metrics_->db_errors.Increment();
      metrics_->outcome_write_failures.Increment();
    }
  }
  if (report.replaced > 0) {
    common::LogError(report.replaced,
                     " outcome(s) could not be written and will be written as "
                     "internal instead");
  }
  for (const DeliveryOutcome& outcome : report.applied) {
    RecordWritten(outcome);
  }
  for (const DeliveryOutcome& outcome : report.fenced) {
    event_created_at_.erase(outcome.delivery_id);
  }
  if (metrics_ != nullptr) {
    metrics_->outcomes_replaced.Increment(report.applied_replacements);
    metrics_->outcomes_fenced.Increment(
        static_cast<double>(report.fenced.size()));
    metrics_->releases.Increment(report.releases_written);
    metrics_->lease_handoffs.Increment(static_cast<double>(handed_off.size()));
  }
  // Written outcomes and releases free their lanes' slots in the store,
  // unless the write handed every one of them back.
  if (report.applied.size() > handed_off.size() || !report.fenced.empty() ||
      report.releases_written > 0) {
    Hint();
  }
  if (!status.ok()) return {};
  // A hand-off made after BeginShutdown is released by Launch, not sent.
  return Launch(now, handed_off);
}

void Dispatcher::BeginShutdown() { stopping_ = true; }

bool Dispatcher::Drained() const {
  return in_flight_.empty() && !lease_out_ && batcher_.pending() == 0;
}

size_t Dispatcher::Abandon() {
  const size_t dropped = batcher_.Abandon() + in_flight_.size();
  in_flight_.clear();
  tenant_in_flight_.clear();
  event_created_at_.clear();
  SetInflightGauge();
  if (dropped > 0) {
    common::LogWarning("leaving ", dropped,
                       " unwritten outcomes, releases and requests to lease "
                       "expiry");
  }
  if (metrics_ != nullptr) {
    metrics_->outcomes_abandoned.Increment(static_cast<double>(dropped));
  }
  return dropped;
}

}  // namespace webhooks::dispatch
