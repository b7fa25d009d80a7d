#include "tests/testing/fake_delivery_store.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace webhooks::testing {

std::optional<absl::Status> FakeDeliveryStore::TakeInjected(
    Injected& injected) {
  if (injected.remaining <= 0) return std::nullopt;
  --injected.remaining;
  return injected.status;
}

int FakeDeliveryStore::InFlightLocked(const Subscription& s) const {
  int n = 0;
  for (int64_t id : s.deliveries) {
    if (rows_.at(id).delivery.leased) ++n;
  }
  return n;
}

store::LeasedDelivery FakeDeliveryStore::LeaseRowLocked(
    int64_t id, const std::string& owner, absl::Duration lease_duration,
    absl::Time now) {
  Row& row = rows_.at(id);
  FakeDelivery& d = row.delivery;
  d.leased = true;
  d.leased_until = now + lease_duration;
  d.next_attempt_at = d.leased_until;
  d.lease_token = next_token_++;
  d.lease_owner = owner;
  const Subscription& s = subscriptions_.at(d.subscription_id);
  store::LeasedDelivery out;
  out.id = id;
  out.lease_token = d.lease_token;
  out.attempt = d.attempts + 1;
  out.tenant_id = s.fields.tenant_id;
  out.event_id = d.event_id;
  out.event_type = row.event_type;
  out.body = row.body;
  out.event_created_at = row.event_created_at;
  out.subscription_id = d.subscription_id;
  out.target_url = s.fields.target_url;
  out.custom_headers_sealed = s.fields.custom_headers_sealed;
  out.signing_secret_sealed = s.fields.signing_secret_sealed;
  out.previous_signing_secret_sealed = s.fields.previous_signing_secret_sealed;
  return out;
}

absl::StatusOr<std::vector<store::LeasedDelivery>> FakeDeliveryStore::Lease(
    const store::LeaseRequest& request, absl::Time /*deadline*/) {
  common::MutexLock lock(&mu_);
  ++lease_calls_;
  if (std::optional<absl::Status> failure = TakeInjected(fail_lease_)) {
    return *failure;
  }
  const absl::Time now = clock_->Now();

  // One lane per enabled subscription with something leasable, least
  // recently served first.
  struct Lane {
    Subscription* subscription;
    std::vector<int64_t> candidates;  // oldest due first
    size_t next = 0;
    int free = 0;
    bool served = false;
  };
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& [id, s] : subscriptions_) {
    if (!s.enabled) continue;
    if (std::find(request.excluded_tenants.begin(),
                  request.excluded_tenants.end(),
                  s.fields.tenant_id) != request.excluded_tenants.end()) {
      continue;
    }
    order.emplace_back(s.last_served, id);
  }
  std::sort(order.begin(), order.end());
  std::vector<Lane> lanes;
  for (const auto& [served, id] : order) {
    Subscription& s = subscriptions_.at(id);
    Lane lane{&s, {}, 0, s.max_in_flight - InFlightLocked(s), false};
    for (int64_t d : s.deliveries) {
      const FakeDelivery& row = rows_.at(d).delivery;
      if (row.state != FakeDelivery::State::kPending) continue;
      // A lease that expired is taken over: due at its expiry.
      if (row.leased ? row.leased_until <= now : row.next_attempt_at <= now) {
        lane.candidates.push_back(d);
      }
    }
    std::sort(lane.candidates.begin(), lane.candidates.end(),
              [this](int64_t a, int64_t b) {
                const absl::Time ta = rows_.at(a).delivery.next_attempt_at;
                const absl::Time tb = rows_.at(b).delivery.next_attempt_at;
                return ta != tb ? ta < tb : a < b;
              });
    if (!lane.candidates.empty()) lanes.push_back(std::move(lane));
  }

  std::vector<store::LeasedDelivery> leased;
  std::vector<Subscription*> served;
  bool progress = true;
  while (static_cast<int>(leased.size()) < request.limit && progress) {
    progress = false;
    // One delivery per lane per round: each lane's share of the batch.
    for (Lane& lane : lanes) {
      if (static_cast<int>(leased.size()) >= request.limit) break;
      while (lane.next < lane.candidates.size()) {
        const int64_t id = lane.candidates[lane.next++];
        Row& row = rows_.at(id);
        FakeDelivery& d = row.delivery;
        // Taking over an expired lease moves its slot; a new lease needs a
        // free one.
        if (!d.leased) {
          if (lane.free <= 0) continue;
          --lane.free;
        }
        store::LeasedDelivery out =
            LeaseRowLocked(id, request.owner, request.lease_duration, now);
        leased.push_back(std::move(out));
        if (!lane.served) {
          lane.served = true;
          served.push_back(lane.subscription);
        }
        progress = true;
        break;
      }
    }
  }
  for (Subscription* s : served) s->last_served = ++serve_seq_;
  return leased;
}

