#include "lib/security/signing_secret.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstddef>
#include <cstdlib>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/common/log.h"

namespace webhooks::security {
namespace {

constexpr std::size_t kSecretBytes = 32;
// Standard base64 of 32 bytes: 43 characters and one '=' of padding.
constexpr std::size_t kEncodedSize = 44;

}  // namespace

std::string NewSigningSecret() {
  std::string raw(kSecretBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()),
                 static_cast<int>(raw.size())) != 1) {
    // No secret without a working CSPRNG, and nothing a caller could do.
    common::LogError("RAND_bytes failed: cannot generate a signing secret");
    std::abort();
  }
  std::string secret =
      absl::StrCat(kSigningSecretPrefix, absl::Base64Escape(raw));
  OPENSSL_cleanse(raw.data(), raw.size());
  return secret;
}

bool IsWellFormedSigningSecret(absl::string_view secret) {
  if (!absl::ConsumePrefix(&secret, kSigningSecretPrefix) ||
      secret.size() != kEncodedSize) {
    return false;
  }
  std::string raw;
  if (!absl::Base64Unescape(secret, &raw)) return false;
  // Re-encoding must give the input back: absl's decoder alone also accepts
  // whitespace, missing padding and non-zero trailing bits.
  std::string again = absl::Base64Escape(raw);
  const bool well_formed = raw.size() == kSecretBytes && again == secret;
  if (!raw.empty()) OPENSSL_cleanse(raw.data(), raw.size());
  if (!again.empty()) OPENSSL_cleanse(again.data(), again.size());
  return well_formed;
}

}  // namespace webhooks::security
