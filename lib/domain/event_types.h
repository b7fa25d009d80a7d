// The contract's names: event types, channels, actions, statuses.
#ifndef WEBHOOKS_LIB_DOMAIN_EVENT_TYPES_H_
#define WEBHOOKS_LIB_DOMAIN_EVENT_TYPES_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace webhooks::domain {

inline constexpr absl::string_view kEngagementDispatched =
    "engagement_dispatched";
inline constexpr absl::string_view kInboundEngagement = "inbound_engagement";
inline constexpr absl::string_view kEngagementStatusChanged =
    "engagement_status_changed";

// The three event types, in the contract's order.
const std::vector<std::string>& AllEventTypes();
bool IsEventType(absl::string_view name);

// "outbound" or "inbound" when `action` is one of `channel`'s actions in the
// contract's table; empty otherwise (unknown channel, or action not of it).
absl::string_view DirectionOfAction(absl::string_view channel,
                                    absl::string_view action);

bool IsChannel(absl::string_view name);  // email | linkedin | manual
// pending | scheduled | sent | delivered | failed | bounced | replied |
// cancelled
bool IsEngagementStatus(absl::string_view name);

}  // namespace webhooks::domain

#endif  // WEBHOOKS_LIB_DOMAIN_EVENT_TYPES_H_
