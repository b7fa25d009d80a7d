// When to lease, and how many: the leaser's decisions, apart from its thread.
// Single-threaded; time is passed in.
#ifndef WEBHOOKS_LIB_DISPATCH_LEASE_PLANNER_H_
#define WEBHOOKS_LIB_DISPATCH_LEASE_PLANNER_H_

#include <cstddef>

#include "absl/time/time.h"

namespace webhooks::dispatch {

struct LeasePlannerOptions {
  // Requests in flight at once (this worker).
  int max_in_flight = 256;
  // Most deliveries per lease.
  int lease_batch = 100;
  // Backstop for missed notifications: lease at least this often when slots
  // are free.
  absl::Duration poll_interval = absl::Seconds(1);
  // Outcomes and releases waiting to be written above which leasing pauses:
  // while the database is slow or away, leasing more only makes more.
  size_t max_pending_writes = 2000;
  // Longest wait after failed leases (the wait starts at 100 ms and doubles).
  absl::Duration max_error_backoff = absl::Seconds(5);
  // After a lease that came back short, the shortest wait before the next
  // one while requests are in flight. Slots of capped subscriptions free up a
  // few at a time, with every write; leasing after each write would make many
  // tiny leases (each costs the database about as much as a full one). A
  // full lease, or an idle worker, leases again at once. 1 ms rather than 5:
  // at a paced 1,000 events/s the gap was most of the tail (p99 publish ->
  // received 28-49 ms with 5 ms, 17-25 ms with 1 ms), and the throughput and
  // lease-cost benchmarks did no worse (BENCHMARKS.md, issue 7).
  absl::Duration min_lease_gap = absl::Milliseconds(1);
};

// Not thread-safe (the caller serialises). Starts with a hint set, so the
// first LeaseSize with room is non-zero.
class LeasePlanner {
 public:
  explicit LeasePlanner(LeasePlannerOptions options);

  // How many deliveries to lease now, 0 meaning "not now". Non-zero only when
  // all of these hold: a slot is free (free = max_in_flight - in_flight > 0);
  // in_flight == 0 or free >= max(1, min(lease_batch, max_in_flight) / 2), so
  // that leasing under load is never one row per freed slot;
  // pending_writes < max_pending_writes; a hint is set or now >= the next
  // poll; `now` is not inside an error backoff; and, when the last lease came
  // back short and requests are in flight, min_lease_gap has passed since it.
  // Then min(free, lease_batch).
  int LeaseSize(absl::Time now, int in_flight, size_t pending_writes) const;

  // The earliest time LeaseSize may become non-zero with no event (slot
  // freed, write done, hint) in between: `now` when it is non-zero already,
  // else the next poll, the end of an error backoff or of the lease gap,
  // whichever is later;
  // absl::InfiniteFuture() when only an event can change it.
  absl::Time NextCheck(absl::Time now, int in_flight,
                       size_t pending_writes) const;

  // How many deliveries an outcome write freeing `freed` slots may lease
  // back for the same lanes (DeliveryStore::CompleteAndHandOff), with
  // `in_flight` requests in flight or reserved. 0 unless the last lease came
  // back short: when a lease fills, other lanes are waiting for this worker,
  // and freed capacity goes to them through leases, round-robin. Else
  // min(freed, free - min lease), so that a lease of the worthwhile size
  // LeaseSize waits for always stays possible: a lane that appears later
  // still gets this worker's slots, however busy the incumbents are.
  int HandOffLimit(int in_flight, int freed) const;

  // A lease of `requested` rows returned `received`. The hint is cleared
  // unless the batch came back full (more are probably due); the next poll is
  // now + poll_interval; any error backoff is over.
  void OnLeased(absl::Time now, int requested, int received);

  // A lease failed: no lease before now + the backoff, which starts at
  // 100 ms and doubles per consecutive failure up to max_error_backoff. Then
  // the lease is tried again at once (the hint is set).
  void OnLeaseFailed(absl::Time now);

  // Work may be due: a NOTIFY arrived, or a slot of ours was freed.
  void Hint();

  bool hint() const { return hint_; }
  // Zero when not backing off.
  absl::Duration error_backoff() const { return error_backoff_; }

 private:
  // The capacity rules of LeaseSize (slots and writes), without time.
  bool HasRoom(int in_flight, size_t pending_writes) const;
  // The smallest lease made while requests are in flight.
  int MinLease() const;

  const LeasePlannerOptions options_;
  bool hint_ = true;
  bool last_lease_short_ = false;
  absl::Time next_poll_ = absl::InfinitePast();
  // The end of the lease gap (InfinitePast after a full lease).
  absl::Time gap_until_ = absl::InfinitePast();
  absl::Time backoff_until_ = absl::InfinitePast();
  absl::Duration error_backoff_ = absl::ZeroDuration();
};

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_LEASE_PLANNER_H_