absl::StatusOr<store::CompleteResult> FakeDeliveryStore::CompleteAndHandOff(
    const std::vector<store::DeliveryOutcome>& outcomes,
    const store::HandOff& hand_off, absl::Time /*deadline*/) {
  common::MutexLock lock(&mu_);
  ++complete_calls_;
  if (std::optional<absl::Status> failure = TakeInjected(fail_complete_)) {
    return *failure;
  }
  if (poison_) {
    for (const store::DeliveryOutcome& o : outcomes) {
      if (poison_(o)) return poison_status_;
    }
  }
  std::vector<int64_t> applied;
  // Slots freed per lane, in the order the lanes first appear.
  std::vector<std::pair<std::string, int>> freed;
  for (const store::DeliveryOutcome& o : outcomes) {
    auto it = rows_.find(o.delivery_id);
    if (it == rows_.end()) continue;
    FakeDelivery& d = it->second.delivery;
    if (!d.leased || d.lease_token != o.lease_token) {
      // Applied by an earlier write whose answer was lost: its attempt is in
      // the log (the same number and start).
      const bool written_before =
          o.maybe_written &&
          std::any_of(d.attempt_log.begin(), d.attempt_log.end(),
                      [&](const store::DeliveryOutcome& a) {
                        return a.attempt == o.attempt &&
                               a.started_at == o.started_at;
                      });
      if (written_before) applied.push_back(o.delivery_id);
      continue;
    }
    d.leased = false;
    d.lease_owner.clear();
    d.attempts = o.attempt;
    d.attempt_log.push_back(o);
    switch (o.state) {
      case store::DeliveryOutcome::State::kDelivered:
        d.state = FakeDelivery::State::kDelivered;
        break;
      case store::DeliveryOutcome::State::kFailed:
        d.state = FakeDelivery::State::kFailed;
        break;
      case store::DeliveryOutcome::State::kRetry:
        d.next_attempt_at = o.next_attempt_at;
        break;
    }
    if (o.disable_subscription) {
      Subscription& s = subscriptions_.at(d.subscription_id);
      s.enabled = false;
      s.disabled_reason = o.disable_reason;
    }
    applied.push_back(o.delivery_id);
    auto lane = std::find_if(freed.begin(), freed.end(), [&](const auto& f) {
      return f.first == d.subscription_id;
    });
    if (lane == freed.end()) {
      freed.emplace_back(d.subscription_id, 1);
    } else {
      ++lane->second;
    }
  }
  store::CompleteResult result;
  result.applied = std::move(applied);
  const bool lose_answer = lose_complete_answers_ > 0;
  if (lose_answer) --lose_complete_answers_;
  if (hand_off.limit > 0) HandOffLocked(freed, hand_off, &result);
  if (lose_answer) return absl::UnavailableError("answer lost");
  return result;
}

