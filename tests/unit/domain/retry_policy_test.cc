#include "lib/domain/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::domain {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

// A fixed seed: the jitter tests see the same draws on every run.
constexpr uint64_t kSeed = 20261126;

RetryPolicy NoJitter() {
  RetryPolicy policy;
  policy.jitter = 0.0;
  return policy;
}

absl::Time Utc(int year, int month, int day, int hour, int minute, int second) {
  return absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second),
      absl::UTCTimeZone());
}

const absl::Time kNow = Utc(2026, 11, 26, 14, 3, 11);

// --- BackoffDelay ---------------------------------------------------------

TEST(BackoffDelayTest, FollowsTheContractScheduleWithoutJitter) {
  const RetryPolicy policy = NoJitter();
  std::mt19937_64 rng(kSeed);
  const std::vector<absl::Duration> expected = {
      absl::Seconds(5),     absl::Seconds(20),    absl::Seconds(80),
      absl::Seconds(320),   absl::Seconds(1280),  absl::Seconds(5120),
      absl::Seconds(20480), absl::Seconds(81920), absl::Seconds(86400),
  };
  for (int attempt = 1; attempt <= 9; ++attempt) {
    EXPECT_EQ(BackoffDelay(policy, attempt, rng),
              expected[static_cast<std::size_t>(attempt - 1)])
        << "after attempt " << attempt;
  }
}

TEST(BackoffDelayTest, StaysAtTheCapForLateAttempts) {
  const RetryPolicy policy = NoJitter();
  std::mt19937_64 rng(kSeed);
  for (int attempt : {10, 20, 50, 100, 1000}) {
    EXPECT_EQ(BackoffDelay(policy, attempt, rng), absl::Hours(24))
        << "after attempt " << attempt;
  }
}

TEST(BackoffDelayTest, TreatsAttemptsBelowOneAsTheFirst) {
  const RetryPolicy policy = NoJitter();
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(BackoffDelay(policy, 0, rng), absl::Seconds(5));
  EXPECT_EQ(BackoffDelay(policy, -3, rng), absl::Seconds(5));
}

TEST(BackoffDelayTest, HonoursOtherSettings) {
  RetryPolicy policy = NoJitter();
  policy.initial = absl::Milliseconds(500);
  policy.multiplier = 1.5;
  policy.max_delay = absl::Seconds(2);
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(BackoffDelay(policy, 1, rng), absl::Milliseconds(500));
  EXPECT_EQ(BackoffDelay(policy, 2, rng), absl::Milliseconds(750));
  EXPECT_EQ(BackoffDelay(policy, 3, rng), absl::Milliseconds(1125));
  EXPECT_EQ(BackoffDelay(policy, 4, rng), absl::Microseconds(1687500));
  EXPECT_EQ(BackoffDelay(policy, 5, rng), absl::Seconds(2));
}

TEST(BackoffDelayTest, JitterSpreadsOverPlusMinusTwentyPercent) {
  const RetryPolicy policy;  // jitter 0.2
  std::mt19937_64 rng(kSeed);
  constexpr int kDraws = 20000;
  const absl::Duration base = absl::Seconds(80);
  absl::Duration lowest = absl::InfiniteDuration();
  absl::Duration highest = -absl::InfiniteDuration();
  absl::Duration sum;
  int below_base = 0;
  std::set<int64_t> distinct_ms;
  for (int i = 0; i < kDraws; ++i) {
    const absl::Duration delay = BackoffDelay(policy, 3, rng);
    lowest = std::min(lowest, delay);
    highest = std::max(highest, delay);
    sum += delay;
    if (delay < base) ++below_base;
    distinct_ms.insert(absl::ToInt64Milliseconds(delay));
  }
  EXPECT_GE(lowest, base * 0.8);
  EXPECT_LE(highest, base * 1.2);
  // Both ends are actually reached (within 0.5% of the range).
  EXPECT_LT(lowest, base * 0.802);
  EXPECT_GT(highest, base * 1.198);
  // Uniform: centred on the base, half below it, not clumped.
  EXPECT_NEAR(absl::ToDoubleSeconds(sum / kDraws), 80.0, 0.5);
  EXPECT_NEAR(below_base, kDraws / 2, kDraws / 20);
  EXPECT_GT(distinct_ms.size(), 10000u);
}

