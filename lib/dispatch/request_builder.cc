#include "lib/dispatch/request_builder.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/delivery/signer.h"
#include "lib/domain/custom_headers.h"
#include "lib/security/sealed_fields.h"

namespace webhooks::dispatch {

absl::StatusOr<delivery::HttpRequest> BuildRequest(
    const store::LeasedDelivery& d, const security::Sealer& sealer,
    absl::Time now, std::vector<std::string>* header_values) {
  absl::StatusOr<std::string> encoded =
      sealer.Open(d.custom_headers_sealed,
                  security::SubscriptionFieldAad(
                      d.subscription_id, security::kCustomHeadersField));
  if (!encoded.ok()) return encoded.status();
  absl::StatusOr<domain::HeaderMap> custom = domain::DecodeHeaders(*encoded);
  if (!custom.ok()) return custom.status();
  std::vector<std::string> secrets;
  absl::StatusOr<std::string> secret =
      sealer.Open(d.signing_secret_sealed,
                  security::SubscriptionFieldAad(
                      d.subscription_id, security::kSigningSecretField));
  if (!secret.ok()) return secret.status();
  secrets.push_back(*std::move(secret));
  if (!d.previous_signing_secret_sealed.empty()) {
    absl::StatusOr<std::string> previous = sealer.Open(
        d.previous_signing_secret_sealed,
        security::SubscriptionFieldAad(d.subscription_id,
                                       security::kPreviousSigningSecretField));
    if (!previous.ok()) return previous.status();
    secrets.push_back(*std::move(previous));
  }
  const int64_t timestamp = absl::ToUnixSeconds(now);
  // A delivery without a body would be a store bug; sign and send "" rather
  // than dereference null.
  static const std::string kEmpty;
  const std::string& body = d.body != nullptr ? *d.body : kEmpty;
  absl::StatusOr<std::string> signature =
      delivery::SignatureHeader(secrets, d.event_id, timestamp, body);
  if (!signature.ok()) return signature.status();

  delivery::HttpRequest request;
  request.id = static_cast<uint64_t>(d.id);
  request.url = d.target_url;
  request.body =
      d.body != nullptr ? d.body : std::make_shared<const std::string>();
  request.headers.reserve(6 + custom->size());
  request.headers.emplace_back("Content-Type: application/json");
  request.headers.push_back(absl::StrCat("webhook-id: ", d.event_id));
  request.headers.push_back(absl::StrCat("webhook-timestamp: ", timestamp));
  request.headers.push_back(absl::StrCat("webhook-signature: ", *signature));
  request.headers.push_back(absl::StrCat("webhook-event: ", d.event_type));
  request.headers.push_back(absl::StrCat("webhook-attempt: ", d.attempt));
  for (const auto& [name, value] : *custom) {
    if (header_values != nullptr) header_values->push_back(value);
    // curl drops a "Name: " line with no value; "Name;" sends it empty.
    request.headers.push_back(value.empty() ? absl::StrCat(name, ";")
                                            : absl::StrCat(name, ": ", value));
  }
  return request;
}

}  // namespace webhooks::dispatch
