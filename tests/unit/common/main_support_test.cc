// SetFlagsFromEnvironment: which flags take which variables, and what a bad
// value does.
#include "lib/common/main_support.h"

#include <stdlib.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, env_test_count, 7, "for the test");
ABSL_FLAG(absl::Duration, env_test_timeout, absl::Seconds(30), "for the test");
ABSL_FLAG(std::string, env_test_name, "default", "for the test");

namespace webhooks::common {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kThisFile[] = "tests/unit/common/main_support_test.cc";

class SetFlagsFromEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_env_test_count, 7);
    absl::SetFlag(&FLAGS_env_test_timeout, absl::Seconds(30));
    absl::SetFlag(&FLAGS_env_test_name, "default");
  }
  void TearDown() override {
    unsetenv("WEBHOOKS_ENV_TEST_COUNT");
    unsetenv("WEBHOOKS_ENV_TEST_TIMEOUT");
    unsetenv("WEBHOOKS_ENV_TEST_NAME");
  }
};

TEST_F(SetFlagsFromEnvironmentTest, VariableNameIsPrefixedCapitals) {
  EXPECT_EQ(FlagEnvironmentName("request_timeout"), "WEBHOOKS_REQUEST_TIMEOUT");
}

TEST_F(SetFlagsFromEnvironmentTest, SetVariablesSetTheirFlags) {
  setenv("WEBHOOKS_ENV_TEST_COUNT", "12", 1);
  setenv("WEBHOOKS_ENV_TEST_TIMEOUT", "1m30s", 1);

  EXPECT_TRUE(SetFlagsFromEnvironment(kThisFile).ok());

  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_count), 12);
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_timeout), absl::Seconds(90));
  // Not set in the environment: the default stays.
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_name), "default");
}

// A secret flag's value from the environment must not become the flag's
// current value, which --help prints.
TEST_F(SetFlagsFromEnvironmentTest, SecretFlagsAreLeftAlone) {
  setenv("WEBHOOKS_ENV_TEST_NAME", "postgresql://u:SECRETPW@h/db", 1);
  setenv("WEBHOOKS_ENV_TEST_COUNT", "12", 1);

  EXPECT_TRUE(SetFlagsFromEnvironment(kThisFile, {"env_test_name"}).ok());

  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_name), "default");
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_count), 12);
}

TEST_F(SetFlagsFromEnvironmentTest, OnlyTheMainFilesFlagsAreRead) {
  setenv("WEBHOOKS_ENV_TEST_COUNT", "12", 1);

  EXPECT_TRUE(SetFlagsFromEnvironment("services/worker/main.cc").ok());

  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_count), 7);
}

TEST_F(SetFlagsFromEnvironmentTest, BadValueNamesTheVariableNotTheValue) {
  setenv("WEBHOOKS_ENV_TEST_COUNT", "twelve-secret", 1);

  absl::Status status = SetFlagsFromEnvironment(kThisFile);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("WEBHOOKS_ENV_TEST_COUNT"),
                                      Not(HasSubstr("twelve-secret"))));
  EXPECT_EQ(absl::GetFlag(FLAGS_env_test_count), 7);
}

}  // namespace
}  // namespace webhooks::common
