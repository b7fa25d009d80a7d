// A realistic sample event of each type: what SendTestEvent sends, and the
// events whose rendered bodies are the golden files of the codec's tests
// (tests/unit/api/golden), which the subscriber's guide (docs/) shows. One
// home for the three, so the test send, the tests and the guide agree.
#ifndef WEBHOOKS_SERVICES_API_SAMPLE_EVENTS_H_
#define WEBHOOKS_SERVICES_API_SAMPLE_EVENTS_H_

#include "absl/strings/string_view.h"
#include "webhooks/v1/event.pb.h"

namespace webhooks::api {

// The sample of `type` as protobuf text; "" for an unknown type.
absl::string_view SampleEventText(absl::string_view type);

// The same, parsed (once); nullptr for an unknown type. Thread-safe.
const v1::Event* SampleEvent(absl::string_view type);

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_SAMPLE_EVENTS_H_
