// Bearer-token authentication and tenant authorisation of API calls.
#ifndef WEBHOOKS_SERVICES_API_AUTH_H_
#define WEBHOOKS_SERVICES_API_AUTH_H_

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/security/api_tokens.h"

namespace webhooks::api {

// Checks `authorization` (the metadata value) against `tokens` for
// `tenant_id`: UNAUTHENTICATED when missing, not "Bearer <token>", or unknown;
// INVALID_ARGUMENT when tenant_id is malformed; PERMISSION_DENIED when the
// token may not act for the tenant. In that order, so an unauthenticated
// caller learns nothing about tenants.
absl::Status Authorize(const security::ApiTokens& tokens,
                       absl::string_view authorization,
                       absl::string_view tenant_id);

// The same, reading the metadata from `context`.
absl::Status Authorize(const security::ApiTokens& tokens,
                       const grpc::ServerContext& context,
                       absl::string_view tenant_id);

}  // namespace webhooks::api

#endif  // WEBHOOKS_SERVICES_API_AUTH_H_
