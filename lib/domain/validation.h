// Validation of everything the webhook contract constrains. Each function
// returns OK or INVALID_ARGUMENT whose message starts with the field path as
// clients write it (e.g. "subscription.target_url: ...") and states the rule.
// Messages never echo header values (they are secrets).
#ifndef WEBHOOKS_LIB_DOMAIN_VALIDATION_H_
#define WEBHOOKS_LIB_DOMAIN_VALIDATION_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace webhooks::domain {

inline constexpr std::size_t kMaxTenantIdBytes = 128;
inline constexpr std::size_t kMaxSubscriptionNameBytes = 200;
inline constexpr std::size_t kMaxTargetUrlBytes = 2048;
inline constexpr std::size_t kMaxCustomHeaders = 20;
inline constexpr std::size_t kMaxHeaderNameBytes = 256;
inline constexpr std::size_t kMaxHeaderValueBytes = 8192;
inline constexpr std::size_t kMaxIdempotencyKeyBytes = 256;
inline constexpr std::size_t kMaxBodyBytes = std::size_t{256} * 1024;

// "tenant_id": 1-128 bytes of [A-Za-z0-9._:-].
absl::Status ValidateTenantId(absl::string_view tenant_id);

// "subscription.name": at most 200 bytes, no control characters (may be empty).
absl::Status ValidateSubscriptionName(absl::string_view name);

// "subscription.target_url": absolute https:// URL with a host, no userinfo,
// no fragment, no whitespace or control characters, at most 2,048 bytes, port
// (if any) 1-65535. `http://` gets a message saying HTTPS is required.
absl::Status ValidateTargetUrl(absl::string_view url);

// "subscription.event_types": non-empty, each a known type (the message names
// an unknown one), no repeats.
absl::Status ValidateEventTypes(absl::Span<const std::string> event_types);

// "subscription.custom_headers": at most 20; names are RFC 9110 tokens; values
// have no control character but tab and no leading or trailing space or tab
// (empty is fine: the header is sent empty); names that are hop-by-hop, framing
// or ours (Host, Content-Length, Content-Type, Content-Encoding,
// Transfer-Encoding, Connection, Keep-Alive, Proxy-*, TE, Trailer, Upgrade,
// Expect, User-Agent, webhook-*) are refused, case-insensitively, as are two
// names differing only in case.
absl::Status ValidateCustomHeaders(
    const std::map<std::string, std::string>& headers);

// "subscription.max_in_flight": 0 (the server default) or 1 to `limit`.
// Returns the effective cap: `server_default` for 0, else `requested`. The
// caller guarantees 1 <= server_default <= limit.
absl::StatusOr<int> ResolveMaxInFlight(int requested, int server_default,
                                       int limit);

// "idempotency_key": at most 256 bytes, no control characters.
absl::Status ValidateIdempotencyKey(absl::string_view key);

// The engagement facts of one event, as strings from the request.
struct EngagementFacts {
  absl::string_view event_type;
  absl::string_view yess_id;
  absl::string_view channel;
  absl::string_view action;
  absl::string_view direction;  // may be empty: derived from the action
  absl::string_view status;
  absl::string_view previous_status;
  // Which detail object is set: "", "email", "linkedin" or "manual_task".
  absl::string_view detail;
};

// The contract's agreement rules, fields named "event.type",
// "event.engagement.yess_id", "event.engagement.channel",
// "event.engagement.action", "event.engagement.direction",
// "event.engagement.status", "event.engagement.previous_status",
// "event.engagement.<detail>":
// - type is known; yess_id, channel and action are present;
// - action belongs to channel; engagement_dispatched takes an outbound action,
//   inbound_engagement an inbound one, engagement_status_changed any;
// - direction, when given, equals the action's direction;
// - status, when given, is a known status; engagement_status_changed requires
//   both status and previous_status; other types must not set previous_status;
// - the detail object, when set, matches the channel (manual -> manual_task).
absl::Status ValidateEngagement(const EngagementFacts& facts);

// INVALID_ARGUMENT naming `field` unless `name` is one of the event types
// (the message echoes at most 64 bytes of it, escaped as common::Echo does,
// and lists the types).
absl::Status ValidateEventTypeName(absl::string_view field,
                                   absl::string_view name);

// "event": the rendered body is at most 256 KiB.
absl::Status ValidateBodySize(std::size_t body_bytes);

// The key of an event published without one. It must never merge two
// distinct real events, so it holds everything that tells them apart:
//   type ":" engagement yess_id ":" occurred_at
// and, for engagement_status_changed,
//   type ":" engagement yess_id ":" previous_status ">" status ":" occurred_at
// with occurred_at in RFC 3339 UTC with its full fraction
// ("2026-11-26T14:03:11.512Z"). An engagement that goes sent -> failed ->
// sent thus publishes two distinct "sent" changes; the same change published
// twice (a retry: same engagement, statuses and time) is one event.
std::string DefaultIdempotencyKey(absl::string_view event_type,
                                  absl::string_view engagement_yess_id,
                                  absl::string_view previous_status,
                                  absl::string_view status,
                                  absl::Time occurred_at);

}  // namespace webhooks::domain

#endif  // WEBHOOKS_LIB_DOMAIN_VALIDATION_H_
