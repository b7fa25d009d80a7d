#include "lib/dispatch/lease_planner.h"

#include <string>

#include "gtest/gtest.h"

namespace webhooks::dispatch {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1795701600);
constexpr absl::Duration kMs = absl::Milliseconds(1);

LeasePlannerOptions Options() {
  LeasePlannerOptions options;
  options.max_in_flight = 256;
  options.lease_batch = 100;
  options.poll_interval = absl::Seconds(1);
  options.max_pending_writes = 2000;
  options.max_error_backoff = absl::Seconds(5);
  return options;
}

TEST(LeasePlannerTest, StartsWithAHint) {
  const LeasePlanner planner(Options());
  EXPECT_EQ(planner.LeaseSize(kT0, 0, 0), 100);
  EXPECT_EQ(planner.NextCheck(kT0, 0, 0), kT0);
}

struct RoomCase {
  std::string name;
  int max_in_flight;
  int lease_batch;
  int in_flight;
  size_t pending_writes;
  int size;  // with a hint set
};

class LeasePlannerRoomTest : public ::testing::TestWithParam<RoomCase> {};

TEST_P(LeasePlannerRoomTest, LeaseSize) {
  const RoomCase& c = GetParam();
  LeasePlannerOptions options = Options();
  options.max_in_flight = c.max_in_flight;
  options.lease_batch = c.lease_batch;
  const LeasePlanner planner(options);
  EXPECT_EQ(planner.LeaseSize(kT0, c.in_flight, c.pending_writes), c.size);
  EXPECT_EQ(planner.NextCheck(kT0, c.in_flight, c.pending_writes),
            c.size > 0 ? kT0 : absl::InfiniteFuture());
}

INSTANTIATE_TEST_SUITE_P(
    Rules, LeasePlannerRoomTest,
    ::testing::Values(RoomCase{"IdleLeasesABatch", 256, 100, 0, 0, 100},
                      RoomCase{"NeverMoreThanFreeSlots", 256, 100, 200, 0, 56},
                      RoomCase{"NoneFree", 256, 100, 256, 0, 0},
                      RoomCase{"OverFull", 256, 100, 300, 0, 0},
                      // Half of min(lease_batch, max_in_flight) = 50 free slots
                      // needed while requests are in flight.
                      RoomCase{"BelowHalfABatchWaits", 256, 100, 207, 0, 0},
                      RoomCase{"HalfABatchLeases", 256, 100, 206, 0, 50},
                      RoomCase{"SmallPoolHalfOfPool", 10, 100, 5, 0, 5},
                      RoomCase{"SmallPoolBelowHalf", 10, 100, 6, 0, 0},
                      RoomCase{"IdleSmallPoolAnyFree", 1, 100, 0, 0, 1},
                      RoomCase{"OneSlotPoolBusy", 1, 100, 1, 0, 0},
                      RoomCase{"MinLeaseAtLeastOne", 256, 1, 255, 0, 1},
                      RoomCase{"WriteBacklogPauses", 256, 100, 0, 2000, 0},
                      RoomCase{"WriteBacklogJustBelow", 256, 100, 0, 1999,
                               100}),
    [](const ::testing::TestParamInfo<RoomCase>& test_case) {
      return test_case.param.name;
    });

TEST(LeasePlannerTest, WithoutHintWaitsForThePoll) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 3);  // not full: hint cleared
  EXPECT_FALSE(planner.hint());
  EXPECT_EQ(planner.LeaseSize(kT0, 3, 0), 0);
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Seconds(1) - kMs, 3, 0), 0);
  EXPECT_EQ(planner.NextCheck(kT0, 3, 0), kT0 + absl::Seconds(1));
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Seconds(1), 3, 0), 100);
  EXPECT_EQ(planner.NextCheck(kT0 + absl::Seconds(2), 3, 0),
            kT0 + absl::Seconds(2));
}

TEST(LeasePlannerTest, FullBatchKeepsTheHint) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 100);
  EXPECT_TRUE(planner.hint());
  EXPECT_EQ(planner.LeaseSize(kT0, 100, 0), 100);
  planner.OnLeased(kT0, 100, 100);
  EXPECT_EQ(planner.LeaseSize(kT0, 200, 0), 56);
}

TEST(LeasePlannerTest, HintLeasesBeforeThePoll) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 0);
  EXPECT_EQ(planner.LeaseSize(kT0 + kMs, 0, 0), 0);
  planner.Hint();
  EXPECT_EQ(planner.LeaseSize(kT0 + kMs, 0, 0), 100);
  EXPECT_EQ(planner.NextCheck(kT0 + kMs, 0, 0), kT0 + kMs);
}

// After a short lease, a hint (a write freed slots) waits out the gap while
// requests are in flight, so capped subscriptions are not leased a few rows
// at a time after every write.
TEST(LeasePlannerTest, ShortLeaseUnderLoadWaitsOutTheGap) {
  LeasePlannerOptions options = Options();
  options.min_lease_gap = absl::Milliseconds(5);
  LeasePlanner planner(options);
  planner.OnLeased(kT0, 100, 7);
  planner.Hint();
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Milliseconds(4), 7, 0), 0);
  EXPECT_EQ(planner.NextCheck(kT0 + absl::Milliseconds(4), 7, 0),
            kT0 + absl::Milliseconds(5));
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Milliseconds(5), 7, 0), 100);
  // An idle worker does not wait: nothing of ours is in flight to coalesce.
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Milliseconds(1), 0, 0), 100);
}

