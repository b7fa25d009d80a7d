// API bearer tokens and the tenants each may act for.
//
// File format (WEBHOOKS_API_TOKENS_FILE), one token per line:
//   <name> <token> <tenants>
// where <tenants> is "*" (every tenant) or a comma-separated list of tenant
// ids. Blank lines and lines starting with '#' are ignored. Names and tokens
// are unique; tokens are at least 16 bytes.
#ifndef WEBHOOKS_LIB_SECURITY_API_TOKENS_H_
#define WEBHOOKS_LIB_SECURITY_API_TOKENS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace webhooks::security {

struct ApiPrincipal {
  std::string name;
  bool all_tenants = false;
  std::vector<std::string> tenants;

  bool AllowsTenant(absl::string_view tenant_id) const;
};

class ApiTokens {
 public:
  // INVALID_ARGUMENT naming the line number (never the token) when malformed.
  static absl::StatusOr<ApiTokens> Parse(absl::string_view text);
  static absl::StatusOr<ApiTokens> LoadFile(const std::string& path);

  // The principal holding `token`, or nullptr. Compares against every known
  // token in constant time (SHA-256 digests compared with CRYPTO_memcmp), so
  // timing reveals neither which token matched nor how much of one did.
  // Thread-safe.
  const ApiPrincipal* Authenticate(absl::string_view token) const;

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string digest;  // SHA-256 of the token, 32 bytes
    ApiPrincipal principal;
  };
  std::vector<Entry> entries_;
};

}  // namespace webhooks::security

#endif  // WEBHOOKS_LIB_SECURITY_API_TOKENS_H_
