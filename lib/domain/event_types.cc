#include "lib/domain/event_types.h"

#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/string_view.h"

namespace webhooks::domain {
namespace {

struct ChannelActions {
  absl::string_view channel;
  std::vector<absl::string_view> outbound;
  std::vector<absl::string_view> inbound;
};

// The contract's channel/action table, kept as data so that adding an action
// is a one-line change here and nowhere else.
const std::vector<ChannelActions>& ActionTable() {
  // Never destroyed, so it stays usable while other statics are destroyed at
  // exit (Google style allows no non-trivially-destructible statics).
  static const auto* const kTable = new std::vector<ChannelActions>{
      {"email",
       {"new_thread_email", "follow_up_email", "follow_on_reply_email"},
       {"reply_email"}},
      {"linkedin",
       {"linkedin_connect", "linkedin_message", "linkedin_inmail",
        "linkedin_follow_on_reply", "linkedin_group_chat",
        "linkedin_group_chat_follow_up_on_reply"},
       {"reply_linkedin", "connection_accepted_linkedin"}},
      {"manual", {"manual_task"}, {}},
  };
  return *kTable;
}

bool Contains(const std::vector<absl::string_view>& names,
              absl::string_view name) {
  return absl::c_find(names, name) != names.end();
}

}  // namespace

const std::vector<std::string>& AllEventTypes() {
  static const auto* const kTypes = new std::vector<std::string>{
      std::string(kEngagementDispatched), std::string(kInboundEngagement),
      std::string(kEngagementStatusChanged)};
  return *kTypes;
}

bool IsEventType(absl::string_view name) {
  return name == kEngagementDispatched || name == kInboundEngagement ||
         name == kEngagementStatusChanged;
}

absl::string_view DirectionOfAction(absl::string_view channel,
                                    absl::string_view action) {
  for (const ChannelActions& row : ActionTable()) {
    if (row.channel != channel) continue;
    if (Contains(row.outbound, action)) return "outbound";
    if (Contains(row.inbound, action)) return "inbound";
    return "";
  }
  return "";
}

bool IsChannel(absl::string_view name) {
  return absl::c_any_of(ActionTable(), [name](const ChannelActions& row) {
    return row.channel == name;
  });
}

bool IsEngagementStatus(absl::string_view name) {
  static constexpr absl::string_view kStatuses[] = {
      "pending", "scheduled", "sent",    "delivered",
      "failed",  "bounced",   "replied", "cancelled"};
  return absl::c_linear_search(kStatuses, name);
}

}  // namespace webhooks::domain
