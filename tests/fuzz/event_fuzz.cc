// libFuzzer target: PrepareEvent (the contract's checks of a published event)
// and RenderBody (its JSON body), fed a PublishEventRequest in text format.
//
// The text is parsed, then sent through the binary wire format the way gRPC
// delivers it (so strings are valid UTF-8, as proto3 guarantees). Properties
// checked, besides ASan and UBSan:
// - RenderBody of any event either succeeds or fails only for a timestamp
//   RFC 3339 cannot write; its body is valid UTF-8, parses back into a
//   WebhookPayload, and prints back to the very same bytes;
// - PrepareEvent refuses with INVALID_ARGUMENT and a message that names the
//   field ("event..." or "idempotency_key"), is one line of printable ASCII
//   and is bounded (client text is echoed escaped and cut, lib/common/echo.h);
// - an event it accepts has a known type, an action whose direction suits the
//   type, a body as above that is exactly RenderBody's, and an idempotency key
//   of 1 to 256 bytes without control characters.
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/domain/event_types.h"
#include "lib/domain/validation.h"
#include "services/api/event_codec.h"
#include "webhooks/v1/event.pb.h"
#include "webhooks/v1/event_service.pb.h"

namespace {

namespace pb = google::protobuf;
using webhooks::v1::Event;
using webhooks::v1::PublishEventRequest;
using webhooks::v1::WebhookPayload;

constexpr absl::string_view kEventId = "evt_01M8TQF7Q5P07YJ1K2M1VQQZ5H";
// Two echoes of client text (at most 64 bytes, each byte at most 4 escaped
// characters, quotes and "...") and the rule around them fit well in this.
constexpr std::size_t kMaxMessageBytes = 1024;

// Prints which property failed and stops, so that libFuzzer saves the input.
[[noreturn]] void Fail(absl::string_view property, absl::string_view detail) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %.*s\n  %.*s\n",
               static_cast<int>(property.size()), property.data(),
               static_cast<int>(detail.size()), detail.data());
  __builtin_trap();
}

// Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points past
// U+10FFFF. Written out here rather than taken from lib/common, so that the
// check does not share a bug with the code it checks.
bool IsValidUtf8(absl::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t n;
    uint32_t cp;
    if (b0 < 0x80) {
      ++i;
      continue;
    } else if ((b0 & 0xe0) == 0xc0) {
      n = 1;
      cp = b0 & 0x1fu;
    } else if ((b0 & 0xf0) == 0xe0) {
      n = 2;
      cp = b0 & 0x0fu;
    } else if ((b0 & 0xf8) == 0xf0) {
      n = 3;
      cp = b0 & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3fu);
    }
    constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool IsPrintableAscii(absl::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool TimestampOk(const pb::Timestamp& t) {
  return webhooks::api::ValidateTimestamp(t, "t").ok();
}

// Every timestamp RenderBody prints is one RFC 3339 can write.
bool AllTimestampsOk(const Event& event) {
  if (event.has_occurred_at() && !TimestampOk(event.occurred_at())) {
    return false;
  }
  if (!event.has_engagement()) return true;
  const auto& engagement = event.engagement();
  if (engagement.has_sent_at() && !TimestampOk(engagement.sent_at())) {
    return false;
  }
  return !(engagement.has_manual_task() &&
           engagement.manual_task().has_due_at() &&
           !TimestampOk(engagement.manual_task().due_at()));
}

pb::util::JsonPrintOptions PrintOptions() {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = false;
  return options;
}

// The checks every rendered body passes; returns the payload it parses to.
WebhookPayload CheckBody(const Event& event, const std::string& body) {
  if (!IsValidUtf8(body)) Fail("body is valid UTF-8", body);
  WebhookPayload parsed;
  const auto parse_status = pb::util::JsonStringToMessage(body, &parsed);
  if (!parse_status.ok()) {
    Fail("body parses back as a WebhookPayload",
         absl::StrCat(parse_status.ToString(), " in ", body));
  }
  std::string printed;
  if (!pb::util::MessageToJsonString(parsed, &printed, PrintOptions()).ok() ||
      printed != body) {
    Fail("body prints back to the same bytes",
         absl::StrCat(body, "\n  became\n  ", printed));
  }
  if (parsed.event() != event.type() || parsed.event_id() != kEventId) {
    Fail("body carries the event type and id", body);
  }
  if (!absl::StartsWith(body, "{") || !absl::EndsWith(body, "}")) {
    Fail("body is one compact JSON object", body);
  }
  return parsed;
}

void CheckRender(const Event& event) {
  const absl::StatusOr<std::string> body =
      webhooks::api::RenderBody(event, kEventId);
  if (!body.ok()) {
    if (body.status().code() != absl::StatusCode::kInvalidArgument ||
        AllTimestampsOk(event)) {
      Fail("RenderBody fails only for a timestamp RFC 3339 cannot write",
           body.status().ToString());
    }
    return;
  }
  CheckBody(event, *body);
}

void CheckPrepare(const PublishEventRequest& request) {
  const Event& event = request.event();
  const absl::StatusOr<webhooks::store::NewEvent> prepared =
      webhooks::api::PrepareEvent(event, request.idempotency_key(),
                                  std::string(kEventId));
  if (!prepared.ok()) {
    const absl::Status& status = prepared.status();
    const absl::string_view message = status.message();
    if (status.code() != absl::StatusCode::kInvalidArgument) {
      Fail("PrepareEvent refuses with INVALID_ARGUMENT", status.ToString());
    }
    if (!(absl::StartsWith(message, "event.") ||
          absl::StartsWith(message, "event:") ||
          absl::StartsWith(message, "idempotency_key:"))) {
      Fail("error message starts with the field path", message);
    }
    if (message.size() > kMaxMessageBytes) {
      Fail("error message is bounded",
           absl::StrCat(message.size(), " bytes: ", message.substr(0, 300)));
    }
    if (!IsPrintableAscii(message)) {
      Fail("error message is one line of printable ASCII", message);
    }
    return;
  }

  const webhooks::store::NewEvent& out = *prepared;
  if (!webhooks::domain::IsEventType(event.type()) ||
      out.type != event.type() || out.id != kEventId) {
    Fail("accepted event has a known type, kept with its id", event.type());
  }
  const auto& engagement = event.engagement();
  const absl::string_view direction = webhooks::domain::DirectionOfAction(
      engagement.channel(), engagement.action());
  if (direction.empty() ||
      (event.type() == webhooks::domain::kEngagementDispatched &&
       direction != "outbound") ||
      (event.type() == webhooks::domain::kInboundEngagement &&
       direction != "inbound")) {
    Fail("accepted event's action belongs to its channel and suits its type",
         absl::StrCat(event.type(), " ", engagement.channel(), " ",
                      engagement.action()));
  }
  if (!event.has_occurred_at() || !AllTimestampsOk(event)) {
    Fail("accepted event has valid timestamps", event.DebugString());
  }
  if (out.occurred_at != absl::FromUnixSeconds(event.occurred_at().seconds()) +
                             absl::Nanoseconds(event.occurred_at().nanos())) {
    Fail("accepted event keeps occurred_at", event.DebugString());
  }
  if (out.body.size() > webhooks::domain::kMaxBodyBytes) {
    Fail("accepted body is at most 256 KiB", absl::StrCat(out.body.size()));
  }
  const absl::StatusOr<std::string> rendered =
      webhooks::api::RenderBody(event, kEventId);
  if (!rendered.ok() || *rendered != out.body) {
    Fail("accepted body is RenderBody's", out.body);
  }
  const WebhookPayload parsed = CheckBody(event, out.body);
  if (parsed.engagement().direction() != direction ||
      parsed.engagement().yess_id() != engagement.yess_id()) {
    Fail("body carries the engagement with its direction", out.body);
  }
  const std::string& key = out.idempotency_key;
  if (key.empty() || key.size() > webhooks::domain::kMaxIdempotencyKeyBytes ||
      !webhooks::domain::ValidateIdempotencyKey(key).ok() ||
      (!request.idempotency_key().empty() &&
       key != request.idempotency_key())) {
    Fail("idempotency key is the given one or a valid default", key);
  }
  if (request.idempotency_key().empty() &&
      !absl::StartsWith(
          key, absl::StrCat(event.type(), ":", engagement.yess_id(), ":"))) {
    Fail("default idempotency key starts with type:yess_id:", key);
  }
}

// Text-format errors would otherwise be logged for every malformed input.
class SilentErrors : public pb::io::ErrorCollector {
 public:
  void AddError(int, pb::io::ColumnNumber, const std::string&) override {}
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // Protobuf logs every string that is not UTF-8; those inputs are dropped
  // below, and the log would only slow the fuzzer down.
  static const bool kQuiet = [] {
    pb::SetLogHandler(nullptr);
    return true;
  }();
  (void)kQuiet;

  PublishEventRequest text_request;
  SilentErrors errors;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(
          std::string(reinterpret_cast<const char*>(data), size),
          &text_request)) {
    return 0;
  }
  // What gRPC would hand the service: proto3 refuses strings that are not
  // UTF-8 on the wire.
  std::string wire;
  if (!text_request.SerializeToString(&wire)) return 0;
  PublishEventRequest request;
  if (!request.ParseFromString(wire)) return 0;

  CheckRender(request.event());
  CheckPrepare(request);
  return 0;
}
