#include "lib/dispatch/write_batcher.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace webhooks::dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;
using State = store::DeliveryOutcome::State;

const absl::Time kT0 = absl::FromUnixSeconds(1795701600);

store::DeliveryOutcome Outcome(int64_t id) {
  store::DeliveryOutcome outcome;
  outcome.delivery_id = id;
  outcome.lease_token = 100 + id;
  outcome.subscription_id = "sub_1";
  outcome.state = State::kDelivered;
  outcome.attempt = 1;
  outcome.http_status = 200;
  outcome.error_class = "success";
  return outcome;
}

std::vector<int64_t> Ids(const std::vector<store::DeliveryOutcome>& outcomes) {
  std::vector<int64_t> ids;
  for (const store::DeliveryOutcome& o : outcomes) ids.push_back(o.delivery_id);
  return ids;
}

std::vector<int64_t> AllIds(const WriteBatch& batch) {
  return Ids(batch.outcomes);
}

domain::RetryPolicy Policy() {
  domain::RetryPolicy policy;
  policy.jitter = 0;
  return policy;
}

TEST(WriteBatcherTest, EmptyHasNothing) {
  WriteBatcher batcher({}, Policy(), 1);
  EXPECT_EQ(batcher.Next(kT0), std::nullopt);
  EXPECT_EQ(batcher.NextAt(), absl::InfiniteFuture());
  EXPECT_EQ(batcher.pending(), 0u);
}

TEST(WriteBatcherTest, BatchesUpToMaxInOrderOneAtATime) {
  WriteBatcherOptions options;
  options.max_batch = 3;
  WriteBatcher batcher(options, Policy(), 1);
  for (int64_t id = 1; id <= 5; ++id) batcher.Add(Outcome(id));
  EXPECT_LE(batcher.NextAt(), kT0);
  std::optional<WriteBatch> first = batcher.Next(kT0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->kind, WriteBatch::Kind::kOutcomes);
  EXPECT_THAT(AllIds(*first), ElementsAre(1, 2, 3));
  EXPECT_EQ(batcher.pending(), 5u);  // the batch out counts
  // One write at a time.
  EXPECT_EQ(batcher.Next(kT0), std::nullopt);
  EXPECT_EQ(batcher.NextAt(), absl::InfiniteFuture());
  const WriteReport report =
      batcher.OnResult(kT0, *first, absl::OkStatus(), {1, 2, 3});
  EXPECT_THAT(Ids(report.applied), ElementsAre(1, 2, 3));
  EXPECT_THAT(report.fenced, IsEmpty());
  EXPECT_EQ(batcher.pending(), 2u);
  std::optional<WriteBatch> second = batcher.Next(kT0);
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(AllIds(*second), ElementsAre(4, 5));
  batcher.OnResult(kT0, *second, absl::OkStatus(), {4, 5});
  EXPECT_EQ(batcher.pending(), 0u);
  EXPECT_EQ(batcher.Next(kT0), std::nullopt);
}

TEST(WriteBatcherTest, ReleasesGoFirst) {
  WriteBatcher batcher({}, Policy(), 1);
  batcher.Add(Outcome(1));
  batcher.AddRelease({7, 107, "sub_1"});
  batcher.AddRelease({8, 108, "sub_2"});
  std::optional<WriteBatch> batch = batcher.Next(kT0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->kind, WriteBatch::Kind::kReleases);
  ASSERT_EQ(batch->releases.size(), 2u);
  EXPECT_EQ(batch->releases[0].delivery_id, 7);
  EXPECT_EQ(batch->releases[1].delivery_id, 8);
  EXPECT_TRUE(batch->outcomes.empty());
  EXPECT_EQ(batcher.pending(), 3u);
  const WriteReport report =
      batcher.OnResult(kT0, *batch, absl::OkStatus(), {});
  EXPECT_EQ(report.releases_written, 2);
  batch = batcher.Next(kT0);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->kind, WriteBatch::Kind::kOutcomes);
}

TEST(WriteBatcherTest, FailedReleasesGoBackWholeWithBackoff) {
  WriteBatcher batcher({}, Policy(), 1);
  batcher.AddRelease({7, 107, "sub_1"});
  batcher.AddRelease({8, 108, "sub_1"});
  std::optional<WriteBatch> batch = batcher.Next(kT0);
  ASSERT_TRUE(batch.has_value());
  batcher.OnResult(kT0, *batch, absl::InternalError("boom"), {});
  EXPECT_EQ(batcher.NextAt(), kT0 + absl::Milliseconds(100));
  EXPECT_EQ(batcher.Next(kT0 + absl::Milliseconds(99)), std::nullopt);
  batch = batcher.Next(kT0 + absl::Milliseconds(100));
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->releases.size(), 2u);
}