TEST(BackoffDelayTest, EveryAttemptStaysWithinItsJitterBounds) {
  const RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  for (int attempt = 1; attempt <= 8; ++attempt) {
    const absl::Duration base = absl::Seconds(5) * std::pow(4.0, attempt - 1);
    for (int i = 0; i < 1000; ++i) {
      const absl::Duration delay = BackoffDelay(policy, attempt, rng);
      ASSERT_GE(delay, base * 0.8) << "after attempt " << attempt;
      ASSERT_LE(delay, std::min(base * 1.2, absl::Hours(24)))
          << "after attempt " << attempt;
    }
  }
}

TEST(BackoffDelayTest, CapsAfterJitter) {
  const RetryPolicy policy;
  std::mt19937_64 rng(kSeed);
  // 81920 s jittered is 65536..98304 s: about a third of draws exceed 24 h
  // and must come back as exactly 24 h; the rest stay jittered below it.
  int at_cap = 0;
  int below_cap = 0;
  for (int i = 0; i < 5000; ++i) {
    const absl::Duration delay = BackoffDelay(policy, 8, rng);
    ASSERT_LE(delay, absl::Hours(24));
    ASSERT_GE(delay, absl::Seconds(65536));
    (delay == absl::Hours(24) ? at_cap : below_cap)++;
  }
  EXPECT_NEAR(at_cap, 5000 * 0.36, 150);
  EXPECT_GT(below_cap, 0);
  // 327680 s * 0.8 is still above 24 h: always exactly the cap.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(BackoffDelay(policy, 9, rng), absl::Hours(24));
  }
}

TEST(BackoffDelayTest, CapIsATrueMaximumEvenWhenTheBaseIsBelowIt) {
  // Capping before jitter would allow up to 120 s here.
  RetryPolicy policy;
  policy.initial = absl::Seconds(100);
  policy.max_delay = absl::Seconds(110);
  std::mt19937_64 rng(kSeed);
  absl::Duration highest;
  absl::Duration lowest = absl::InfiniteDuration();
  for (int i = 0; i < 2000; ++i) {
    const absl::Duration delay = BackoffDelay(policy, 1, rng);
    highest = std::max(highest, delay);
    lowest = std::min(lowest, delay);
  }
  EXPECT_EQ(highest, absl::Seconds(110));
  EXPECT_LT(lowest, absl::Seconds(81));
}

TEST(BackoffDelayTest, SameSeedSameDelays) {
  const RetryPolicy policy;
  std::mt19937_64 first(kSeed);
  std::mt19937_64 second(kSeed);
  for (int attempt = 1; attempt <= 9; ++attempt) {
    EXPECT_EQ(BackoffDelay(policy, attempt, first),
              BackoffDelay(policy, attempt, second));
  }
}

TEST(BackoffDelayTest, HugeMultiplierSaturatesAtTheCap) {
  RetryPolicy policy;
  policy.multiplier = 1e300;
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(BackoffDelay(policy, 100, rng), absl::Hours(24));
}

// --- ClassifyHttpStatus and ErrorClassName --------------------------------

TEST(ClassifyHttpStatusTest, MapsEveryStatusToItsClass) {
  for (int status : {200, 201, 202, 204, 299}) {
    EXPECT_EQ(ClassifyHttpStatus(status), ErrorClass::kSuccess) << status;
  }
  for (int status : {300, 301, 302, 304, 307, 308, 399}) {
    EXPECT_EQ(ClassifyHttpStatus(status), ErrorClass::kHttp3xx) << status;
  }
  for (int status :
       {400, 401, 403, 404, 405, 408, 409, 411, 412, 414, 422, 428, 430, 499}) {
    EXPECT_EQ(ClassifyHttpStatus(status), ErrorClass::kHttp4xx) << status;
  }
  EXPECT_EQ(ClassifyHttpStatus(410), ErrorClass::kHttp410);
  EXPECT_EQ(ClassifyHttpStatus(413), ErrorClass::kTooLarge);
  EXPECT_EQ(ClassifyHttpStatus(429), ErrorClass::kHttp429);
  for (int status :
       {500, 501, 502, 503, 504, 599, 100, 101, 199, 600, 999, 0, -1}) {
    EXPECT_EQ(ClassifyHttpStatus(status), ErrorClass::kHttp5xx) << status;
  }
}

