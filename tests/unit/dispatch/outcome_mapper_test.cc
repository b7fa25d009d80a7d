#include "lib/dispatch/outcome_mapper.h"

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/domain/retry_policy.h"

namespace webhooks::dispatch {
namespace {

using domain::ErrorClass;
using State = store::DeliveryOutcome::State;

const absl::Time kNow = absl::FromUnixSeconds(1795701600);
const absl::Time kCreated = kNow - absl::Seconds(30);
const absl::Time kStarted = kNow - absl::Milliseconds(250);

InFlightDelivery Delivery(int attempt) {
  return InFlightDelivery{42, 7, attempt, "sub_1", "tenant_1", kCreated, {}};
}

delivery::HttpResult Result(ErrorClass error_class, int status,
                            std::string retry_after = "") {
  delivery::HttpResult result;
  result.id = 42;
  result.error_class = error_class;
  result.http_status = status;
  result.started_at = kStarted;
  result.duration = absl::Milliseconds(250);
  result.response_excerpt = "body";
  result.retry_after = std::move(retry_after);
  return result;
}

// No jitter: delays are exact.
domain::RetryPolicy Policy() {
  domain::RetryPolicy policy;
  policy.jitter = 0;
  return policy;
}

struct MapCase {
  std::string name;
  ErrorClass error_class;
  int http_status;
  std::string retry_after;
  int attempt;
  State state;
  absl::Duration delay;  // for kRetry
  bool disable;
};

class MapOutcomeTest : public ::testing::TestWithParam<MapCase> {};

TEST_P(MapOutcomeTest, Maps) {
  const MapCase& c = GetParam();
  std::mt19937_64 rng(1);
  const store::DeliveryOutcome outcome = MapOutcome(
      Delivery(c.attempt), Result(c.error_class, c.http_status, c.retry_after),
      Policy(), kNow, rng);
  EXPECT_EQ(outcome.delivery_id, 42);
  EXPECT_EQ(outcome.lease_token, 7);
  EXPECT_EQ(outcome.subscription_id, "sub_1");
  EXPECT_EQ(outcome.attempt, c.attempt);
  EXPECT_EQ(outcome.started_at, kStarted);
  EXPECT_EQ(outcome.duration, absl::Milliseconds(250));
  EXPECT_EQ(outcome.http_status, c.http_status);
  EXPECT_EQ(outcome.error_class, domain::ErrorClassName(c.error_class));
  EXPECT_EQ(outcome.response_excerpt, "body");
  EXPECT_EQ(outcome.state, c.state);
  if (c.state == State::kRetry) {
    EXPECT_EQ(outcome.next_attempt_at, kNow + c.delay);
  }
  EXPECT_EQ(outcome.disable_subscription, c.disable);
  EXPECT_EQ(outcome.disable_reason,
            c.disable ? "endpoint answered 410 Gone" : "");
}

INSTANTIATE_TEST_SUITE_P(
    AllClasses, MapOutcomeTest,
    ::testing::Values(
        MapCase{"Success",
                ErrorClass::kSuccess,
                200,
                "",
                1,
                State::kDelivered,
                {},
                false},
        MapCase{"Http3xx", ErrorClass::kHttp3xx, 301, "", 1, State::kRetry,
                absl::Seconds(5), false},
        MapCase{"Http4xx", ErrorClass::kHttp4xx, 404, "", 2, State::kRetry,
                absl::Seconds(20), false},
        MapCase{
            "Gone", ErrorClass::kHttp410, 410, "", 1, State::kFailed, {}, true},
        MapCase{"TooLarge", ErrorClass::kTooLarge, 413, "", 3, State::kRetry,
                absl::Seconds(80), false},
        MapCase{"TooManyRequestsHonoursRetryAfter", ErrorClass::kHttp429, 429,
                "120", 1, State::kRetry, absl::Seconds(120), false},
        MapCase{"RetryAfterShorterThanBackoffIgnored", ErrorClass::kHttp429,
                429, "1", 2, State::kRetry, absl::Seconds(20), false},
        MapCase{"UnavailableHonoursRetryAfterDate", ErrorClass::kHttp5xx, 503,
                "Thu, 26 Nov 2026 14:10:00 GMT", 1, State::kRetry,
                absl::Minutes(10), false},
        MapCase{"RetryAfterIgnoredOn500", ErrorClass::kHttp5xx, 500, "3600", 1,
                State::kRetry, absl::Seconds(5), false},
        MapCase{"RetryAfterIgnoredOn301", ErrorClass::kHttp3xx, 301, "3600", 1,
                State::kRetry, absl::Seconds(5), false},
        MapCase{"MalformedRetryAfter", ErrorClass::kHttp429, 429, "soon", 1,
                State::kRetry, absl::Seconds(5), false},
        MapCase{"Timeout", ErrorClass::kTimeout, 0, "", 1, State::kRetry,
                absl::Seconds(5), false},
        MapCase{"ConnectError", ErrorClass::kConnectError, 0, "", 1,
                State::kRetry, absl::Seconds(5), false},
        MapCase{"DnsError", ErrorClass::kDnsError, 0, "", 1, State::kRetry,
                absl::Seconds(5), false},
        MapCase{"TlsError", ErrorClass::kTlsError, 0, "", 1, State::kRetry,
                absl::Seconds(5), false},
        MapCase{"BlockedAddress", ErrorClass::kBlockedAddress, 0, "", 1,
                State::kRetry, absl::Seconds(5), false},
        MapCase{"Internal", ErrorClass::kInternal, 0, "", 1, State::kRetry,
                absl::Seconds(5), false},
        MapCase{"LastAttemptFails",
                ErrorClass::kHttp5xx,
                500,
                "",
                10,
                State::kFailed,
                {},
                false},
        MapCase{"LastAttemptFailsDespiteRetryAfter",
                ErrorClass::kHttp429,
                429,
                "5",
                10,
                State::kFailed,
                {},
                false},
        MapCase{"SuccessAtLastAttempt",
                ErrorClass::kSuccess,
                204,
                "",
                10,
                State::kDelivered,
                {},
                false}),
    [](const ::testing::TestParamInfo<MapCase>& test_case) {
      return test_case.param.name;
    });

TEST(MapOutcomeRedactionTest, RedactsTheDeliverysHeaderValuesFromTheExcerpt) {
  InFlightDelivery d = Delivery(1);
  d.header_values = {"Bearer s3cr3t-t0ken"};
  delivery::HttpResult result = Result(ErrorClass::kHttp4xx, 401);
  result.response_excerpt = "bad Authorization: Bearer s3cr3t-t0ken";
  std::mt19937_64 rng(1);
  const store::DeliveryOutcome outcome =
      MapOutcome(d, result, Policy(), kNow, rng);
  EXPECT_EQ(outcome.response_excerpt, "bad Authorization: [redacted]");
}

TEST(MapOutcomeJitterTest, SameSeedSameTime) {
  domain::RetryPolicy policy;  // 20 % jitter
  std::mt19937_64 a(99);
  std::mt19937_64 b(99);
  const store::DeliveryOutcome first = MapOutcome(
      Delivery(1), Result(ErrorClass::kHttp5xx, 500), policy, kNow, a);
  const store::DeliveryOutcome second = MapOutcome(
      Delivery(1), Result(ErrorClass::kHttp5xx, 500), policy, kNow, b);
  EXPECT_EQ(first.next_attempt_at, second.next_attempt_at);
  EXPECT_GE(first.next_attempt_at, kNow + absl::Seconds(4));
  EXPECT_LE(first.next_attempt_at, kNow + absl::Seconds(6));
  std::mt19937_64 expected(99);
  EXPECT_EQ(first.next_attempt_at,
            kNow + domain::BackoffDelay(policy, 1, expected));
}

store::DeliveryOutcome Unwritable(int attempt) {
  store::DeliveryOutcome outcome;
  outcome.delivery_id = 42;
  outcome.lease_token = 7;
  outcome.subscription_id = "sub_1";
  outcome.state = State::kDelivered;
  outcome.attempt = attempt;
  outcome.started_at = kStarted;
  outcome.duration = absl::Milliseconds(250);
  outcome.http_status = 410;
  outcome.error_class = "http_410";
  outcome.response_excerpt = std::string(4096, 'x');
  outcome.disable_subscription = true;
  outcome.disable_reason = "endpoint answered 410 Gone";
  return outcome;
}

TEST(InternalOutcomeTest, KeepsTheAttemptAndRetriesAfterBackoff) {
  std::mt19937_64 rng(1);
  const store::DeliveryOutcome outcome =
      InternalOutcome(Unwritable(2), Policy(), kNow, rng);
  EXPECT_EQ(outcome.delivery_id, 42);
  EXPECT_EQ(outcome.lease_token, 7);
  EXPECT_EQ(outcome.subscription_id, "sub_1");
  EXPECT_EQ(outcome.attempt, 2);
  EXPECT_EQ(outcome.started_at, kStarted);
  EXPECT_EQ(outcome.duration, absl::Milliseconds(250));
  EXPECT_EQ(outcome.error_class, "internal");
  EXPECT_EQ(outcome.http_status, 0);
  EXPECT_EQ(outcome.response_excerpt, "");
  EXPECT_FALSE(outcome.disable_subscription);
  EXPECT_EQ(outcome.disable_reason, "");
  EXPECT_EQ(outcome.state, State::kRetry);
  EXPECT_EQ(outcome.next_attempt_at, kNow + absl::Seconds(20));
}

TEST(InternalOutcomeTest, FailsAtTheLastAttempt) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(InternalOutcome(Unwritable(10), Policy(), kNow, rng).state,
            State::kFailed);
  EXPECT_EQ(InternalOutcome(Unwritable(11), Policy(), kNow, rng).state,
            State::kFailed);
  EXPECT_EQ(InternalOutcome(Unwritable(9), Policy(), kNow, rng).state,
            State::kRetry);
}

}  // namespace
}  // namespace webhooks::dispatch