void FakeDeliveryStore::HandOffLocked(
    const std::vector<std::pair<std::string, int>>& freed,
    const store::HandOff& hand_off, store::CompleteResult* out) {
  store::CompleteResult& result = *out;

  // The hand-off: per lane that freed slots and is enabled, its oldest due
  // unleased deliveries, up to what it freed and what its cap allows,
  // interleaved across the lanes.
  const absl::Time now = clock_->Now();
  std::vector<std::vector<int64_t>> picks;
  for (const auto& [subscription_id, n] : freed) {
    const Subscription& s = subscriptions_.at(subscription_id);
    std::vector<int64_t> due;
    if (s.enabled) {
      for (int64_t id : s.deliveries) {
        const FakeDelivery& row = rows_.at(id).delivery;
        if (row.state == FakeDelivery::State::kPending && !row.leased &&
            row.next_attempt_at <= now) {
          due.push_back(id);
        }
      }
    }
    std::sort(due.begin(), due.end(), [this](int64_t a, int64_t b) {
      const absl::Time ta = rows_.at(a).delivery.next_attempt_at;
      const absl::Time tb = rows_.at(b).delivery.next_attempt_at;
      return ta != tb ? ta < tb : a < b;
    });
    const int room = std::min(n, s.max_in_flight - InFlightLocked(s));
    due.resize(
        static_cast<size_t>(std::clamp(room, 0, static_cast<int>(due.size()))));
    picks.push_back(std::move(due));
  }
  for (size_t turn = 0;; ++turn) {
    bool any = false;
    for (const std::vector<int64_t>& lane : picks) {
      if (turn >= lane.size()) continue;
      any = true;
      if (static_cast<int>(result.handed_off.size()) >= hand_off.limit) break;
      result.handed_off.push_back(LeaseRowLocked(lane[turn], hand_off.owner,
                                                 hand_off.lease_duration, now));
    }
    if (!any || static_cast<int>(result.handed_off.size()) >= hand_off.limit)
      break;
  }
}

absl::StatusOr<int> FakeDeliveryStore::Release(
    const std::vector<store::LeaseRelease>& releases, absl::Time /*deadline*/) {
  common::MutexLock lock(&mu_);
  ++release_calls_;
  if (std::optional<absl::Status> failure = TakeInjected(fail_release_)) {
    return *failure;
  }
  const absl::Time now = clock_->Now();
  int applied = 0;
  for (const store::LeaseRelease& r : releases) {
    auto it = rows_.find(r.delivery_id);
    if (it == rows_.end()) continue;
    FakeDelivery& d = it->second.delivery;
    if (!d.leased || d.lease_token != r.lease_token) continue;
    d.leased = false;
    d.lease_owner.clear();
    d.next_attempt_at = now;
    ++d.releases;
    ++applied;
  }
  return applied;
}

absl::StatusOr<std::vector<std::string>> FakeDeliveryStore::DisableFailing(
    const std::vector<store::FailingSubscription>& failing,
    absl::Time /*deadline*/) {
  common::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const store::FailingSubscription& f : failing) {
    auto it = subscriptions_.find(f.subscription_id);
    if (it == subscriptions_.end() || !it->second.enabled) continue;
    it->second.enabled = false;
    it->second.disabled_reason = f.reason;
    out.push_back(f.subscription_id);
  }
  return out;
}

absl::StatusOr<store::QueueStats> FakeDeliveryStore::Stats(
    absl::Time /*deadline*/) {
  common::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  store::QueueStats stats;
  absl::Time oldest = absl::InfiniteFuture();
  for (const auto& [id, row] : rows_) {
    const FakeDelivery& d = row.delivery;
    if (d.state != FakeDelivery::State::kPending) continue;
    if (d.leased) {
      ++stats.in_flight;
      continue;
    }
    if (!subscriptions_.at(d.subscription_id).enabled) continue;
    if (d.next_attempt_at <= now) {
      ++stats.due;
      oldest = std::min(oldest, d.next_attempt_at);
    }
  }
  if (stats.due > 0) stats.oldest_due_age = now - oldest;
  return stats;
}