TEST(ErrorClassNameTest, NamesEveryClass) {
  const std::vector<std::pair<ErrorClass, absl::string_view>> names = {
      {ErrorClass::kSuccess, "success"},
      {ErrorClass::kHttp3xx, "http_3xx"},
      {ErrorClass::kHttp4xx, "http_4xx"},
      {ErrorClass::kHttp410, "http_410"},
      {ErrorClass::kTooLarge, "too_large"},
      {ErrorClass::kHttp429, "http_429"},
      {ErrorClass::kHttp5xx, "http_5xx"},
      {ErrorClass::kTimeout, "timeout"},
      {ErrorClass::kConnectError, "connect_error"},
      {ErrorClass::kDnsError, "dns_error"},
      {ErrorClass::kTlsError, "tls_error"},
      {ErrorClass::kBlockedAddress, "blocked_address"},
      {ErrorClass::kInternal, "internal"},
      {ErrorClass::kAborted, "aborted"},
  };
  for (const auto& [error_class, name] : names) {
    EXPECT_EQ(ErrorClassName(error_class), name);
  }
}

// --- ParseRetryAfter -------------------------------------------------------

TEST(ParseRetryAfterTest, ReadsDeltaSeconds) {
  EXPECT_THAT(ParseRetryAfter("120", kNow), Optional(absl::Seconds(120)));
  EXPECT_THAT(ParseRetryAfter("0", kNow), Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("000", kNow), Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("007", kNow), Optional(absl::Seconds(7)));
  EXPECT_THAT(ParseRetryAfter(" 120\t", kNow), Optional(absl::Seconds(120)));
  EXPECT_THAT(ParseRetryAfter("86400", kNow), Optional(absl::Hours(24)));
  EXPECT_THAT(ParseRetryAfter("2147483647", kNow),
              Optional(absl::Seconds(2147483647)));
}

TEST(ParseRetryAfterTest, SaturatesHugeDeltaSecondsAtTwoToTheThirtyFirst) {
  const absl::Duration max = absl::Seconds(int64_t{1} << 31);
  EXPECT_THAT(ParseRetryAfter("2147483648", kNow), Optional(max));
  EXPECT_THAT(ParseRetryAfter("9999999999", kNow), Optional(max));
  EXPECT_THAT(ParseRetryAfter("99999999999999999999999999999", kNow),
              Optional(max));
  EXPECT_THAT(ParseRetryAfter("0000000000000000000042", kNow),
              Optional(absl::Seconds(42)));
}

TEST(ParseRetryAfterTest, ReadsImfFixdate) {
  const absl::Time now = Utc(1994, 11, 6, 8, 49, 0);
  EXPECT_THAT(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now),
              Optional(absl::Seconds(37)));
  EXPECT_THAT(ParseRetryAfter("Thu, 26 Nov 2026 15:03:11 GMT", kNow),
              Optional(absl::Hours(1)));
  EXPECT_THAT(ParseRetryAfter("Mon, 30 Nov 2026 14:03:11 GMT", kNow),
              Optional(absl::Hours(96)));
}

TEST(ParseRetryAfterTest, DateInThePastOrNowIsZero) {
  EXPECT_THAT(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow),
              Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("Thu, 26 Nov 2026 14:03:10 GMT", kNow),
              Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("Thu, 26 Nov 2026 14:03:11 GMT", kNow),
              Optional(absl::ZeroDuration()));
}

TEST(ParseRetryAfterTest, ReadsTheObsoleteDateForms) {
  const absl::Time now = Utc(1994, 11, 6, 8, 49, 0);
  EXPECT_THAT(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now),
              Optional(absl::Seconds(37)));
  EXPECT_THAT(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now),
              Optional(absl::Seconds(37)));
  EXPECT_THAT(ParseRetryAfter("Thursday, 26-Nov-26 14:03:41 GMT", kNow),
              Optional(absl::Seconds(30)));
}