TEST(WriteBatcherTest, FencedAreReportedAndNotRetried) {
  WriteBatcher batcher({}, Policy(), 1);
  for (int64_t id = 1; id <= 4; ++id) batcher.Add(Outcome(id));
  std::optional<WriteBatch> batch = batcher.Next(kT0);
  ASSERT_TRUE(batch.has_value());
  const WriteReport report =
      batcher.OnResult(kT0, *batch, absl::OkStatus(), {1, 3});
  EXPECT_THAT(Ids(report.applied), ElementsAre(1, 3));
  EXPECT_THAT(Ids(report.fenced), ElementsAre(2, 4));
  EXPECT_EQ(batcher.pending(), 0u);
  EXPECT_EQ(batcher.Next(kT0), std::nullopt);
}

TEST(WriteBatcherTest, UnavailableRetriesTheWholeBatchWithBackoff) {
  for (const absl::Status& status :
       {absl::UnavailableError("connection lost"),
        absl::ResourceExhaustedError("pool busy")}) {
    SCOPED_TRACE(status.ToString());
    WriteBatcher batcher({}, Policy(), 1);
    for (int64_t id = 1; id <= 8; ++id) batcher.Add(Outcome(id));
    absl::Time now = kT0;
    const absl::Duration expected[] = {
        absl::Milliseconds(100),  absl::Milliseconds(200),
        absl::Milliseconds(400),  absl::Milliseconds(800),
        absl::Milliseconds(1600), absl::Milliseconds(3200),
        absl::Seconds(5),         absl::Seconds(5)};
    for (absl::Duration backoff : expected) {
      std::optional<WriteBatch> batch = batcher.Next(now);
      ASSERT_TRUE(batch.has_value());
      EXPECT_THAT(AllIds(*batch), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
      const WriteReport report = batcher.OnResult(now, *batch, status, {});
      EXPECT_FALSE(report.split);
      EXPECT_EQ(report.replaced, 0);
      EXPECT_EQ(batcher.NextAt(), now + backoff);
      EXPECT_EQ(batcher.Next(now + backoff - absl::Milliseconds(1)),
                std::nullopt);
      now += backoff;
    }
    // Outcomes added meanwhile wait behind the batch put back.
    batcher.Add(Outcome(9));
    std::optional<WriteBatch> batch = batcher.Next(now);
    ASSERT_TRUE(batch.has_value());
    EXPECT_THAT(AllIds(*batch), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8));
    const WriteReport report =
        batcher.OnResult(now, *batch, absl::OkStatus(), AllIds(*batch));
    EXPECT_EQ(report.applied.size(), 8u);
    EXPECT_EQ(report.applied_replacements, 0);
    batch = batcher.Next(now);
    ASSERT_TRUE(batch.has_value());
    EXPECT_THAT(AllIds(*batch), ElementsAre(9));
    // The success reset the backoff.
    batcher.OnResult(now, *batch, status, {});
    EXPECT_EQ(batcher.NextAt(), now + absl::Milliseconds(100));
  }
}

// Only UNAVAILABLE (the connection failed) leaves a write that may have been
// applied; its outcomes go out again marked maybe_written, so that the store
// reports the ones it had applied. A busy pool (nothing sent) and a refused
// statement (nothing changed) leave them unmarked.
TEST(WriteBatcherTest, OnlyAnUnavailableWriteMarksItsOutcomesMaybeWritten) {
  const auto marks = [](const WriteBatch& batch) {
    std::vector<bool> out;
    for (const store::DeliveryOutcome& o : batch.outcomes)
      out.push_back(o.maybe_written);
    return out;
  };
  WriteBatcher batcher({}, Policy(), 1);
  for (int64_t id = 1; id <= 4; ++id) batcher.Add(Outcome(id));
  absl::Time now = kT0;
  std::optional<WriteBatch> batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(marks(*batch), ElementsAre(false, false, false, false));
  batcher.OnResult(now, *batch, absl::ResourceExhaustedError("pool busy"), {});
  now = batcher.NextAt();
  batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(marks(*batch), ElementsAre(false, false, false, false));
  batcher.OnResult(now, *batch, absl::InternalError("refused"), {});
  batch = batcher.Next(now);  // the first half
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(AllIds(*batch), ElementsAre(1, 2));
  EXPECT_THAT(marks(*batch), ElementsAre(false, false));
  batcher.OnResult(now, *batch, absl::UnavailableError("connection lost"), {});
  now = batcher.NextAt();
  batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(AllIds(*batch), ElementsAre(1, 2));
  EXPECT_THAT(marks(*batch), ElementsAre(true, true));
  // Still marked when a later failure splits it.
  batcher.OnResult(now, *batch, absl::InternalError("refused"), {});
  batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(AllIds(*batch), ElementsAre(1));
  EXPECT_THAT(marks(*batch), ElementsAre(true));
  const WriteReport report =
      batcher.OnResult(now, *batch, absl::OkStatus(), {1});
  EXPECT_THAT(Ids(report.applied), ElementsAre(1));
  batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(AllIds(*batch), ElementsAre(2));
  EXPECT_THAT(marks(*batch), ElementsAre(true));
  batcher.OnResult(now, *batch, absl::OkStatus(), {2});
  batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_THAT(AllIds(*batch), ElementsAre(3, 4));
  EXPECT_THAT(marks(*batch), ElementsAre(false, false));
}

