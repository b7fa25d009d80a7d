#include "services/api/event_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/util/json_util.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/common/status_macros.h"
#include "lib/domain/event_types.h"
#include "lib/domain/validation.h"
#include "services/api/rpc_support.h"

namespace webhooks::api {
namespace {

namespace pb = google::protobuf;

// RFC 3339 can express 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

absl::string_view DetailName(const v1::Engagement& engagement) {
  switch (engagement.detail_case()) {
    case v1::Engagement::kEmail:
      return "email";
    case v1::Engagement::kLinkedin:
      return "linkedin";
    case v1::Engagement::kManualTask:
      return "manual_task";
    case v1::Engagement::DETAIL_NOT_SET:
      break;
  }
  return "";
}

// Clears every set sub-message that holds nothing, depth first, so that the
// printer omits it: absent data is omitted, never sent as {}. Well-known
// types (Timestamp) carry meaning even when zero and are left alone.
void ClearEmptyMessages(pb::Message& message) {
  const pb::Reflection* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE ||
        field->is_repeated()) {
      continue;
    }
    if (field->message_type()->file()->package() == "google.protobuf") continue;
    pb::Message* child = reflection->MutableMessage(&message, field);
    ClearEmptyMessages(*child);
    if (child->ByteSizeLong() == 0) reflection->ClearField(&message, field);
  }
}

}  // namespace

absl::Status ValidateTimestamp(const pb::Timestamp& t,
                               absl::string_view field) {
  if (t.nanos() < 0 || t.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": nanos must be 0 to 999,999,999"));
  }
  if (t.seconds() < kMinTimestampSeconds ||
      t.seconds() > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be between 0001-01-01 and 9999-12-31"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderBody(const v1::Event& event,
                                       absl::string_view event_id) {
  v1::WebhookPayload payload;
  payload.set_event(event.type());
  payload.set_event_id(std::string(event_id));
  if (event.has_occurred_at())
    *payload.mutable_occurred_at() = event.occurred_at();
  if (event.has_account()) *payload.mutable_account() = event.account();
  if (event.has_lead()) *payload.mutable_lead() = event.lead();
  if (event.has_engagement())
    *payload.mutable_engagement() = event.engagement();
  if (event.has_sequence()) *payload.mutable_sequence() = event.sequence();
  if (payload.has_engagement() && payload.engagement().direction().empty()) {
    payload.mutable_engagement()->set_direction(
        std::string(domain::DirectionOfAction(payload.engagement().channel(),
                                              payload.engagement().action())));
  }
  ClearEmptyMessages(payload);

  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = false;
  std::string body;
  auto status = pb::util::MessageToJsonString(payload, &body, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("event: cannot be rendered as JSON: ", status.ToString()));
  }
  return body;
}

void WarmRenderer() {
  v1::Event event;
  event.mutable_engagement()->set_channel("email");
  event.mutable_engagement()->set_action("new_thread_email");
  (void)RenderBody(event, "evt_warm");
}

absl::StatusOr<store::NewEvent> PrepareEvent(const v1::Event& event,
                                             absl::string_view idempotency_key,
                                             std::string event_id) {
  if (!event.has_engagement()) {
    return absl::InvalidArgumentError("event.engagement: is required");
  }
  const v1::Engagement& engagement = event.engagement();
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateEngagement({
      .event_type = event.type(),
      .yess_id = engagement.yess_id(),
      .channel = engagement.channel(),
      .action = engagement.action(),
      .direction = engagement.direction(),
      .status = engagement.status(),
      .previous_status = engagement.previous_status(),
      .detail = DetailName(engagement),
  }));
  if (!event.has_occurred_at()) {
    return absl::InvalidArgumentError("event.occurred_at: is required");
  }
  WEBHOOKS_RETURN_IF_ERROR(
      ValidateTimestamp(event.occurred_at(), "event.occurred_at"));
  if (engagement.has_sent_at()) {
    WEBHOOKS_RETURN_IF_ERROR(
        ValidateTimestamp(engagement.sent_at(), "event.engagement.sent_at"));
  }
  if (engagement.has_manual_task() && engagement.manual_task().has_due_at()) {
    WEBHOOKS_RETURN_IF_ERROR(
        ValidateTimestamp(engagement.manual_task().due_at(),
                          "event.engagement.manual_task.due_at"));
  }
  if (event.has_sequence()) {
    const v1::Sequence& sequence = event.sequence();
    if (sequence.total_steps() < 0) {
      return absl::InvalidArgumentError(
          "event.sequence.total_steps: must not be negative");
    }
    // 0 means "not set" in proto3: step_number is optional.
    if (sequence.step_number() < 0 ||
        (sequence.total_steps() > 0 &&
         sequence.step_number() > sequence.total_steps())) {
      return absl::InvalidArgumentError(
          "event.sequence.step_number: must be between 1 and "
          "sequence.total_steps");
    }
  }

  std::string key = idempotency_key.empty()
                        ? domain::DefaultIdempotencyKey(
                              event.type(), engagement.yess_id(),
                              engagement.previous_status(), engagement.status(),
                              ToTime(event.occurred_at()))
                        : std::string(idempotency_key);
  if (absl::Status status = domain::ValidateIdempotencyKey(key); !status.ok()) {
    // The default key is made of yess_id: say which field to fix.
    return idempotency_key.empty()
               ? absl::InvalidArgumentError(absl::StrCat(
                     "event.engagement.yess_id: too long to make the default "
                     "idempotency key (at most ",
                     domain::kMaxIdempotencyKeyBytes,
                     " bytes in all); shorten it or set idempotency_key"))
               : status;
  }

  WEBHOOKS_ASSIGN_OR_RETURN(std::string body, RenderBody(event, event_id));
  WEBHOOKS_RETURN_IF_ERROR(domain::ValidateBodySize(body.size()));

  store::NewEvent out;
  out.id = std::move(event_id);
  out.type = event.type();
  out.idempotency_key = std::move(key);
  out.body = std::move(body);
  out.occurred_at = ToTime(event.occurred_at());
  return out;
}

}  // namespace webhooks::api
