// The Standard Webhooks signature computed independently of lib/delivery's
// signer (OpenSSL's HMAC directly), for tests that check what was sent.
#ifndef WEBHOOKS_TESTS_TESTING_EXPECTED_SIGNATURE_H_
#define WEBHOOKS_TESTS_TESTING_EXPECTED_SIGNATURE_H_

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "lib/security/signing_secret.h"

namespace webhooks::testing {

// "v1," + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), key being the
// base64-decoded part of `secret` after "whsec_". Fails the test (and returns
// a signature of an empty key) when the secret does not decode.
inline std::string ExpectedSignature(absl::string_view secret,
                                     absl::string_view id,
                                     absl::string_view timestamp,
                                     absl::string_view body) {
  std::string key;
  EXPECT_TRUE(absl::Base64Unescape(
      absl::StripPrefix(secret, security::kSigningSecretPrefix), &key));
  const std::string message = absl::StrCat(id, ".", timestamp, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  EXPECT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(message.data()),
                 message.size(), mac, &mac_length),
            nullptr);
  return absl::StrCat("v1,",
                      absl::Base64Escape(absl::string_view(
                          reinterpret_cast<const char*>(mac), mac_length)));
}

}  // namespace webhooks::testing

#endif  // WEBHOOKS_TESTS_TESTING_EXPECTED_SIGNATURE_H_
