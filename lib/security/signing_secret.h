// Standard Webhooks signing secrets: "whsec_" + base64 of 32 random bytes.
#ifndef WEBHOOKS_LIB_SECURITY_SIGNING_SECRET_H_
#define WEBHOOKS_LIB_SECURITY_SIGNING_SECRET_H_

#include <string>

#include "absl/strings/string_view.h"

namespace webhooks::security {

inline constexpr absl::string_view kSigningSecretPrefix = "whsec_";

// From a cryptographically secure source (OpenSSL RAND_bytes). Thread-safe.
// Aborts if the system CSPRNG fails.
std::string NewSigningSecret();

// True for "whsec_" followed by standard base64 of exactly 32 bytes, in the
// canonical form NewSigningSecret produces (44 characters ending in '=').
bool IsWellFormedSigningSecret(absl::string_view secret);

}  // namespace webhooks::security

#endif  // WEBHOOKS_LIB_SECURITY_SIGNING_SECRET_H_
