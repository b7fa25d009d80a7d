// The HTTP request for one leased delivery: the stored body with the webhook
// contract's headers and its Standard Webhooks signature.
#ifndef WEBHOOKS_LIB_DISPATCH_REQUEST_BUILDER_H_
#define WEBHOOKS_LIB_DISPATCH_REQUEST_BUILDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lib/delivery/http_transport.h"
#include "lib/security/sealer.h"
#include "lib/store/delivery_store.h"

namespace webhooks::dispatch {

// The request for `delivery`, signed at `now` (webhook-timestamp is its Unix
// seconds). HttpRequest.id is the delivery id; the body is shared, not copied.
// Headers, in this order: Content-Type: application/json, webhook-id (the
// event id), webhook-timestamp, webhook-signature (one signature per secret:
// the current one, then the previous one during a rotation), webhook-event,
// webhook-attempt, then the subscription's custom headers in name order, an
// empty value sent as "Name;" (curl drops "Name: " with nothing after it).
//
// Sealed fields are opened with security::SubscriptionFieldAad of the
// delivery's subscription. Errors are those of Sealer::Open
// (FAILED_PRECONDITION, DATA_LOSS), domain::DecodeHeaders (DATA_LOSS) and
// delivery::SignatureHeader (INVALID_ARGUMENT); their messages never contain
// secret material. Thread-compatible; pure apart from the sealer.
//
// `header_values`, when given, receives the custom header values (for
// redacting what a receiver echoes of them: domain::RedactValues).
absl::StatusOr<delivery::HttpRequest> BuildRequest(
    const store::LeasedDelivery& delivery, const security::Sealer& sealer,
    absl::Time now, std::vector<std::string>* header_values = nullptr);

}  // namespace webhooks::dispatch

#endif  // WEBHOOKS_LIB_DISPATCH_REQUEST_BUILDER_H_