TEST(ParseRetryAfterTest, ReadsTwoDigitYearsWithinFiftyYearsOfNow) {
  // RFC 9110: up to 50 years ahead is the future, beyond is the past century.
  // A fixed 1969..2068 window would read "70" as 1970 and "68" as 2068.
  EXPECT_THAT(ParseRetryAfter("Saturday, 01-Jan-70 00:00:00 GMT", kNow),
              Optional(Utc(2070, 1, 1, 0, 0, 0) - kNow));
  EXPECT_THAT(ParseRetryAfter("Friday, 01-Jan-99 00:00:00 GMT", kNow),
              Optional(absl::ZeroDuration()));
  const absl::Time in_1960 = Utc(1960, 1, 1, 0, 0, 0);
  EXPECT_THAT(ParseRetryAfter("Sunday, 01-Jan-61 00:00:00 GMT", in_1960),
              Optional(Utc(1961, 1, 1, 0, 0, 0) - in_1960));
}

TEST(ParseRetryAfterTest, RefusesMalformedValues) {
  for (absl::string_view value : {
           "",
           "   ",
           "-1",
           "+5",
           "1.5",
           "1e3",
           "0x10",
           "12 34",
           "120s",
           "soon",
           "Sun, 06 Nov 1994",
           "Sun, 06 Nov 1994 08:49:37",
           "Sun, 06 Nov 1994 08:49:37 UTC",
           "Sun, 06 Nov 1994 08:49:37 +0000",
           "Sun, 06 Nov 1994 08:49:37 GMT and more",
           // absl::ParseTime takes these words in any format (found by
           // tests/fuzz/response_fuzz.cc).
           "infinite-future",
           "infinite-past",
           " infinite-future ",
           "Sun, 31 Feb 1994 08:49:37 GMT",
           "1994-11-06T08:49:37Z",
       }) {
    EXPECT_EQ(ParseRetryAfter(value, kNow), std::nullopt)
        << "\"" << value << "\"";
  }
}

// --- Decide ----------------------------------------------------------------

AttemptResult Result(ErrorClass error_class, int http_status = 0,
                     std::optional<absl::Duration> retry_after = std::nullopt) {
  AttemptResult result;
  result.error_class = error_class;
  result.http_status = http_status;
  result.retry_after = retry_after;
  return result;
}

TEST(DecideTest, SuccessIsDeliveredOnAnyAttempt) {
  std::mt19937_64 rng(kSeed);
  for (int attempt : {1, 5, 10}) {
    const Decision decision = Decide(
        NoJitter(), Result(ErrorClass::kSuccess, 200), attempt, kNow, rng);
    EXPECT_EQ(decision.kind, Decision::Kind::kDelivered);
    EXPECT_FALSE(decision.disable_subscription);
  }
}

TEST(DecideTest, GoneFailsAtOnceAndDisablesTheSubscription) {
  std::mt19937_64 rng(kSeed);
  for (int attempt : {1, 9, 10}) {
    const Decision decision = Decide(
        NoJitter(), Result(ErrorClass::kHttp410, 410), attempt, kNow, rng);
    EXPECT_EQ(decision.kind, Decision::Kind::kFailed);
    EXPECT_TRUE(decision.disable_subscription);
    EXPECT_EQ(decision.disable_reason, "endpoint answered 410 Gone");
  }
}

const ErrorClass kRetriedClasses[] = {
    ErrorClass::kHttp3xx,        ErrorClass::kHttp4xx,  ErrorClass::kTooLarge,
    ErrorClass::kHttp429,        ErrorClass::kHttp5xx,  ErrorClass::kTimeout,
    ErrorClass::kConnectError,   ErrorClass::kDnsError, ErrorClass::kTlsError,
    ErrorClass::kBlockedAddress, ErrorClass::kInternal,
};

TEST(DecideTest, EveryFailureIsRetriedAfterTheBackoff) {
  std::mt19937_64 rng(kSeed);
  for (ErrorClass error_class : kRetriedClasses) {
    for (int attempt = 1; attempt <= 9; ++attempt) {
      const Decision decision =
          Decide(NoJitter(), Result(error_class), attempt, kNow, rng);
      EXPECT_EQ(decision.kind, Decision::Kind::kRetry)
          << ErrorClassName(error_class) << " attempt " << attempt;
      EXPECT_EQ(decision.next_attempt_at,
                kNow + BackoffDelay(NoJitter(), attempt, rng))
          << ErrorClassName(error_class) << " attempt " << attempt;
      EXPECT_FALSE(decision.disable_subscription);
    }
  }
}

