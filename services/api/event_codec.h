// From a PublishEvent request to a storable event: contract validation of the
// protobuf Event, the default idempotency key, and the JSON body rendered once
// by protobuf's JSON printer.
#ifndef WEBHOOKS_SERVICES_API_EVENT_CODEC_H_
#define WEBHOOKS_SERVICES_API_EVENT_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/store/event_store.h"
#include "webhooks/v1/event.pb.h"

namespace webhooks::api {

// Checks every contract rule of `event` (INVALID_ARGUMENT naming the field),
// then renders the body with `event_id` and returns the event ready to store.
// An empty `idempotency_key` becomes the contract's default.
absl::StatusOr<store::NewEvent> PrepareEvent(const v1::Event& event,
                                             absl::string_view idempotency_key,
                                             std::string event_id);

// The JSON body for `event` under `event_id`: a WebhookPayload with "event"
// and "event_id" first, snake_case keys, absent and empty data omitted (empty
// objects included), `engagement.direction` filled from the action. Compact,
// UTF-8. Does not validate; INVALID_ARGUMENT only when the printer refuses (an
// out-of-range timestamp).
absl::StatusOr<std::string> RenderBody(const v1::Event& event,
                                       absl::string_view event_id);

// INVALID_ARGUMENT naming `field` unless `t` is a timestamp RFC 3339 can
// write (0001-01-01 to 9999-12-31, nanos 0 to 999,999,999).
absl::Status ValidateTimestamp(const google::protobuf::Timestamp& t,
                               absl::string_view field);

// Renders one sample body and discards it, so that protobuf's JSON printer
// builds its type tables (about 0.5 ms, once per process) before the first
// request instead of on its path.
void WarmRenderer();

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_EVENT_CODEC_H_
