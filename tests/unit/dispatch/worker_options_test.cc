// The worker's settings that would spin or deliver nothing are refused at
// start-up, naming the flag.
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/dispatch/worker.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::dispatch {
namespace {

using ::testing::HasSubstr;
using ::webhooks::testing::IsOk;

constexpr absl::Duration kRequestTimeout = absl::Seconds(30);

TEST(ValidateWorkerOptionsTest, DefaultsAreValid) {
  EXPECT_THAT(ValidateWorkerOptions(WorkerOptions{}, kRequestTimeout), IsOk());
}

TEST(TenantSlotsTest, ShareOfConcurrencyRoundedDownAtLeastOne) {
  WorkerOptions options;
  options.dispatch.lease.max_in_flight = 256;
  options.max_tenant_share = 0.5;
  EXPECT_EQ(TenantSlots(options), 128);
  options.max_tenant_share = 0.3;
  EXPECT_EQ(TenantSlots(options), 76);
  options.max_tenant_share = 0.001;
  EXPECT_EQ(TenantSlots(options), 1);
  options.max_tenant_share = 1.0;
  EXPECT_EQ(TenantSlots(options), 0);  // no bound
}

struct BadCase {
  std::string name;
  void (*change)(WorkerOptions&);
  std::string flag;
};

class ValidateWorkerOptionsBadTest : public ::testing::TestWithParam<BadCase> {
};

TEST_P(ValidateWorkerOptionsBadTest, NamesTheFlag) {
  WorkerOptions options;
  GetParam().change(options);
  const absl::Status status = ValidateWorkerOptions(options, kRequestTimeout);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(GetParam().flag));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, ValidateWorkerOptionsBadTest,
    ::testing::Values(
        BadCase{"ZeroConcurrency",
                [](WorkerOptions& o) { o.dispatch.lease.max_in_flight = 0; },
                "--concurrency"},
        BadCase{"ZeroLeaseBatch",
                [](WorkerOptions& o) { o.dispatch.lease.lease_batch = 0; },
                "--lease_batch"},
        BadCase{"ZeroPollInterval",
                [](WorkerOptions& o) {
                  o.dispatch.lease.poll_interval = absl::ZeroDuration();
                },
                "--poll_interval"},
        BadCase{"ZeroWriteBatch",
                [](WorkerOptions& o) { o.dispatch.write.max_batch = 0; },
                "--write_batch"},
        BadCase{"LeaseNotLongerThanTheRequest",
                [](WorkerOptions& o) {
                  o.dispatch.lease_duration = kRequestTimeout;
                },
                "--lease_duration"},
        BadCase{"TinyDbTimeout",
                [](WorkerOptions& o) { o.db_timeout = absl::Milliseconds(1); },
                "--db_timeout"},
        BadCase{
            "ZeroStatsInterval",
            [](WorkerOptions& o) { o.stats_interval = absl::ZeroDuration(); },
            "--stats_interval"},
        BadCase{"ZeroTenantShare",
                [](WorkerOptions& o) { o.max_tenant_share = 0; },
                "--max_tenant_share"},
        BadCase{"TenantShareAboveOne",
                [](WorkerOptions& o) { o.max_tenant_share = 1.5; },
                "--max_tenant_share"},
        BadCase{"TenantShareNaN",
                [](WorkerOptions& o) {
                  o.max_tenant_share = std::numeric_limits<double>::quiet_NaN();
                },
                "--max_tenant_share"},
        BadCase{"RetryPolicy",
                [](WorkerOptions& o) { o.dispatch.retry.max_attempts = 0; },
                "max_attempts"}),
    [](const ::testing::TestParamInfo<BadCase>& param) {
      return param.param.name;
    });

}  // namespace
}  // namespace webhooks::dispatch