// A store that refuses any batch holding `poison`, as a batch that trips a
// constraint would be.
struct PoisonStore {
  int64_t poison;
  std::vector<int64_t> written;
  int calls = 0;

  absl::Status Write(const WriteBatch& batch, std::vector<int64_t>& applied) {
    ++calls;
    for (const store::DeliveryOutcome& o : batch.outcomes) {
      if (o.delivery_id == poison && o.error_class != "internal") {
        return absl::InternalError("violates a check constraint");
      }
    }
    applied = AllIds(batch);
    written.insert(written.end(), applied.begin(), applied.end());
    return absl::OkStatus();
  }
};

TEST(WriteBatcherTest, PoisonIsIsolatedBySplittingAndWrittenAsInternal) {
  WriteBatcher batcher({}, Policy(), 1);
  for (int64_t id = 1; id <= 8; ++id) batcher.Add(Outcome(id));
  PoisonStore store{6, {}, 0};
  absl::Time now = kT0;
  std::vector<absl::Time> single_tries;
  int splits = 0;
  int replaced = 0;
  std::optional<store::DeliveryOutcome> internal;
  while (batcher.pending() > 0) {
    const absl::Time at = std::max(now, batcher.NextAt());
    ASSERT_NE(at, absl::InfiniteFuture());
    now = at;
    std::optional<WriteBatch> batch = batcher.Next(now);
    ASSERT_TRUE(batch.has_value());
    if (batch->outcomes.size() == 1 && batch->outcomes[0].delivery_id == 6) {
      single_tries.push_back(now);
    }
    std::vector<int64_t> applied;
    const absl::Status status = store.Write(*batch, applied);
    const WriteReport report = batcher.OnResult(now, *batch, status, applied);
    splits += report.split ? 1 : 0;
    replaced += report.replaced;
    for (const store::DeliveryOutcome& o : report.applied) {
      if (o.delivery_id == 6) internal = o;
    }
    ASSERT_LT(store.calls, 100);
  }
  // 8 -> 4+4 -> (1..4 written) 2+2 -> (5 alone, written) ... -> 6 alone.
  EXPECT_THAT(store.written,
              UnorderedElementsAreArray({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(splits, 3);  // 8, 4 (5..8) and 2 (5,6)
  EXPECT_EQ(replaced, 1);
  // Every batch without 6 was written at once, without waiting.
  // 6 alone: struck at kT0, +100 ms, +200 ms; then written as internal after
  // another 400 ms.
  ASSERT_EQ(single_tries.size(), 4u);
  EXPECT_EQ(single_tries[0], kT0);
  EXPECT_EQ(single_tries[1], kT0 + absl::Milliseconds(100));
  EXPECT_EQ(single_tries[2], kT0 + absl::Milliseconds(300));
  EXPECT_EQ(single_tries[3], kT0 + absl::Milliseconds(700));
  ASSERT_TRUE(internal.has_value());
  EXPECT_EQ(internal->error_class, "internal");
  EXPECT_EQ(internal->state, State::kRetry);
  EXPECT_EQ(internal->lease_token, 106);
  EXPECT_EQ(internal->next_attempt_at,
            kT0 + absl::Milliseconds(300) + absl::Seconds(5));
}

TEST(WriteBatcherTest, TheOtherSevenAreWrittenBeforeThePoisonIsStruck) {
  WriteBatcher batcher({}, Policy(), 1);
  for (int64_t id = 1; id <= 8; ++id) batcher.Add(Outcome(id));
  PoisonStore store{6, {}, 0};
  // Everything at kT0: only the poison's strikes wait.
  while (std::optional<WriteBatch> batch = batcher.Next(kT0)) {
    std::vector<int64_t> applied;
    const absl::Status status = store.Write(*batch, applied);
    batcher.OnResult(kT0, *batch, status, applied);
  }
  EXPECT_THAT(store.written, UnorderedElementsAreArray({1, 2, 3, 4, 5, 7, 8}));
  EXPECT_EQ(batcher.pending(), 1u);
}

TEST(WriteBatcherTest, InternalThatStillFailsIsRetriedForEver) {
  WriteBatcherOptions options;
  options.failures_before_internal = 2;
  WriteBatcher batcher(options, Policy(), 1);
  batcher.Add(Outcome(1));
  absl::Time now = kT0;
  int replaced = 0;
  for (int i = 0; i < 20; ++i) {
    now = std::max(now, batcher.NextAt());
    std::optional<WriteBatch> batch = batcher.Next(now);
    ASSERT_TRUE(batch.has_value());
    replaced +=
        batcher.OnResult(now, *batch, absl::AbortedError("deadlock"), {})
            .replaced;
    EXPECT_EQ(batcher.pending(), 1u);  // never dropped
  }
  EXPECT_EQ(replaced, 1);  // replaced once only
  now = std::max(now, batcher.NextAt());
  std::optional<WriteBatch> batch = batcher.Next(now);
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->outcomes[0].error_class, "internal");
  const WriteReport report =
      batcher.OnResult(now, *batch, absl::OkStatus(), {1});
  EXPECT_EQ(report.applied_replacements, 1);
}

TEST(WriteBatcherTest, AbandonDropsEverything) {
  WriteBatcher batcher({}, Policy(), 1);
  for (int64_t id = 1; id <= 3; ++id) batcher.Add(Outcome(id));
  batcher.AddRelease({9, 109, "sub_1"});
  std::optional<WriteBatch> out = batcher.Next(kT0);  // the release
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(batcher.Abandon(), 4u);
  EXPECT_EQ(batcher.pending(), 0u);
  EXPECT_EQ(batcher.NextAt(), absl::InfiniteFuture());
  // A late result of the abandoned batch changes nothing.
  const WriteReport report = batcher.OnResult(kT0, *out, absl::OkStatus(), {});
  EXPECT_EQ(report.releases_written, 0);
  EXPECT_EQ(batcher.Next(kT0), std::nullopt);
}

TEST(WriteBatcherTest, OnlyANewBatchIsAFirstTry) {
  WriteBatcherOptions options;
  options.failures_before_internal = 3;
  WriteBatcher batcher(options, Policy(), 1);
  for (int64_t id = 1; id <= 2; ++id) batcher.Add(Outcome(id));
  std::optional<WriteBatch> first = batcher.Next(kT0);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->first_try);
  EXPECT_EQ(first->hand_off.limit, 0);  // the Dispatcher's to decide
  batcher.OnResult(kT0, *first, absl::InternalError("refused"), {});
  // The halves of the split batch, and then a struck single outcome.
  std::optional<WriteBatch> half = batcher.Next(kT0);
  ASSERT_TRUE(half.has_value());
  EXPECT_FALSE(half->first_try);
  batcher.OnResult(kT0, *half, absl::InternalError("refused"), {});
  std::optional<WriteBatch> other = batcher.Next(kT0);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->first_try);
  batcher.OnResult(kT0, *other, absl::OkStatus(), AllIds(*other));
  std::optional<WriteBatch> struck = batcher.Next(batcher.NextAt());
  ASSERT_TRUE(struck.has_value());
  EXPECT_FALSE(struck->first_try);
  batcher.OnResult(batcher.NextAt(), *struck, absl::OkStatus(),
                   AllIds(*struck));
  // A batch put back whole (database away) is not a first try either.
  batcher.Add(Outcome(3));
  std::optional<WriteBatch> fresh = batcher.Next(kT0 + absl::Hours(1));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_TRUE(fresh->first_try);
  batcher.OnResult(kT0 + absl::Hours(1), *fresh, absl::UnavailableError("away"),
                   {});
  std::optional<WriteBatch> again = batcher.Next(batcher.NextAt());
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->first_try);
}

}  // namespace
}  // namespace webhooks::dispatch
