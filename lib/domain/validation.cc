#include "lib/domain/validation.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/common/echo.h"
#include "lib/common/status_macros.h"
#include "lib/domain/event_types.h"

namespace webhooks::domain {
namespace {

constexpr absl::string_view kOutbound = "outbound";
constexpr absl::string_view kInbound = "inbound";

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", rule));
}

std::string Quoted(absl::string_view text) { return common::Echo(text); }

// Names one offending byte without echoing the text around it, which may be a
// secret pasted into the wrong field.
std::string DescribeByteAt(absl::string_view text, std::size_t offset) {
  const auto c = static_cast<unsigned char>(text[offset]);
  const std::string what =
      (c > 0x20 && c < 0x7f)
          ? absl::StrCat("'", absl::string_view(&text[offset], 1), "'")
          : absl::StrCat("byte 0x", absl::Hex(c, absl::kZeroPad2));
  return absl::StrCat(what, " at offset ", offset);
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Index of the first control character, or npos.
std::size_t FindControl(absl::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (IsControl(static_cast<unsigned char>(text[i]))) return i;
  }
  return absl::string_view::npos;
}

// RFC 9110 section 5.6.2: tchar.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) !=
             absl::string_view::npos;
}

bool IsTenantIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
         c == '_' || c == ':' || c == '-';
}

// Only the letters, digits, '-', '.' and '_' that DNS names use: anything
// else in a host (percent-encoding, sub-delims, '\') is where URL parsers
// disagree about which host is meant.
bool IsHostNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.' || c == '_';
}

bool IsIpv6LiteralChar(char c) {
  return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':' ||
         c == '.';
}

absl::Status ValidatePort(absl::string_view port) {
  constexpr absl::string_view kField = "subscription.target_url";
  constexpr absl::string_view kRule =
      "the port must be a number from 1 to 65535";
  if (port.empty()) return Invalid(kField, kRule);
  unsigned long value = 0;
  for (char c : port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return Invalid(kField, kRule);
    }
    value = value * 10 + static_cast<unsigned long>(c - '0');
    // Stop before a long run of digits can overflow.
    if (value > 65535) return Invalid(kField, kRule);
  }
  if (value == 0) return Invalid(kField, kRule);
  return absl::OkStatus();
}

// Splits the authority (already known to hold no '@') into host and port and
// checks both.
absl::Status ValidateAuthority(absl::string_view authority) {
  constexpr absl::string_view kField = "subscription.target_url";
  absl::string_view host;
  absl::string_view after_host;  // "" or ":port"
  if (absl::StartsWith(authority, "[")) {
    const std::size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return Invalid(kField, "the IPv6 address has no closing ']'");
    }
    host = authority.substr(1, close - 1);
    after_host = authority.substr(close + 1);
    if (host.empty()) return Invalid(kField, "must have a host");
    for (std::size_t i = 0; i < host.size(); ++i) {
      if (!IsIpv6LiteralChar(host[i])) {
        return Invalid(
            kField, absl::StrCat("the IPv6 address may hold only hex digits, "
                                 "':' and '.' (found ",
                                 DescribeByteAt(host, i), ")"));
      }
    }
    // Only what the resolver will take as an IPv6 address: "[1:2]" has the
    // right characters and would fail every attempt.
    in6_addr parsed;
    if (host.find(':') == absl::string_view::npos ||
        inet_pton(AF_INET6, std::string(host).c_str(), &parsed) != 1) {
      return Invalid(kField, "the bracketed host is not an IPv6 address");
    }
    if (!after_host.empty() && after_host.front() != ':') {
      return Invalid(kField,
                     "only ':port' may follow the bracketed IPv6 address");
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != absl::string_view::npos) after_host = authority.substr(colon);
    if (host.empty()) return Invalid(kField, "must have a host");
    for (std::size_t i = 0; i < host.size(); ++i) {
      if (!IsHostNameChar(host[i])) {
        return Invalid(
            kField,
            absl::StrCat("the host may hold only letters, digits, '-', '.' "
                         "and '_' (found ",
                         DescribeByteAt(host, i), ")"));
      }
    }
  }
  if (!after_host.empty()) return ValidatePort(after_host.substr(1));
  return absl::OkStatus();
}

