// Outcomes and lease releases waiting to be written, and how failed writes
// are retried: the writer's decisions, apart from its thread and the
// database. Single-threaded; time is passed in.
//
// An outcome is never dropped (except by Abandon). A write whose result is
// unknown (UNAVAILABLE) is simply repeated: DeliveryStore writes are fenced
// by lease token, so repeating one applies it at most once.
#ifndef WEBHOOKS_LIB_DISPATCH_WRITE_BATCHER_H_
#define WEBHOOKS_LIB_DISPATCH_WRITE_BATCHER_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "lib/domain/retry_policy.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

struct WriteBatcherOptions {
  // Most outcomes (or releases) per write.
  int max_batch = 500;
  // Wait after a failed write, doubling per consecutive failure up to
  // max_backoff; back to initial_backoff after a success.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Failed writes of a single outcome after which it is replaced by its
  // InternalOutcome.
  int failures_before_internal = 3;
};

// One write: either outcomes (DeliveryStore::Complete) or releases
// (DeliveryStore::Release), never both.
struct WriteBatch {
  enum class Kind { kOutcomes, kReleases };
  Kind kind = Kind::kOutcomes;
  std::vector<store::DeliveryOutcome> outcomes;
  std::vector<store::LeaseRelease> releases;
  // False for outcomes written before without success (a batch put back, a
  // half of a split one, a struck outcome): what is being isolated should
  // not carry anything else with it.
  bool first_try = true;
  // Leases to take in the same write (DeliveryStore::CompleteAndHandOff);
  // the batcher leaves it empty, the Dispatcher decides.
  store::HandOff hand_off;
};

// What became of a batch, from WriteBatcher::OnResult.
struct WriteReport {
  // Outcomes written (their ids were in applied_ids).
  std::vector<store::DeliveryOutcome> applied;
  // Outcomes the store ignored: the write succeeded but their lease had been
  // taken over (or already written). Not an error and not retried.
  std::vector<store::DeliveryOutcome> fenced;
  // Of `applied`, how many were InternalOutcome replacements.
  int applied_replacements = 0;
  // Outcomes of this batch replaced by their InternalOutcome just now (after
  // failures_before_internal failures), to be written later.
  int replaced = 0;
  // Releases written (status OK).
  int releases_written = 0;
  // The batch failed and was put back as two halves.
  bool split = false;
};

// Not thread-safe (the caller serialises).
class WriteBatcher {
 public:
  // `retry` decides InternalOutcome's retry time; `seed` seeds its jitter (the
  // same seed gives the same times).
  WriteBatcher(WriteBatcherOptions options, domain::RetryPolicy retry,
               uint64_t seed);

  // Queues an outcome (behind the others) or a release.
  void Add(store::DeliveryOutcome outcome);
  void AddRelease(store::LeaseRelease release);

  // The next write to make, now: releases first (up to max_batch); then a
  // single outcome whose own retry is due (see OnResult); then outcomes (the
  // front half of a split batch, a batch put back whole, or up to max_batch
  // in arrival order). nullopt while a batch is out (one write at a time:
  // OnResult must come first), while backing off, or when there is nothing
  // to write now.
  std::optional<WriteBatch> Next(absl::Time now);

  // When Next may return a batch with no event in between: a time <= now
  // means at once; else the end of a backoff or of a struck outcome's wait;
  // absl::InfiniteFuture() when empty or while a batch is out.
  absl::Time NextAt() const;

  // The result of writing `batch`, the one Next returned last. `applied_ids`
  // are Complete's ids (ignored for releases). OK: written (outcomes not in
  // applied_ids are fenced); the backoff is reset. UNAVAILABLE or
  // RESOURCE_EXHAUSTED (the database is away or busy): the whole batch goes
  // back to the front (after UNAVAILABLE, its outcomes marked maybe_written),
  // and nothing is written before the backoff (doubling from initial_backoff to
  // max_backoff) ends; no split, no strike. Any other code (the statement
  // failed, so something in the batch may be refused): a batch of n > 1
  // outcomes is split into two halves at the front, retried at once; a single
  // outcome gets a strike and waits its own backoff (doubling per strike)
  // aside, so that it does not hold up the others, and at its
  // failures_before_internal'th strike is replaced (once) by its
  // InternalOutcome; an internal outcome that still fails keeps waiting and
  // being retried for ever. Failed releases go back whole after the backoff.
  // A result for no batch out (after Abandon) is ignored.
  WriteReport OnResult(absl::Time now, const WriteBatch& batch,
                       const absl::Status& status,
                       const std::vector<int64_t>& applied_ids);

  // Outcomes and releases not yet written, the batch out included.
  size_t pending() const;

  // Drops everything, the batch out included (at the end of a shutdown
  // grace: the leases expire and the deliveries are made again). Returns how
  // many outcomes and releases were dropped.
  size_t Abandon();

 private:
  struct Entry {
    store::DeliveryOutcome outcome;
    int strikes = 0;
    bool internal = false;  // replaced by its InternalOutcome
    // A struck outcome's own wait: doubling per strike, and its end.
    absl::Duration backoff = absl::ZeroDuration();
    absl::Time not_before = absl::InfinitePast();
  };

  // Puts `entries` back at the front of the queue as one batch of their size.
  void PutBack(std::vector<Entry> entries);
  void BackOff(absl::Time now);

  const WriteBatcherOptions options_;
  const domain::RetryPolicy retry_;
  std::mt19937_64 rng_;

  std::deque<Entry> outcomes_;
  // Sizes of the batches the front of outcomes_ must be taken in (halves of
  // split batches, batches put back whole), front first.
  std::deque<size_t> batch_sizes_;
  std::deque<store::LeaseRelease> releases_;
  // Struck single outcomes waiting for their own retry, in strike order.
  std::deque<Entry> struck_;

  // The batch out, if any.
  std::optional<WriteBatch::Kind> out_kind_;
  std::vector<Entry> out_outcomes_;
  std::vector<store::LeaseRelease> out_releases_;

  absl::Duration backoff_ = absl::ZeroDuration();
  absl::Time backoff_until_ = absl::InfinitePast();
};

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_WRITE_BATCHER_H_
