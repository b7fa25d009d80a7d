#include "lib/security/api_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/common/env.h"

namespace webhooks::security {
namespace {

constexpr std::size_t kDigestSize = 32;
constexpr std::size_t kMinTokenSize = 16;
constexpr absl::string_view kAllTenants = "*";

bool Sha256(absl::string_view data, unsigned char (&digest)[kDigestSize]) {
  unsigned int size = 0;
  return EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(),
                    nullptr) == 1 &&
         size == kDigestSize;
}

// Messages carry the line number only, never a field: a token pasted into the
// wrong column must not end up in a log.
absl::Status LineError(int line_number, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("API tokens line ", line_number, ": ", problem));
}

}  // namespace

bool ApiPrincipal::AllowsTenant(absl::string_view tenant_id) const {
  if (tenant_id.empty()) return false;
  if (all_tenants) return true;
  return std::find(tenants.begin(), tenants.end(), tenant_id) != tenants.end();
}

absl::StatusOr<ApiTokens> ApiTokens::Parse(absl::string_view text) {
  ApiTokens tokens;
  std::map<std::string, int> line_of_name;
  std::map<std::string, int> line_of_digest;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;

    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\f\v"), absl::SkipEmpty());
    if (fields.size() != 3) {
      return LineError(line_number,
                       absl::StrCat("expected 3 whitespace-separated fields "
                                    "<name> <token> <tenants>, got ",
                                    fields.size()));
    }
    const absl::string_view name = fields[0];
    const absl::string_view token = fields[1];
    const absl::string_view tenants = fields[2];

    if (auto it = line_of_name.find(std::string(name));
        it != line_of_name.end()) {
      return LineError(
          line_number,
          absl::StrCat("duplicate name (first on line ", it->second, ")"));
    }
    if (token.size() < kMinTokenSize) {
      return LineError(line_number, absl::StrCat("token must be at least ",
                                                 kMinTokenSize, " bytes"));
    }
    unsigned char digest[kDigestSize];
    if (!Sha256(token, digest)) {
      return absl::InternalError("SHA-256 of an API token failed");
    }
    Entry entry;
    entry.digest.assign(reinterpret_cast<const char*>(digest), kDigestSize);
    if (auto it = line_of_digest.find(entry.digest);
        it != line_of_digest.end()) {
      return LineError(
          line_number,
          absl::StrCat("duplicate token (first on line ", it->second, ")"));
    }

    entry.principal.name = std::string(name);
    if (tenants == kAllTenants) {
      entry.principal.all_tenants = true;
    } else {
      for (absl::string_view tenant : absl::StrSplit(tenants, ',')) {
        if (tenant.empty()) {
          return LineError(line_number, "empty tenant id in the tenant list");
        }
        if (tenant == kAllTenants) {
          return LineError(line_number,
                           "'*' must stand alone, not in a tenant list");
        }
        const std::vector<std::string>& seen = entry.principal.tenants;
        if (std::find(seen.begin(), seen.end(), tenant) != seen.end()) {
          return LineError(line_number,
                           "duplicate tenant id in the tenant list");
        }
        entry.principal.tenants.emplace_back(tenant);
      }
    }

    line_of_name.emplace(entry.principal.name, line_number);
    line_of_digest.emplace(entry.digest, line_number);
    tokens.entries_.push_back(std::move(entry));
  }
  return tokens;
}

absl::StatusOr<ApiTokens> ApiTokens::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = common::ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<ApiTokens> tokens = Parse(*text);
  OPENSSL_cleanse(text->data(), text->size());
  if (!tokens.ok()) {
    return absl::Status(tokens.status().code(),
                        absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

const ApiPrincipal* ApiTokens::Authenticate(absl::string_view token) const {
  unsigned char digest[kDigestSize];
  if (!Sha256(token, digest)) return nullptr;
  // Every entry is compared, and the result selected without branching on it,
  // so the time taken does not depend on which entry (if any) matches.
  const ApiPrincipal* found = nullptr;
  for (const Entry& entry : entries_) {
    const bool match =
        CRYPTO_memcmp(entry.digest.data(), digest, kDigestSize) == 0;
    found = match ? &entry.principal : found;
  }
  OPENSSL_cleanse(digest, kDigestSize);
  return found;
}

}  // namespace webhooks::security