TEST(DecideTest, RetryIsJitteredWithTheInjectedGenerator) {
  const RetryPolicy policy;
  std::mt19937_64 for_decide(kSeed);
  std::mt19937_64 for_backoff(kSeed);
  const Decision decision =
      Decide(policy, Result(ErrorClass::kTimeout), 4, kNow, for_decide);
  ASSERT_EQ(decision.kind, Decision::Kind::kRetry);
  EXPECT_EQ(decision.next_attempt_at,
            kNow + BackoffDelay(policy, 4, for_backoff));
}

TEST(DecideTest, EveryFailureOnTheLastAttemptFails) {
  std::mt19937_64 rng(kSeed);
  for (ErrorClass error_class : kRetriedClasses) {
    for (int attempt : {10, 11}) {
      const Decision decision =
          Decide(NoJitter(), Result(error_class, 503, absl::Seconds(30)),
                 attempt, kNow, rng);
      EXPECT_EQ(decision.kind, Decision::Kind::kFailed)
          << ErrorClassName(error_class) << " attempt " << attempt;
      EXPECT_FALSE(decision.disable_subscription);
    }
  }
}

TEST(DecideTest, SingleAttemptPolicyFailsOnTheFirstFailure) {
  RetryPolicy policy = NoJitter();
  policy.max_attempts = 1;
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(
      Decide(policy, Result(ErrorClass::kHttp5xx, 500), 1, kNow, rng).kind,
      Decision::Kind::kFailed);
}

TEST(DecideTest, AbortedIsRetriedNowAndNeverFails) {
  std::mt19937_64 rng(kSeed);
  for (int attempt : {1, 10}) {
    const Decision decision =
        Decide(NoJitter(), Result(ErrorClass::kAborted), attempt, kNow, rng);
    EXPECT_EQ(decision.kind, Decision::Kind::kRetry);
    EXPECT_EQ(decision.next_attempt_at, kNow);
  }
}

TEST(DecideTest, RetryAfterLongerThanTheBackoffWins) {
  std::mt19937_64 rng(kSeed);
  Decision decision =
      Decide(NoJitter(), Result(ErrorClass::kHttp429, 429, absl::Seconds(60)),
             1, kNow, rng);
  EXPECT_EQ(decision.kind, Decision::Kind::kRetry);
  EXPECT_EQ(decision.next_attempt_at, kNow + absl::Seconds(60));
  decision =
      Decide(NoJitter(), Result(ErrorClass::kHttp5xx, 503, absl::Hours(2)), 2,
             kNow, rng);
  EXPECT_EQ(decision.kind, Decision::Kind::kRetry);
  EXPECT_EQ(decision.next_attempt_at, kNow + absl::Hours(2));
}

TEST(DecideTest, RetryAfterShorterThanTheBackoffIsIgnored) {
  std::mt19937_64 rng(kSeed);
  // Attempt 3's backoff is 80 s.
  for (absl::Duration retry_after :
       {absl::ZeroDuration(), absl::Seconds(1), absl::Seconds(80)}) {
    EXPECT_EQ(Decide(NoJitter(), Result(ErrorClass::kHttp429, 429, retry_after),
                     3, kNow, rng)
                  .next_attempt_at,
              kNow + absl::Seconds(80));
    EXPECT_EQ(Decide(NoJitter(), Result(ErrorClass::kHttp5xx, 503, retry_after),
                     3, kNow, rng)
                  .next_attempt_at,
              kNow + absl::Seconds(80));
  }
}

TEST(DecideTest, RetryAfterIsCappedAtMaxRetryAfter) {
  std::mt19937_64 rng(kSeed);
  EXPECT_EQ(
      Decide(NoJitter(), Result(ErrorClass::kHttp429, 429, absl::Hours(48)), 1,
             kNow, rng)
          .next_attempt_at,
      kNow + absl::Hours(24));
  RetryPolicy policy = NoJitter();
  policy.max_retry_after = absl::Hours(1);
  EXPECT_EQ(Decide(policy, Result(ErrorClass::kHttp5xx, 503, absl::Hours(2)), 1,
                   kNow, rng)
                .next_attempt_at,
            kNow + absl::Hours(1));
  // The cap limits Retry-After only; a longer backoff still applies.
  EXPECT_EQ(Decide(policy, Result(ErrorClass::kHttp5xx, 503, absl::Hours(2)), 7,
                   kNow, rng)
                .next_attempt_at,
            kNow + absl::Seconds(20480));
}

