#include "lib/domain/event_types.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/contract_table.h"

namespace webhooks::domain {
namespace {

using ::testing::ElementsAre;

using ::webhooks::testing::ContractAction;
using ::webhooks::testing::ContractTable;

std::string ExpectedDirection(const std::string& channel,
                              const std::string& action) {
  for (const ContractAction& row : ContractTable()) {
    if (row.channel == channel && row.action == action) return row.direction;
  }
  return "";
}

TEST(AllEventTypesTest, ListsTheThreeTypesInContractOrder) {
  EXPECT_THAT(AllEventTypes(),
              ElementsAre("engagement_dispatched", "inbound_engagement",
                          "engagement_status_changed"));
}

TEST(AllEventTypesTest, ConstantsSpellTheContractNames) {
  EXPECT_EQ(kEngagementDispatched, "engagement_dispatched");
  EXPECT_EQ(kInboundEngagement, "inbound_engagement");
  EXPECT_EQ(kEngagementStatusChanged, "engagement_status_changed");
}

TEST(IsEventTypeTest, AcceptsEachContractType) {
  EXPECT_TRUE(IsEventType("engagement_dispatched"));
  EXPECT_TRUE(IsEventType("inbound_engagement"));
  EXPECT_TRUE(IsEventType("engagement_status_changed"));
}

TEST(IsEventTypeTest, RejectsOtherNamesExactly) {
  EXPECT_FALSE(IsEventType(""));
  EXPECT_FALSE(IsEventType("Engagement_Dispatched"));
  EXPECT_FALSE(IsEventType("engagement_dispatched "));
  EXPECT_FALSE(IsEventType("engagement_opened"));
  EXPECT_FALSE(IsEventType("engagement"));
}

TEST(IsChannelTest, AcceptsTheThreeChannels) {
  EXPECT_TRUE(IsChannel("email"));
  EXPECT_TRUE(IsChannel("linkedin"));
  EXPECT_TRUE(IsChannel("manual"));
}

TEST(IsChannelTest, RejectsOthers) {
  EXPECT_FALSE(IsChannel(""));
  EXPECT_FALSE(IsChannel("Email"));
  EXPECT_FALSE(IsChannel("sms"));
  EXPECT_FALSE(IsChannel("manual_task"));  // A detail object, not a channel.
}

TEST(IsEngagementStatusTest, AcceptsEachContractStatus) {
  for (const char* status : {"pending", "scheduled", "sent", "delivered",
                             "failed", "bounced", "replied", "cancelled"}) {
    EXPECT_TRUE(IsEngagementStatus(status)) << status;
  }
}

TEST(IsEngagementStatusTest, RejectsOthers) {
  EXPECT_FALSE(IsEngagementStatus(""));
  EXPECT_FALSE(IsEngagementStatus("Sent"));
  EXPECT_FALSE(IsEngagementStatus("opened"));
  EXPECT_FALSE(IsEngagementStatus("canceled"));  // The contract spells "ll".
}

class DirectionOfActionTest : public ::testing::TestWithParam<ContractAction> {
};

TEST_P(DirectionOfActionTest, MatchesTheContractTable) {
  const ContractAction& row = GetParam();
  EXPECT_EQ(DirectionOfAction(row.channel, row.action), row.direction);
}

INSTANTIATE_TEST_SUITE_P(
    ContractTable, DirectionOfActionTest, ::testing::ValuesIn(ContractTable()),
    [](const ::testing::TestParamInfo<ContractAction>& param_info) {
      return param_info.param.channel + "_" + param_info.param.action;
    });

TEST(DirectionOfActionOutsideTableTest, TableHasThirteenActions) {
  // Guards the hand-written table itself against a dropped row.
  EXPECT_EQ(ContractTable().size(), 13u);
}

TEST(DirectionOfActionOutsideTableTest, IsEmptyForEveryPairOutsideTheTable) {
  std::vector<std::string> channels = {"email", "linkedin", "manual",     "",
                                       "sms",   "Email",    "manual_task"};
  std::vector<std::string> actions = {
      "", "send_sms", "Reply_Email", "manual", "email", "linkedin_connect "};
  for (const ContractAction& row : ContractTable()) {
    actions.push_back(row.action);
  }
  for (const std::string& channel : channels) {
    for (const std::string& action : actions) {
      EXPECT_EQ(DirectionOfAction(channel, action),
                ExpectedDirection(channel, action))
          << channel << " / " << action;
    }
  }
}

TEST(DirectionOfActionOutsideTableTest, ManualHasNoInboundAction) {
  for (const ContractAction& row : ContractTable()) {
    EXPECT_NE(DirectionOfAction("manual", row.action), "inbound") << row.action;
  }
}

}  // namespace
}  // namespace webhooks::domain
