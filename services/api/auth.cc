#include "services/api/auth.h"

#include "absl/strings/match.h"
#include "lib/domain/validation.h"

namespace webhooks::api {

absl::Status Authorize(const security::ApiTokens& tokens,
                       absl::string_view authorization,
                       absl::string_view tenant_id) {
  constexpr absl::string_view kScheme = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "missing authorization metadata: send 'Bearer <token>'");
  }
  if (!absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return absl::UnauthenticatedError("authorization must be 'Bearer <token>'");
  }
  const security::ApiPrincipal* principal =
      tokens.Authenticate(authorization.substr(kScheme.size()));
  if (principal == nullptr)
    return absl::UnauthenticatedError("unknown API token");
  if (absl::Status s = domain::ValidateTenantId(tenant_id); !s.ok()) return s;
  if (!principal->AllowsTenant(tenant_id)) {
    return absl::PermissionDeniedError(
        "this API token may not act for the tenant");
  }
  return absl::OkStatus();
}

absl::Status Authorize(const security::ApiTokens& tokens,
                       const grpc::ServerContext& context,
                       absl::string_view tenant_id) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end())
    value = absl::string_view(it->second.data(), it->second.size());
  return Authorize(tokens, value, tenant_id);
}

}  // namespace webhooks::api
