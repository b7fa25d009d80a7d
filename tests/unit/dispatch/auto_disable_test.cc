#include "lib/dispatch/auto_disable.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace webhooks::dispatch {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1796040000);  // 2026-11-30 12:00Z

store::LaneHealth Lane(int failed_in_a_row,
                       absl::Time failing_since = absl::InfinitePast()) {
  return {.subscription_id = "sub_1",
          .failed_in_a_row = failed_in_a_row,
          .failing_since = failing_since};
}

TEST(AutoDisableTest, DisablesAtTheCountInARowNotBefore) {
  const AutoDisablePolicy policy;  // 50 in a row, or 5 days
  EXPECT_THAT(ToDisable(policy, {Lane(49)}, kNow), IsEmpty());
  const std::vector<store::FailingSubscription> out =
      ToDisable(policy, {Lane(50)}, kNow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].subscription_id, "sub_1");
  EXPECT_EQ(out[0].reason,
            "disabled automatically: 50 deliveries in a row failed");
  // What the store re-checks: either rule, as configured.
  EXPECT_EQ(out[0].min_failed_in_a_row, 50);
  EXPECT_EQ(out[0].failing_before, kNow - absl::Hours(120));
}

TEST(AutoDisableTest, DisablesWhenEveryAttemptFailedForTheWholePeriod) {
  const AutoDisablePolicy policy;
  const absl::Time five_days = kNow - absl::Hours(120);
  EXPECT_THAT(ToDisable(policy, {Lane(3, five_days + absl::Seconds(1))}, kNow),
              IsEmpty());
  const std::vector<store::FailingSubscription> out =
      ToDisable(policy, {Lane(3, five_days)}, kNow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_THAT(out[0].reason, HasSubstr("every attempt has failed since "
                                       "2026-11-25T12:00:00Z (120h or more)"));
  // No failure on record: never by time.
  EXPECT_THAT(ToDisable(policy, {Lane(3)}, kNow), IsEmpty());
}

TEST(AutoDisableTest, EachRuleTurnsOffAlone) {
  AutoDisablePolicy count_only{.failed_in_a_row = 2,
                               .failing_for = absl::ZeroDuration()};
  EXPECT_THAT(ToDisable(count_only, {Lane(1, kNow - absl::Hours(1000))}, kNow),
              IsEmpty());
  std::vector<store::FailingSubscription> out =
      ToDisable(count_only, {Lane(2)}, kNow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].failing_before, absl::InfinitePast());  // rule off

  AutoDisablePolicy time_only{.failed_in_a_row = 0,
                              .failing_for = absl::Hours(1)};
  EXPECT_THAT(ToDisable(time_only, {Lane(100000)}, kNow), IsEmpty());
  out = ToDisable(time_only, {Lane(1, kNow - absl::Hours(1))}, kNow);
  ASSERT_THAT(out, SizeIs(1));
  EXPECT_EQ(out[0].min_failed_in_a_row, 0);  // rule off

  const AutoDisablePolicy off{.failed_in_a_row = 0,
                              .failing_for = absl::ZeroDuration()};
  EXPECT_THAT(ToDisable(off, {Lane(100000, kNow - absl::Hours(1000))}, kNow),
              IsEmpty());
}

TEST(AutoDisableTest, DecidesEachLaneOnItsOwn) {
  const AutoDisablePolicy policy{.failed_in_a_row = 3,
                                 .failing_for = absl::Hours(24)};
  std::vector<store::LaneHealth> lanes = {Lane(3), Lane(1), Lane(0)};
  lanes[1].subscription_id = "sub_2";
  lanes[2].subscription_id = "sub_3";
  lanes[2].failing_since = kNow - absl::Hours(25);
  const std::vector<store::FailingSubscription> out =
      ToDisable(policy, lanes, kNow);
  ASSERT_THAT(out, SizeIs(2));
  EXPECT_EQ(out[0].subscription_id, "sub_1");
  EXPECT_EQ(out[1].subscription_id, "sub_3");
}

}  // namespace
}  // namespace webhooks::dispatch