TEST(LeasePlannerTest, FullLeaseHasNoGap) {
  LeasePlannerOptions options = Options();
  options.min_lease_gap = absl::Milliseconds(5);
  LeasePlanner planner(options);
  planner.OnLeased(kT0, 100, 100);
  EXPECT_EQ(planner.LeaseSize(kT0, 100, 0), 100);
  EXPECT_EQ(planner.NextCheck(kT0, 100, 0), kT0);
}

TEST(LeasePlannerTest, HintDoesNotOverrideRoom) {
  LeasePlanner planner(Options());
  planner.Hint();
  EXPECT_EQ(planner.LeaseSize(kT0, 220, 0), 0);
  EXPECT_EQ(planner.NextCheck(kT0, 220, 0), absl::InfiniteFuture());
  EXPECT_EQ(planner.LeaseSize(kT0, 0, 5000), 0);
  EXPECT_EQ(planner.NextCheck(kT0, 0, 5000), absl::InfiniteFuture());
}

TEST(LeasePlannerTest, ErrorBackoffDoublesToTheMaximum) {
  LeasePlanner planner(Options());
  absl::Time now = kT0;
  const absl::Duration expected[] = {
      absl::Milliseconds(100),  absl::Milliseconds(200),
      absl::Milliseconds(400),  absl::Milliseconds(800),
      absl::Milliseconds(1600), absl::Milliseconds(3200),
      absl::Seconds(5),         absl::Seconds(5)};
  for (absl::Duration backoff : expected) {
    planner.OnLeaseFailed(now);
    EXPECT_EQ(planner.error_backoff(), backoff);
    EXPECT_EQ(planner.LeaseSize(now, 0, 0), 0);
    EXPECT_EQ(planner.LeaseSize(now + backoff - kMs, 0, 0), 0);
    EXPECT_EQ(planner.NextCheck(now, 0, 0), now + backoff);
    // Retried as soon as the backoff ends, hint or no hint.
    EXPECT_EQ(planner.LeaseSize(now + backoff, 0, 0), 100);
    now += backoff;
  }
  // A success resets it.
  planner.OnLeased(now, 100, 0);
  EXPECT_EQ(planner.error_backoff(), absl::ZeroDuration());
  planner.OnLeaseFailed(now);
  EXPECT_EQ(planner.error_backoff(), absl::Milliseconds(100));
}

TEST(LeasePlannerTest, HintDuringBackoffWaitsForItsEnd) {
  LeasePlanner planner(Options());
  planner.OnLeaseFailed(kT0);
  planner.Hint();
  EXPECT_EQ(planner.LeaseSize(kT0 + absl::Milliseconds(50), 0, 0), 0);
  EXPECT_EQ(planner.NextCheck(kT0 + absl::Milliseconds(50), 0, 0),
            kT0 + absl::Milliseconds(100));
}

TEST(LeasePlannerTest, NoRoomNoDeadlineEvenWhenThePollIsDue) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 0);
  EXPECT_EQ(planner.NextCheck(kT0 + absl::Seconds(5), 256, 0),
            absl::InfiniteFuture());
  // Once a slot frees (an event), the overdue poll leases at once.
  EXPECT_EQ(planner.NextCheck(kT0 + absl::Seconds(5), 0, 0),
            kT0 + absl::Seconds(5));
}

TEST(LeasePlannerTest, NoHandOffBeforeAnyLease) {
  const LeasePlanner planner(Options());
  EXPECT_EQ(planner.HandOffLimit(0, 30), 0);
}

TEST(LeasePlannerTest, NoHandOffAfterAFullLease) {
  // A full lease means other lanes wait for this worker's slots: they get
  // them through leases, round-robin, not the incumbents through hand-offs.
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 100);
  EXPECT_EQ(planner.HandOffLimit(64, 30), 0);
}

struct HandOffCase {
  std::string name;
  int in_flight;
  int freed;
  int limit;
};

class LeasePlannerHandOffTest : public ::testing::TestWithParam<HandOffCase> {};

// max_in_flight 256, lease_batch 100: the smallest lease under load is 50,
// and a hand-off never leaves less room than that.
TEST_P(LeasePlannerHandOffTest, HandOffLimitAfterAShortLease) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 64);
  EXPECT_EQ(planner.HandOffLimit(GetParam().in_flight, GetParam().freed),
            GetParam().limit);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, LeasePlannerHandOffTest,
    ::testing::Values(HandOffCase{"AllFreed", 34, 30, 30},
                      HandOffCase{"UpToTheLeaseRoom", 180, 30, 26},
                      HandOffCase{"NoneWhenOnlyALeaseFits", 206, 30, 0},
                      HandOffCase{"NoneWhenFull", 256, 30, 0},
                      HandOffCase{"NothingFreed", 10, 0, 0}),
    [](const ::testing::TestParamInfo<HandOffCase>& test_case) {
      return test_case.param.name;
    });

TEST(LeasePlannerTest, HandOffStopsAgainAfterAFullLease) {
  LeasePlanner planner(Options());
  planner.OnLeased(kT0, 100, 10);
  EXPECT_EQ(planner.HandOffLimit(10, 10), 10);
  planner.OnLeased(kT0 + kMs, 100, 100);
  EXPECT_EQ(planner.HandOffLimit(10, 10), 0);
}

}  // namespace
}  // namespace webhooks::dispatch
