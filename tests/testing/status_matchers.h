// gMock matchers for absl::Status and absl::StatusOr (this Abseil has none):
//   EXPECT_THAT(status, IsOk());
//   EXPECT_THAT(status_or, StatusIs(absl::StatusCode::kInvalidArgument,
//                                   HasSubstr("target_url")));
//   EXPECT_THAT(status_or, IsOkAndHolds(42));
#ifndef WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_
#define WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace webhooks::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code, "has code " + ::testing::PrintToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + ::testing::PrintToString(code) +
               " and a matching message") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(status.message()), result_listener);
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace webhooks::testing

#define WEBHOOKS_ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  WEBHOOKS_ASSERT_OK_AND_ASSIGN_IMPL_(            \
      WEBHOOKS_TEST_CONCAT_(webhooks_test_so_, __LINE__), lhs, rexpr)
#define WEBHOOKS_TEST_CONCAT_INNER_(a, b) a##b
#define WEBHOOKS_TEST_CONCAT_(a, b) WEBHOOKS_TEST_CONCAT_INNER_(a, b)
#define WEBHOOKS_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                        \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                     \
  lhs = *std::move(tmp)

#endif  // WEBHOOKS_TESTS_TESTING_STATUS_MATCHERS_H_
