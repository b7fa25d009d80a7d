#include "lib/dispatch/write_batcher.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "lib/dispatch/outcome_mapper.h"

namespace webhooks::dispatch {
namespace {

// The database is away or busy: nothing in the batch is at fault.
bool IsTransient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kResourceExhausted;
}

}  // namespace

WriteBatcher::WriteBatcher(WriteBatcherOptions options,
                           domain::RetryPolicy retry, uint64_t seed)
    : options_(options), retry_(retry), rng_(seed) {}

void WriteBatcher::Add(store::DeliveryOutcome outcome) {
  outcomes_.push_back(Entry{std::move(outcome), 0, false});
}

void WriteBatcher::AddRelease(store::LeaseRelease release) {
  releases_.push_back(std::move(release));
}

std::optional<WriteBatch> WriteBatcher::Next(absl::Time now) {
  if (out_kind_.has_value() || now < backoff_until_) return std::nullopt;
  const size_t max_batch = static_cast<size_t>(std::max(options_.max_batch, 1));
  WriteBatch batch;
  if (!releases_.empty()) {
    const size_t n = std::min(releases_.size(), max_batch);
    batch.kind = WriteBatch::Kind::kReleases;
    out_releases_.assign(releases_.begin(),
                         releases_.begin() + static_cast<ptrdiff_t>(n));
    releases_.erase(releases_.begin(),
                    releases_.begin() + static_cast<ptrdiff_t>(n));
    batch.releases = out_releases_;
    out_kind_ = batch.kind;
    return batch;
  }
  // A struck outcome whose wait is over goes before the rest: it is one row,
  // and a steady stream of new outcomes must not starve it.
  for (auto it = struck_.begin(); it != struck_.end(); ++it) {
    if (it->not_before > now) continue;
    batch.kind = WriteBatch::Kind::kOutcomes;
    batch.first_try = false;
    batch.outcomes.push_back(it->outcome);
    out_outcomes_.clear();
    out_outcomes_.push_back(std::move(*it));
    struck_.erase(it);
    out_kind_ = batch.kind;
    return batch;
  }
  if (outcomes_.empty()) return std::nullopt;
  size_t n = std::min(outcomes_.size(), max_batch);
  if (!batch_sizes_.empty()) {
    n = std::min(batch_sizes_.front(), outcomes_.size());
    batch_sizes_.pop_front();
    batch.first_try = false;
  }
  batch.kind = WriteBatch::Kind::kOutcomes;
  out_outcomes_.assign(
      std::make_move_iterator(outcomes_.begin()),
      std::make_move_iterator(outcomes_.begin() + static_cast<ptrdiff_t>(n)));
  outcomes_.erase(outcomes_.begin(),
                  outcomes_.begin() + static_cast<ptrdiff_t>(n));
  batch.outcomes.reserve(n);
  for (const Entry& entry : out_outcomes_) {
    batch.outcomes.push_back(entry.outcome);
  }
  out_kind_ = batch.kind;
  return batch;
}

absl::Time WriteBatcher::NextAt() const {
  if (out_kind_.has_value()) return absl::InfiniteFuture();
  if (!outcomes_.empty() || !releases_.empty()) return backoff_until_;
  absl::Time next = absl::InfiniteFuture();
  for (const Entry& entry : struck_) next = std::min(next, entry.not_before);
  return next == absl::InfiniteFuture() ? next : std::max(next, backoff_until_);
}

void WriteBatcher::PutBack(std::vector<Entry> entries) {
  if (entries.empty()) return;
  batch_sizes_.push_front(entries.size());
  outcomes_.insert(outcomes_.begin(), std::make_move_iterator(entries.begin()),
                   std::make_move_iterator(entries.end()));
}

void WriteBatcher::BackOff(absl::Time now) {
  backoff_ = backoff_ == absl::ZeroDuration()
                 ? options_.initial_backoff
                 : std::min(backoff_ * 2, options_.max_backoff);
  backoff_until_ = now + backoff_;
}

WriteReport WriteBatcher::OnResult(absl::Time now, const WriteBatch& batch,
                                   const absl::Status& status,
                                   const std::vector<int64_t>& applied_ids) {
  WriteReport report;
  // The batch is ours (out_*), which also carries the strikes; `batch` only
  // says which kind the caller wrote.
  if (!out_kind_.has_value() || *out_kind_ != batch.kind) return report;
  out_kind_.reset();

  if (batch.kind == WriteBatch::Kind::kReleases) {
    std::vector<store::LeaseRelease> releases = std::move(out_releases_);
    out_releases_.clear();
    if (status.ok()) {
      report.releases_written = static_cast<int>(releases.size());
      backoff_ = absl::ZeroDuration();
      return report;
    }
    releases_.insert(releases_.begin(), releases.begin(), releases.end());
    BackOff(now);
    return report;
  }

  std::vector<Entry> entries = std::move(out_outcomes_);
  out_outcomes_.clear();
  if (status.ok()) {
    const absl::flat_hash_set<int64_t> applied(applied_ids.begin(),
                                               applied_ids.end());
    for (Entry& entry : entries) {
      if (applied.contains(entry.outcome.delivery_id)) {
        if (entry.internal) ++report.applied_replacements;
        report.applied.push_back(std::move(entry.outcome));
      } else {
        report.fenced.push_back(std::move(entry.outcome));
      }
    }
    backoff_ = absl::ZeroDuration();
    return report;
  }
  if (IsTransient(status)) {
    // UNAVAILABLE: the connection failed, and the write may have been applied
    // all the same; the store then says so when it is written again.
    if (status.code() == absl::StatusCode::kUnavailable) {
      for (Entry& entry : entries) entry.outcome.maybe_written = true;
    }
    PutBack(std::move(entries));
    BackOff(now);
    return report;
  }
  if (entries.size() > 1) {
    // Something in the batch is refused: halve it until the culprit stands
    // alone, writing the rest meanwhile.
    const size_t half = entries.size() / 2;
    std::vector<Entry> back(
        std::make_move_iterator(entries.begin() + static_cast<ptrdiff_t>(half)),
        std::make_move_iterator(entries.end()));
    entries.resize(half);
    PutBack(std::move(back));
    PutBack(std::move(entries));
    report.split = true;
    return report;
  }
  Entry& entry = entries.front();
  if (!entry.internal &&
      ++entry.strikes >= std::max(options_.failures_before_internal, 1)) {
    entry.outcome = InternalOutcome(entry.outcome, retry_, now, rng_);
    entry.internal = true;
    entry.strikes = 0;
    ++report.replaced;
  }
  entry.backoff = entry.backoff == absl::ZeroDuration()
                      ? options_.initial_backoff
                      : std::min(entry.backoff * 2, options_.max_backoff);
  entry.not_before = now + entry.backoff;
  struck_.push_back(std::move(entry));
  return report;
}

size_t WriteBatcher::pending() const {
  return outcomes_.size() + releases_.size() + struck_.size() +
         out_outcomes_.size() + out_releases_.size();
}

size_t WriteBatcher::Abandon() {
  const size_t dropped = pending();
  outcomes_.clear();
  batch_sizes_.clear();
  releases_.clear();
  struck_.clear();
  out_outcomes_.clear();
  out_releases_.clear();
  out_kind_.reset();
  return dropped;
}

}  // namespace webhooks::dispatch