constexpr absl::string_view kEventTypeList =
    "engagement_dispatched, inbound_engagement, engagement_status_changed";
constexpr absl::string_view kStatusList =
    "pending, scheduled, sent, delivered, failed, bounced, replied, cancelled";

// Why each refused header name is refused, by lower-case name.
absl::string_view ReservedHeaderReason(absl::string_view lower_name) {
  if (lower_name == "host") return "the service sets it from target_url";
  if (lower_name == "content-length" || lower_name == "transfer-encoding") {
    return "it controls message framing";
  }
  if (lower_name == "content-type") return "the body is always JSON";
  if (lower_name == "content-encoding") {
    return "the body is always sent unencoded, and it would change how it is "
           "read";
  }
  if (lower_name == "connection" || lower_name == "keep-alive" ||
      lower_name == "te" || lower_name == "trailer" ||
      lower_name == "upgrade" || absl::StartsWith(lower_name, "proxy-")) {
    return "it is a hop-by-hop header";
  }
  if (lower_name == "expect") return "it changes how the request is sent";
  if (lower_name == "user-agent") return "the service identifies itself in it";
  if (absl::StartsWith(lower_name, "webhook-")) {
    return "the webhook- prefix is reserved for the service's own headers";
  }
  return "";
}

// Never echoes a name that fails these checks: a name that is not a token is
// often a whole "Name: secret" line pasted into the name.
absl::Status ValidateHeaderName(absl::string_view name) {
  constexpr absl::string_view kField = "subscription.custom_headers";
  if (name.empty()) return Invalid(kField, "a header name must not be empty");
  if (name.size() > kMaxHeaderNameBytes) {
    return Invalid(
        kField, absl::StrCat("a header name must be at most ",
                             kMaxHeaderNameBytes, " bytes, got ", name.size()));
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!IsTokenChar(name[i])) {
      return Invalid(kField,
                     absl::StrCat("a header name must be an HTTP token of "
                                  "letters, digits and !#$%&'*+-.^_`|~ (found ",
                                  DescribeByteAt(name, i), ")"));
    }
  }
  const absl::string_view reason =
      ReservedHeaderReason(absl::AsciiStrToLower(name));
  if (!reason.empty()) {
    return Invalid(kField, absl::StrCat("header ", Quoted(name),
                                        " cannot be set: ", reason));
  }
  return absl::OkStatus();
}

