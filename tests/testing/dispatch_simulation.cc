#include "tests/testing/dispatch_simulation.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "lib/domain/custom_headers.h"
#include "lib/domain/retry_policy.h"
#include "lib/security/sealed_fields.h"

namespace webhooks::testing {
namespace {

// Bound on each simulated database call (the fake ignores it).
constexpr absl::Duration kDbTimeout = absl::Seconds(10);

std::unique_ptr<security::Sealer> TestSealer() {
  absl::StatusOr<security::Sealer> sealer =
      security::Sealer::Create("k1", {{"k1", std::string(32, 'k')}});
  if (!sealer.ok()) {
    ADD_FAILURE() << sealer.status();
    return nullptr;
  }
  return std::make_unique<security::Sealer>(*std::move(sealer));
}

std::string SealOrFail(const security::Sealer& sealer,
                       absl::string_view plaintext, absl::string_view aad) {
  absl::StatusOr<std::string> sealed = sealer.Seal(plaintext, aad);
  if (!sealed.ok()) {
    ADD_FAILURE() << sealed.status();
    return "";
  }
  return *std::move(sealed);
}

}  // namespace

SimulatedResponse RespondWith(int status, absl::Duration latency,
                              std::string retry_after) {
  SimulatedResponse response;
  response.result.error_class = domain::ClassifyHttpStatus(status);
  response.result.http_status = status;
  response.result.retry_after = std::move(retry_after);
  response.latency = latency;
  return response;
}

DispatchSimulation::DispatchSimulation(dispatch::DispatcherOptions options,
                                       metrics::WorkerMetrics* metrics)
    : sealer_(TestSealer()),
      dispatcher_(std::make_unique<dispatch::Dispatcher>(
          std::move(options), sealer_.get(), metrics)),
      responder_([](const SentRequest&) { return RespondWith(200); }) {}

DispatchSimulation::~DispatchSimulation() {
  transport_.Shutdown(absl::InfinitePast());
}

void DispatchSimulation::AddSubscription(
    const std::string& id, int max_in_flight, bool enabled,
    const std::map<std::string, std::string>& headers,
    const std::string& tenant_id) {
  FakeSubscriptionFields fields;
  fields.tenant_id = tenant_id;
  fields.custom_headers_sealed = SealOrFail(
      *sealer_, domain::EncodeHeaders(headers),
      security::SubscriptionFieldAad(id, security::kCustomHeadersField));
  fields.signing_secret_sealed = SealOrFail(
      *sealer_, kSigningSecret,
      security::SubscriptionFieldAad(id, security::kSigningSecretField));
  store_.AddSubscription(id, max_in_flight, enabled, std::move(fields));
}

void DispatchSimulation::Submit(delivery::HttpRequest request) {
  const int64_t id = static_cast<int64_t>(request.id);
  const std::string subscription = store_.Delivery(id).subscription_id;
  const absl::Time now = clock_.Now();
  sent_.push_back(SentRequest{now, id, subscription, request});
  subscription_of_[id] = subscription;
  const int open = ++open_[subscription];
  int& max_open = max_open_[subscription];
  max_open = std::max(max_open, open);
  std::optional<SimulatedResponse> response = responder_(sent_.back());
  transport_.Submit(std::move(request), [this](delivery::HttpResult result) {
    --open_[subscription_of_[static_cast<int64_t>(result.id)]];
    dispatcher_->OnHttpResult(clock_.Now(), result);
  });
  if (response.has_value()) {
    delivery::HttpResult result = std::move(response->result);
    result.id = static_cast<uint64_t>(id);
    result.started_at = now;
    result.duration = response->latency;
    completions_.emplace(now + response->latency, std::move(result));
  }
}

bool DispatchSimulation::Step() {
  bool did = false;
  const absl::Time now = clock_.Now();
  while (!completions_.empty() && completions_.begin()->first <= now) {
    delivery::HttpResult result = std::move(completions_.begin()->second);
    completions_.erase(completions_.begin());
    const uint64_t id = result.id;
    transport_.Finish(id, std::move(result));
    did = true;
  }
  while (std::optional<store::LeaseRequest> request =
             dispatcher_->PlanLease(now)) {
    ++leases_;
    absl::StatusOr<std::vector<store::LeasedDelivery>> leased =
        store_.Lease(*request, now + kDbTimeout);
    for (delivery::HttpRequest& r :
         dispatcher_->OnLeased(now, *request, leased)) {
      Submit(std::move(r));
    }
    did = true;
  }
  while (std::optional<dispatch::WriteBatch> batch =
             dispatcher_->NextWrite(now)) {
    ++writes_;
    if (batch->kind == dispatch::WriteBatch::Kind::kOutcomes) {
      absl::StatusOr<store::CompleteResult> written = store_.CompleteAndHandOff(
          batch->outcomes, batch->hand_off, now + kDbTimeout);
      store::CompleteResult result;
      if (written.ok()) result = *std::move(written);
      handed_off_ += static_cast<int>(result.handed_off.size());
      for (delivery::HttpRequest& r :
           dispatcher_->OnWriteResult(now, *batch, written.status(),
                                      result.applied, result.handed_off)) {
        Submit(std::move(r));
      }
    } else {
      absl::StatusOr<int> released =
          store_.Release(batch->releases, now + kDbTimeout);
      dispatcher_->OnWriteResult(now, *batch, released.status(), {});
    }
    did = true;
  }
  return did;
}

absl::Time DispatchSimulation::NextDeadline() const {
  absl::Time next = std::min(dispatcher_->NextLeaseCheck(clock_.Now()),
                             dispatcher_->NextWriteAt());
  if (!completions_.empty()) next = std::min(next, completions_.begin()->first);
  return next;
}

bool DispatchSimulation::RunUntilCondition(const std::function<bool()>& done,
                                           absl::Duration limit) {
  const absl::Time end = clock_.Now() + limit;
  while (true) {
    while (Step()) {
      if (done()) return true;
    }
    if (done()) return true;
    const absl::Time next = NextDeadline();
    if (next <= clock_.Now()) {
      ADD_FAILURE() << "simulation stalled at " << clock_.Now()
                    << ": a deadline is due but nothing can be done";
      return false;
    }
    if (next > end) {
      clock_.SetTime(std::max(end, clock_.Now()));
      while (Step()) {
      }
      return done();
    }
    clock_.SetTime(next);
  }
}

void DispatchSimulation::RunUntil(absl::Time end) {
  RunUntilCondition([] { return false; },
                    std::max(end - clock_.Now(), absl::ZeroDuration()));
}

bool DispatchSimulation::RunUntilIdle(absl::Duration limit) {
  return RunUntilCondition(
      [this] {
        return dispatcher_->Drained() && completions_.empty() &&
               transport_.InFlight() == 0 && store_.Unsettled() == 0;
      },
      limit);
}

DispatchSimulation::ShutdownResult DispatchSimulation::Shutdown(
    absl::Duration grace) {
  ShutdownResult result;
  const absl::Time end = clock_.Now() + grace;
  dispatcher_->BeginShutdown();
  RunUntilCondition([this] { return transport_.InFlight() == 0; }, grace);
  result.aborted = transport_.InFlight();
  // The transport's deadline: what has not finished is cut short.
  completions_.clear();
  transport_.Shutdown(clock_.Now());
  result.drained =
      RunUntilCondition([this] { return dispatcher_->Drained(); },
                        std::max(end - clock_.Now(), absl::ZeroDuration()));
  if (!result.drained) result.abandoned = dispatcher_->Abandon();
  return result;
}

int DispatchSimulation::MaxConcurrent(
    const std::string& subscription_id) const {
  const auto it = max_open_.find(subscription_id);
  return it == max_open_.end() ? 0 : it->second;
}

}  // namespace webhooks::testing
