// API bearer tokens and the tenants each may act for.
//
// File format (WEBHOOKS_API_TOKENS_FILE), one token per line:
//   <name> <token> <tenants>
// where <tenants> is "*" (every tenant) or a comma-separated list of tenant
// ids. Fields are separated by spaces or tabs, so a tenant list has no spaces.
// Blank lines and lines whose first non-blank character is '#' are ignored.
// Names and tokens are unique; tokens are at least 16 bytes. Only SHA-256
// digests of the tokens are kept in memory.
#ifndef WEBHOOKS_LIB_SECURITY_API_TOKENS_H_
#define WEBHOOKS_LIB_SECURITY_API_TOKENS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace webhooks::security {

struct ApiPrincipal {
  std::string name;
  bool all_tenants = false;
  std::vector<std::string> tenants;

  // True when `tenant_id` is non-empty and either all_tenants is set or it is
  // one of `tenants` (exact match).
  bool AllowsTenant(absl::string_view tenant_id) const;
};

class ApiTokens {
 public:
  // INVALID_ARGUMENT naming the line number (never the token, nor any other
  // field) when malformed: not three fields, a token shorter than 16 bytes, a
  // duplicate name or token, an empty or duplicate tenant id, or "*" inside a
  // list. An empty file gives an empty set; callers decide if that is allowed.
  static absl::StatusOr<ApiTokens> Parse(absl::string_view text);
  // Parse() of the file's contents, with the path prefixed to its errors; or
  // the NOT_FOUND / PERMISSION_DENIED / INTERNAL of common::ReadFile.
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