TEST(DecideTest, RetryAfterOnOtherStatusesIsIgnored) {
  std::mt19937_64 rng(kSeed);
  const struct {
    ErrorClass error_class;
    int status;
  } cases[] = {
      {ErrorClass::kHttp5xx, 500}, {ErrorClass::kHttp5xx, 502},
      {ErrorClass::kHttp5xx, 504}, {ErrorClass::kHttp3xx, 301},
      {ErrorClass::kHttp4xx, 400}, {ErrorClass::kTooLarge, 413},
      {ErrorClass::kTimeout, 0},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(
        Decide(NoJitter(), Result(c.error_class, c.status, absl::Hours(1)), 1,
               kNow, rng)
            .next_attempt_at,
        kNow + absl::Seconds(5))
        << c.status;
  }
}

TEST(DecideTest, ParsedRetryAfterFeedsTheDecision) {
  std::mt19937_64 rng(kSeed);
  const std::optional<absl::Duration> retry_after =
      ParseRetryAfter("Thu, 26 Nov 2026 15:03:11 GMT", kNow);
  EXPECT_EQ(Decide(NoJitter(), Result(ErrorClass::kHttp429, 429, retry_after),
                   1, kNow, rng)
                .next_attempt_at,
            Utc(2026, 11, 26, 15, 3, 11));
}

// --- ValidateRetryPolicy ---------------------------------------------------

TEST(ValidateRetryPolicyTest, AcceptsTheDefaultsAndTheBounds) {
  EXPECT_THAT(ValidateRetryPolicy(RetryPolicy()), IsOk());
  RetryPolicy policy;
  policy.initial = absl::Nanoseconds(1);
  policy.multiplier = 1.0;
  policy.max_delay = policy.initial;
  policy.max_attempts = 1;
  policy.jitter = 0.0;
  EXPECT_THAT(ValidateRetryPolicy(policy), IsOk());
  policy.max_attempts = 100;
  policy.jitter = 0.999;
  EXPECT_THAT(ValidateRetryPolicy(policy), IsOk());
}

TEST(ValidateRetryPolicyTest, RefusesNonPositiveInitial) {
  for (absl::Duration initial : {absl::ZeroDuration(), absl::Seconds(-1)}) {
    RetryPolicy policy;
    policy.initial = initial;
    EXPECT_THAT(ValidateRetryPolicy(policy),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("retry_initial")));
  }
}

TEST(ValidateRetryPolicyTest, RefusesMultiplierBelowOneOrNotANumber) {
  for (double multiplier :
       {0.999, 0.0, -2.0, std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::infinity()}) {
    RetryPolicy policy;
    policy.multiplier = multiplier;
    EXPECT_THAT(ValidateRetryPolicy(policy),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("retry_multiplier")))
        << multiplier;
  }
}

TEST(ValidateRetryPolicyTest, RefusesMaxDelayBelowInitial) {
  RetryPolicy policy;
  policy.initial = absl::Seconds(10);
  policy.max_delay = absl::Seconds(9);
  EXPECT_THAT(ValidateRetryPolicy(policy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("retry_max_delay")));
}

TEST(ValidateRetryPolicyTest, RefusesMaxAttemptsOutsideOneToHundred) {
  for (int max_attempts : {0, -1, 101}) {
    RetryPolicy policy;
    policy.max_attempts = max_attempts;
    EXPECT_THAT(
        ValidateRetryPolicy(policy),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_attempts")))
        << max_attempts;
  }
}

TEST(ValidateRetryPolicyTest, RefusesJitterOutsideZeroToOne) {
  for (double jitter :
       {-0.01, 1.0, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    RetryPolicy policy;
    policy.jitter = jitter;
    EXPECT_THAT(
        ValidateRetryPolicy(policy),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("retry_jitter")))
        << jitter;
  }
}

}  // namespace
}  // namespace webhooks::domain