void FakeDeliveryStore::AddSubscription(const std::string& id,
                                        int max_in_flight, bool enabled,
                                        FakeSubscriptionFields fields) {
  common::MutexLock lock(&mu_);
  Subscription& s = subscriptions_[id];
  s.max_in_flight = max_in_flight;
  s.enabled = enabled;
  s.fields = std::move(fields);
}

int64_t FakeDeliveryStore::AddDelivery(const std::string& subscription_id,
                                       std::optional<absl::Time> due,
                                       std::string event_id, std::string body) {
  const absl::Time now = clock_->Now();
  common::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  Row row;
  row.delivery.id = id;
  row.delivery.subscription_id = subscription_id;
  row.delivery.event_id =
      event_id.empty() ? absl::StrCat("evt_", id) : std::move(event_id);
  row.delivery.next_attempt_at = due.value_or(now);
  row.body = std::make_shared<const std::string>(std::move(body));
  row.event_created_at = now;
  rows_.emplace(id, std::move(row));
  subscriptions_.at(subscription_id).deliveries.push_back(id);
  return id;
}

void FakeDeliveryStore::SetEnabled(const std::string& subscription_id,
                                   bool enabled) {
  common::MutexLock lock(&mu_);
  Subscription& s = subscriptions_.at(subscription_id);
  s.enabled = enabled;
  if (enabled) s.disabled_reason.clear();
}

void FakeDeliveryStore::FailNextLeases(int n, absl::Status status) {
  common::MutexLock lock(&mu_);
  fail_lease_ = {n, std::move(status)};
}

void FakeDeliveryStore::FailNextCompletes(int n, absl::Status status) {
  common::MutexLock lock(&mu_);
  fail_complete_ = {n, std::move(status)};
}

void FakeDeliveryStore::LoseNextCompleteAnswers(int n) {
  common::MutexLock lock(&mu_);
  lose_complete_answers_ = n;
}

void FakeDeliveryStore::FailNextReleases(int n, absl::Status status) {
  common::MutexLock lock(&mu_);
  fail_release_ = {n, std::move(status)};
}

void FakeDeliveryStore::SetPoison(
    std::function<bool(const store::DeliveryOutcome&)> poison,
    absl::Status status) {
  common::MutexLock lock(&mu_);
  poison_ = std::move(poison);
  poison_status_ = std::move(status);
}

FakeDelivery FakeDeliveryStore::Delivery(int64_t id) const {
  common::MutexLock lock(&mu_);
  return rows_.at(id).delivery;
}

std::vector<int64_t> FakeDeliveryStore::DeliveryIds() const {
  common::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  ids.reserve(rows_.size());
  for (const auto& [id, row] : rows_) ids.push_back(id);
  return ids;
}

int FakeDeliveryStore::InFlight(const std::string& subscription_id) const {
  common::MutexLock lock(&mu_);
  return InFlightLocked(subscriptions_.at(subscription_id));
}

bool FakeDeliveryStore::Enabled(const std::string& subscription_id) const {
  common::MutexLock lock(&mu_);
  return subscriptions_.at(subscription_id).enabled;
}

std::string FakeDeliveryStore::DisabledReason(
    const std::string& subscription_id) const {
  common::MutexLock lock(&mu_);
  return subscriptions_.at(subscription_id).disabled_reason;
}

int FakeDeliveryStore::Unsettled() const {
  common::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [id, row] : rows_) {
    if (row.delivery.state == FakeDelivery::State::kPending &&
        subscriptions_.at(row.delivery.subscription_id).enabled) {
      ++n;
    }
  }
  return n;
}

int FakeDeliveryStore::lease_calls() const {
  common::MutexLock lock(&mu_);
  return lease_calls_;
}

int FakeDeliveryStore::complete_calls() const {
  common::MutexLock lock(&mu_);
  return complete_calls_;
}

int FakeDeliveryStore::release_calls() const {
  common::MutexLock lock(&mu_);
  return release_calls_;
}

}  // namespace webhooks::testing
