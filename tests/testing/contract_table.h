// The webhook contract's channel/action table (docs/receiving-webhooks.md),
// written out for tests independently of lib/domain, so that a wrong entry in
// the code under test cannot also be the expectation.
#ifndef WEBHOOKS_TESTS_TESTING_CONTRACT_TABLE_H_
#define WEBHOOKS_TESTS_TESTING_CONTRACT_TABLE_H_

#include <string>
#include <vector>

namespace webhooks::testing {

struct ContractAction {
  std::string channel;
  std::string action;
  std::string direction;  // outbound | inbound
};

inline const std::vector<ContractAction>& ContractTable() {
  static const auto* const kTable = new std::vector<ContractAction>{
      {"email", "new_thread_email", "outbound"},
      {"email", "follow_up_email", "outbound"},
      {"email", "follow_on_reply_email", "outbound"},
      {"email", "reply_email", "inbound"},
      {"linkedin", "linkedin_connect", "outbound"},
      {"linkedin", "linkedin_message", "outbound"},
      {"linkedin", "linkedin_inmail", "outbound"},
      {"linkedin", "linkedin_follow_on_reply", "outbound"},
      {"linkedin", "linkedin_group_chat", "outbound"},
      {"linkedin", "linkedin_group_chat_follow_up_on_reply", "outbound"},
      {"linkedin", "reply_linkedin", "inbound"},
      {"linkedin", "connection_accepted_linkedin", "inbound"},
      {"manual", "manual_task", "outbound"},
  };
  return *kTable;
}

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_CONTRACT_TABLE_H_