// The caller's `name` is already valid; the value itself never appears in the
// message.
absl::Status ValidateHeaderValue(absl::string_view name,
                                 absl::string_view value) {
  constexpr absl::string_view kField = "subscription.custom_headers";
  if (value.size() > kMaxHeaderValueBytes) {
    return Invalid(kField, absl::StrCat("the value of header ", Quoted(name),
                                        " must be at most ",
                                        kMaxHeaderValueBytes, " bytes"));
  }
  // RFC 9110 field values: visible characters, obs-text, and space or tab
  // between them. Any other control character is refused by receivers (or,
  // CR and LF, would split the header).
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) continue;
    if (byte == '\t') continue;
    std::string found;
    if (c == '\r') found = "CR";
    if (c == '\n') found = "LF";
    if (c == '\0') found = "NUL";
    if (found.empty())
      found = absl::StrCat("byte 0x", absl::Hex(byte, absl::kZeroPad2));
    return Invalid(kField, absl::StrCat("the value of header ", Quoted(name),
                                        " must not contain control "
                                        "characters other than tab (found ",
                                        found, ")"));
  }
  // Receivers strip a value's leading and trailing spaces and tabs, and
  // libcurl does not send a header whose value is only those: either way the
  // subscriber would not get the value as set.
  if (!value.empty() && (absl::ascii_isblank(value.front()) ||
                         absl::ascii_isblank(value.back()))) {
    return Invalid(
        kField,
        absl::StrCat("the value of header ", Quoted(name),
                     value.find_first_not_of(" \t") == absl::string_view::npos
                         ? " must not be only spaces or tabs (an empty value "
                           "sends the header empty)"
                         : " must not begin or end with a space or tab"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTenantId(absl::string_view tenant_id) {
  constexpr absl::string_view kField = "tenant_id";
  if (tenant_id.empty()) return Invalid(kField, "is required");
  if (tenant_id.size() > kMaxTenantIdBytes) {
    return Invalid(kField, absl::StrCat("must be at most ", kMaxTenantIdBytes,
                                        " bytes, got ", tenant_id.size()));
  }
  for (std::size_t i = 0; i < tenant_id.size(); ++i) {
    if (!IsTenantIdChar(tenant_id[i])) {
      return Invalid(kField,
                     absl::StrCat("may hold only letters, digits, '.', '_', "
                                  "':' and '-' (found ",
                                  DescribeByteAt(tenant_id, i), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateSubscriptionName(absl::string_view name) {
  constexpr absl::string_view kField = "subscription.name";
  if (name.size() > kMaxSubscriptionNameBytes) {
    return Invalid(kField,
                   absl::StrCat("must be at most ", kMaxSubscriptionNameBytes,
                                " bytes, got ", name.size()));
  }
  if (const std::size_t i = FindControl(name); i != absl::string_view::npos) {
    return Invalid(kField,
                   absl::StrCat("must not contain control characters (found ",
                                DescribeByteAt(name, i), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTargetUrl(absl::string_view url) {
  constexpr absl::string_view kField = "subscription.target_url";
  // The URL is never echoed: query strings often carry tokens.
  if (url.empty()) return Invalid(kField, "is required");
  if (url.size() > kMaxTargetUrlBytes) {
    return Invalid(kField, absl::StrCat("must be at most ", kMaxTargetUrlBytes,
                                        " bytes, got ", url.size()));
  }
  for (std::size_t i = 0; i < url.size(); ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (IsControl(c) || c == ' ') {
      return Invalid(kField, absl::StrCat("must not contain whitespace or "
                                          "control characters (found ",
                                          DescribeByteAt(url, i), ")"));
    }
    // Raw non-ASCII is not a URL (RFC 3986) and hides look-alike whitespace
    // such as U+00A0; hosts go in punycode and the rest percent-encoded.
    if (c >= 0x80) {
      return Invalid(kField,
                     absl::StrCat("must be ASCII: write the host in punycode "
                                  "and percent-encode the rest (found ",
                                  DescribeByteAt(url, i), ")"));
    }
  }
  const std::size_t scheme_end = url.find(':');
  const absl::string_view scheme = url.substr(0, scheme_end);
  if (scheme_end != absl::string_view::npos &&
      absl::EqualsIgnoreCase(scheme, "http")) {
    return Invalid(kField, "HTTPS is required; http:// URLs are refused");
  }
  if (scheme_end == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(scheme, "https") ||
      !absl::StartsWith(url.substr(scheme_end), "://")) {
    return Invalid(kField, "must be an absolute https:// URL");
  }
  if (url.find('#') != absl::string_view::npos) {
    return Invalid(kField, "must not contain a fragment ('#...')");
  }
  const absl::string_view rest = url.substr(scheme_end + 3);
  const absl::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (authority.find('@') != absl::string_view::npos) {
    return Invalid(kField,
                   "must not contain userinfo ('user:password@'); put "
                   "credentials in custom_headers");
  }
  return ValidateAuthority(authority);
}

absl::Status ValidateEventTypes(absl::Span<const std::string> event_types) {
  constexpr absl::string_view kField = "subscription.event_types";
  if (event_types.empty()) {
    return Invalid(kField, "must list at least one event type");
  }
  std::set<absl::string_view> seen;
  for (const std::string& type : event_types) {
    if (!IsEventType(type)) {
      return Invalid(kField,
                     absl::StrCat("unknown event type ", Quoted(type),
                                  "; expected one of ", kEventTypeList));
    }
    if (!seen.insert(type).second) {
      return Invalid(kField,
                     absl::StrCat(Quoted(type), " is listed more than once"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCustomHeaders(
    const std::map<std::string, std::string>& headers) {
  constexpr absl::string_view kField = "subscription.custom_headers";
  if (headers.size() > kMaxCustomHeaders) {
    return Invalid(kField,
                   absl::StrCat("at most ", kMaxCustomHeaders,
                                " headers are allowed, got ", headers.size()));
  }
  // Lower-cased name -> name as given, to name both sides of a clash.
  std::map<std::string, absl::string_view> seen;
  for (const auto& [name, value] : headers) {
    WEBHOOKS_RETURN_IF_ERROR(ValidateHeaderName(name));
    WEBHOOKS_RETURN_IF_ERROR(ValidateHeaderValue(name, value));
    const auto [it, inserted] = seen.emplace(absl::AsciiStrToLower(name), name);
    if (!inserted) {
      return Invalid(kField,
                     absl::StrCat("header names ", Quoted(it->second), " and ",
                                  Quoted(name),
                                  " differ only in case; HTTP treats them as "
                                  "one header"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ResolveMaxInFlight(int requested, int server_default,
                                       int limit) {
  if (requested == 0) return server_default;
  if (requested < 1 || requested > limit) {
    return Invalid("subscription.max_in_flight",
                   absl::StrCat("must be between 1 and ", limit,
                                " (0 for the server default of ",
                                server_default, "), got ", requested));
  }
  return requested;
}

absl::Status ValidateIdempotencyKey(absl::string_view key) {
  constexpr absl::string_view kField = "idempotency_key";
  if (key.size() > kMaxIdempotencyKeyBytes) {
    return Invalid(kField,
                   absl::StrCat("must be at most ", kMaxIdempotencyKeyBytes,
                                " bytes, got ", key.size()));
  }
  if (const std::size_t i = FindControl(key); i != absl::string_view::npos) {
    return Invalid(kField,
                   absl::StrCat("must not contain control characters (found ",
                                DescribeByteAt(key, i), ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEngagement(const EngagementFacts& facts) {
  if (facts.event_type.empty()) return Invalid("event.type", "is required");
  if (!IsEventType(facts.event_type)) {
    return Invalid("event.type",
                   absl::StrCat("unknown event type ", Quoted(facts.event_type),
                                "; expected one of ", kEventTypeList));
  }
  if (facts.yess_id.empty()) {
    return Invalid("event.engagement.yess_id", "is required");
  }
  if (facts.channel.empty()) {
    return Invalid("event.engagement.channel", "is required");
  }
  if (!IsChannel(facts.channel)) {
    return Invalid("event.engagement.channel",
                   absl::StrCat("unknown channel ", Quoted(facts.channel),
                                "; expected one of email, linkedin, manual"));
  }

  constexpr absl::string_view kAction = "event.engagement.action";
  if (facts.action.empty()) return Invalid(kAction, "is required");
  const absl::string_view direction =
      DirectionOfAction(facts.channel, facts.action);
  if (direction.empty()) {
    return Invalid(kAction, absl::StrCat(Quoted(facts.action),
                                         " is not an action of channel ",
                                         Quoted(facts.channel)));
  }
  if (facts.event_type == kEngagementDispatched && direction != kOutbound) {
    return Invalid(kAction, absl::StrCat(kEngagementDispatched,
                                         " requires an outbound action; ",
                                         Quoted(facts.action), " is inbound"));
  }
  if (facts.event_type == kInboundEngagement && direction != kInbound) {
    return Invalid(kAction, absl::StrCat(kInboundEngagement,
                                         " requires an inbound action; ",
                                         Quoted(facts.action), " is outbound"));
  }

  constexpr absl::string_view kDirection = "event.engagement.direction";
  if (!facts.direction.empty()) {
    if (facts.direction != kOutbound && facts.direction != kInbound) {
      return Invalid(kDirection,
                     absl::StrCat("must be \"outbound\" or \"inbound\", got ",
                                  Quoted(facts.direction)));
    }
    if (facts.direction != direction) {
      return Invalid(
          kDirection,
          absl::StrCat(Quoted(facts.direction), " does not match action ",
                       Quoted(facts.action), ", which is ", direction));
    }
  }

  constexpr absl::string_view kStatus = "event.engagement.status";
  constexpr absl::string_view kPreviousStatus =
      "event.engagement.previous_status";
  if (!facts.status.empty() && !IsEngagementStatus(facts.status)) {
    return Invalid(kStatus,
                   absl::StrCat("unknown status ", Quoted(facts.status),
                                "; expected one of ", kStatusList));
  }
  if (!facts.previous_status.empty() &&
      !IsEngagementStatus(facts.previous_status)) {
    return Invalid(
        kPreviousStatus,
        absl::StrCat("unknown status ", Quoted(facts.previous_status),
                     "; expected one of ", kStatusList));
  }
  if (facts.event_type == kEngagementStatusChanged) {
    if (facts.status.empty()) {
      return Invalid(
          kStatus, absl::StrCat("is required for ", kEngagementStatusChanged));
    }
    if (facts.previous_status.empty()) {
      return Invalid(kPreviousStatus, absl::StrCat("is required for ",
                                                   kEngagementStatusChanged));
    }
  } else if (!facts.previous_status.empty()) {
    return Invalid(kPreviousStatus, absl::StrCat("is only allowed for ",
                                                 kEngagementStatusChanged));
  }

  if (!facts.detail.empty()) {
    const absl::string_view expected = facts.channel == "manual"
                                           ? absl::string_view("manual_task")
                                           : facts.channel;
    if (facts.detail != "email" && facts.detail != "linkedin" &&
        facts.detail != "manual_task") {
      return Invalid(
          absl::StrCat("event.engagement.",
                       absl::CEscape(facts.detail.substr(0, 64))),
          "unknown detail object; expected email, linkedin or manual_task");
    }
    if (facts.detail != expected) {
      return Invalid(
          absl::StrCat("event.engagement.", facts.detail),
          absl::StrCat("does not match channel ", Quoted(facts.channel),
                       ", which carries ", expected));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateBodySize(std::size_t body_bytes) {
  if (body_bytes > kMaxBodyBytes) {
    return Invalid("event", absl::StrCat("the rendered body is ", body_bytes,
                                         " bytes; at most ", kMaxBodyBytes,
                                         " (256 KiB) are allowed"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEventTypeName(absl::string_view field,
                                   absl::string_view name) {
  if (IsEventType(name)) return absl::OkStatus();
  return Invalid(field,
                 absl::StrCat(Quoted(name), " is not an event type (",
                              absl::StrJoin(AllEventTypes(), ", "), ")"));
}

std::string DefaultIdempotencyKey(absl::string_view event_type,
                                  absl::string_view engagement_yess_id,
                                  absl::string_view previous_status,
                                  absl::string_view status,
                                  absl::Time occurred_at) {
  const std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", occurred_at,
                                            absl::UTCTimeZone());
  if (event_type == kEngagementStatusChanged) {
    return absl::StrCat(event_type, ":", engagement_yess_id, ":",
                        previous_status, ">", status, ":", when);
  }
  return absl::StrCat(event_type, ":", engagement_yess_id, ":", when);
}

}  // namespace webhooks::domain
