#include "lib/common/ids.h"

#include <set>
#include <string>

#include "absl/random/random.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace webhooks::common {
namespace {

TEST(NewIdTest, HasPrefixAndTwentySixCrockfordDigits) {
  absl::BitGen rng;
  const std::string id =
      NewId(kEventIdPrefix, absl::FromUnixMillis(1764165791512), rng);
  EXPECT_THAT(id, ::testing::MatchesRegex("evt_[0-7][0-9A-HJKMNP-TV-Z]{25}"));
  EXPECT_TRUE(IsWellFormedId(kEventIdPrefix, id));
  EXPECT_FALSE(IsWellFormedId(kSubscriptionIdPrefix, id));
}

TEST(NewIdTest, EncodesTheMillisecondTimestampInTheFirstTenDigits) {
  // ULID spec example: 1469918176385 ms -> "01ARYZ6S41".
  absl::BitGen rng;
  const std::string id = NewId("", absl::FromUnixMillis(1469918176385), rng);
  EXPECT_EQ(id.substr(0, 10), "01ARYZ6S41");
}

TEST(NewIdTest, OrdersByTimeAcrossMilliseconds) {
  absl::BitGen rng;
  std::string previous;
  for (int64_t ms = 1764165791000; ms < 1764165791100; ++ms) {
    std::string id = NewId(kEventIdPrefix, absl::FromUnixMillis(ms), rng);
    EXPECT_LT(previous, id);
    previous = id;
  }
}

TEST(NewIdTest, DrawsRandomnessFromTheGivenSource) {
  absl::InsecureBitGen a(std::seed_seq{7});
  absl::InsecureBitGen b(std::seed_seq{7});
  absl::InsecureBitGen c(std::seed_seq{8});
  const absl::Time t = absl::FromUnixMillis(1764165791512);
  EXPECT_EQ(NewId("x_", t, a), NewId("x_", t, b));
  EXPECT_NE(NewId("x_", t, a), NewId("x_", t, c));
}

TEST(NewIdTest, DoesNotRepeatWithinOneMillisecond) {
  absl::BitGen rng;
  std::set<std::string> ids;
  const absl::Time t = absl::FromUnixMillis(1764165791512);
  for (int i = 0; i < 10000; ++i) ids.insert(NewId(kEventIdPrefix, t, rng));
  EXPECT_EQ(ids.size(), 10000u);
}

TEST(IsWellFormedIdTest, RejectsWrongLengthAndAlphabet) {
  EXPECT_FALSE(IsWellFormedId("evt_", "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3"));  // 25
  EXPECT_FALSE(
      IsWellFormedId("evt_", "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3BC"));  // 27
  EXPECT_FALSE(IsWellFormedId(
      "evt_", "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3I"));  // I not Crockford
  EXPECT_FALSE(IsWellFormedId(
      "evt_", "evt_81JD7X3G2Q5T6X8V9W0Y1Z2A3B"));  // overflows 128 bits
  EXPECT_TRUE(IsWellFormedId("evt_", "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B"));
}

TEST(FirstIdAtTest, SortsBetweenTheIdsMadeBeforeAndAt) {
  absl::BitGen rng;
  const absl::Time t = absl::FromUnixMillis(1796040000123);
  const std::string floor = FirstIdAt(kEventIdPrefix, t);
  EXPECT_TRUE(IsWellFormedId(kEventIdPrefix, floor));
  EXPECT_EQ(floor.substr(floor.size() - 16), "0000000000000000");
  for (int i = 0; i < 100; ++i) {
    EXPECT_LT(NewId(kEventIdPrefix, t - absl::Milliseconds(1), rng), floor);
    EXPECT_GE(NewId(kEventIdPrefix, t, rng), floor);
  }
  EXPECT_EQ(FirstIdAt(kEventIdPrefix, t).substr(0, 14),
            NewId(kEventIdPrefix, t, rng).substr(0, 14));  // same time part
}

}  // namespace
}  // namespace webhooks::common
