#include "lib/delivery/signer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "lib/common/status_macros.h"

namespace webhooks::delivery {
namespace {

constexpr absl::string_view kSecretPrefix = "whsec_";

// Wipes the decoded key when it goes out of scope, so it does not linger in
// freed heap memory.
class KeyBytes {
 public:
  KeyBytes() = default;
  KeyBytes(const KeyBytes&) = delete;
  KeyBytes& operator=(const KeyBytes&) = delete;
  ~KeyBytes() {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  }
  std::string* mutable_bytes() { return &bytes_; }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Standard base64, padded or not: Standard Webhooks secrets are written both
// ways. absl::Base64Unescape alone would also skip whitespace, and a secret
// pasted with a stray space or newline should be refused rather than sign
// with a key the subscriber may not have.
bool IsStandardBase64(absl::string_view text) {
  const std::size_t data_size = text.find_first_not_of(
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  if (data_size == absl::string_view::npos) return text.size() % 4 != 1;
  const absl::string_view padding = text.substr(data_size);
  return data_size % 4 != 1 && padding.size() <= 2 &&
         padding.find_first_not_of('=') == absl::string_view::npos &&
         text.size() % 4 == 0;
}

// Messages name what is wrong, never the secret.
absl::Status DecodeKey(absl::string_view secret, KeyBytes& key) {
  if (!absl::ConsumePrefix(&secret, kSecretPrefix)) {
    return absl::InvalidArgumentError(
        "signing secret does not start with \"whsec_\"");
  }
  if (secret.empty() || !IsStandardBase64(secret) ||
      !absl::Base64Unescape(secret, key.mutable_bytes()) ||
      key.bytes().empty()) {
    return absl::InvalidArgumentError(
        "signing secret is not \"whsec_\" followed by base64");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Sign(absl::string_view secret,
                                 absl::string_view webhook_id,
                                 int64_t timestamp, absl::string_view body) {
  KeyBytes key;
  WEBHOOKS_RETURN_IF_ERROR(DecodeKey(secret, key));
  const std::string message =
      absl::StrCat(webhook_id, ".", timestamp, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha256(), key.bytes().data(),
           static_cast<int>(key.bytes().size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), mac, &mac_size) == nullptr) {
    return absl::InternalError("HMAC-SHA256 failed in OpenSSL");
  }
  return absl::StrCat("v1,",
                      absl::Base64Escape(absl::string_view(
                          reinterpret_cast<const char*>(mac), mac_size)));
}

absl::StatusOr<std::string> SignatureHeader(
    absl::Span<const std::string> secrets, absl::string_view webhook_id,
    int64_t timestamp, absl::string_view body) {
  if (secrets.empty()) {
    return absl::InvalidArgumentError("no signing secret to sign with");
  }
  std::string header;
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    absl::StatusOr<std::string> signature =
        Sign(secrets[i], webhook_id, timestamp, body);
    if (!signature.ok()) {
      // Which one is bad matters during a rotation; its value must not show.
      return absl::Status(
          signature.status().code(),
          absl::StrCat("signing secret ", i + 1, " of ", secrets.size(), ": ",
                       signature.status().message()));
    }
    if (i > 0) header.push_back(' ');
    header.append(*signature);
  }
  return header;
}

}  // namespace webhooks::delivery
