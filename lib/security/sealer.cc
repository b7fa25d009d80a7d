#include "lib/security/sealer.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/common/env.h"
#include "lib/common/log.h"

namespace webhooks::security {
namespace {

constexpr std::size_t kKeySize = 32;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;
constexpr std::size_t kMaxKeyIdSize = 32;
constexpr char kDefaultKeyId[] = "k1";

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

void Cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

void CleanseKeys(std::map<std::string, std::string>& keys) {
  for (auto& [id, key] : keys) Cleanse(key);
}

unsigned char* Bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}
const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool IsValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxKeyIdSize) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// Accepts only the canonical padded form that absl::Base64Escape produces, so
// every value has exactly one spelling (absl's decoder alone also tolerates
// missing padding, whitespace and non-zero trailing bits).
bool Base64DecodeStrict(absl::string_view in, std::string* out) {
  if (!absl::Base64Unescape(in, out)) return false;
  std::string again = absl::Base64Escape(*out);
  const bool canonical = again == in;
  Cleanse(again);
  if (!canonical) {
    Cleanse(*out);
    out->clear();
  }
  return canonical;
}

// The message names what was expected, never the input, which may be a key.
absl::StatusOr<std::string> DecodeKey(absl::string_view base64,
                                      absl::string_view what) {
  std::string key;
  if (!Base64DecodeStrict(base64, &key)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": key is not valid standard base64 (with padding)"));
  }
  if (key.size() != kKeySize) {
    const std::size_t size = key.size();
    Cleanse(key);
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": key must decode to ", kKeySize, " bytes, got ", size));
  }
  return key;
}

absl::Status CheckFitsInt(absl::string_view data, absl::string_view what) {
  if (data.size() > static_cast<std::size_t>(INT_MAX) - kNonceSize - kTagSize) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  }
  return absl::OkStatus();
}

absl::Status OpenSslError(absl::string_view step) {
  return absl::InternalError(
      absl::StrCat("OpenSSL AES-256-GCM ", step, " failed"));
}

}  // namespace

absl::StatusOr<Sealer> Sealer::Create(std::string primary_key_id,
                                      std::map<std::string, std::string> keys) {
  absl::Status error;
  if (keys.empty()) {
    error = absl::InvalidArgumentError("sealing key ring is empty");
  }
  for (auto it = keys.begin(); error.ok() && it != keys.end(); ++it) {
    if (!IsValidKeyId(it->first)) {
      error = absl::InvalidArgumentError(
          "sealing key id must be 1-32 characters from [A-Za-z0-9_-]");
    } else if (it->second.size() != kKeySize) {
      error = absl::InvalidArgumentError(
          absl::StrCat("sealing key '", it->first, "' must be ", kKeySize,
                       " bytes, got ", it->second.size()));
    }
  }
  if (error.ok() && keys.find(primary_key_id) == keys.end()) {
    error = IsValidKeyId(primary_key_id)
                ? absl::InvalidArgumentError(
                      absl::StrCat("primary sealing key id '", primary_key_id,
                                   "' is not in the key ring"))
                : absl::InvalidArgumentError(
                      "primary sealing key id must be 1-32 characters from "
                      "[A-Za-z0-9_-]");
  }
  if (!error.ok()) {
    CleanseKeys(keys);
    return error;
  }
  return Sealer(std::move(primary_key_id), std::move(keys));
}

absl::StatusOr<Sealer> Sealer::FromSpec(absl::string_view spec) {
  spec = absl::StripAsciiWhitespace(spec);
  if (spec.empty()) {
    return absl::InvalidArgumentError("sealing key spec is empty");
  }
  std::map<std::string, std::string> keys;
  // Neither key ids nor standard base64 contain ':', so its absence marks the
  // single-key form.
  if (spec.find(':') == absl::string_view::npos) {
    absl::StatusOr<std::string> key = DecodeKey(spec, "sealing key spec");
    if (!key.ok()) return key.status();
    keys.emplace(kDefaultKeyId, *std::move(key));
    return Create(kDefaultKeyId, std::move(keys));
  }

  std::string primary_key_id;
  int entry_number = 0;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    ++entry_number;
    const std::string where =
        absl::StrCat("sealing key spec entry ", entry_number);
    entry = absl::StripAsciiWhitespace(entry);
    const std::size_t colon = entry.find(':');
    absl::Status error;
    if (colon == absl::string_view::npos) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": expected <key_id>:<base64 key>"));
    } else if (const absl::string_view id = entry.substr(0, colon);
               !IsValidKeyId(id)) {
      error = absl::InvalidArgumentError(absl::StrCat(
          where, ": key id must be 1-32 characters from [A-Za-z0-9_-]"));
    } else if (keys.count(std::string(id)) != 0) {
      error = absl::InvalidArgumentError(
          absl::StrCat(where, ": duplicate key id '", id, "'"));
    } else {
      absl::StatusOr<std::string> key = DecodeKey(
          entry.substr(colon + 1), absl::StrCat(where, " (key id '", id, "')"));
      if (key.ok()) {
        if (keys.empty()) primary_key_id = std::string(id);
        keys.emplace(std::string(id), *std::move(key));
      } else {
        error = key.status();
      }
    }
    if (!error.ok()) {
      CleanseKeys(keys);
      return error;
    }
  }
  return Create(std::move(primary_key_id), std::move(keys));
}

absl::StatusOr<std::string> Sealer::Seal(
    absl::string_view plaintext, absl::string_view associated_data) const {
  if (absl::Status s = CheckFitsInt(plaintext, "plaintext"); !s.ok()) return s;
  if (absl::Status s = CheckFitsInt(associated_data, "associated data");
      !s.ok()) {
    return s;
  }
  const auto primary = keys_.find(primary_key_id_);
  if (primary == keys_.end()) {
    // Only a moved-from Sealer gets here: Create() checks the primary.
    return absl::FailedPreconditionError("sealer has no primary key");
  }
  const std::string& key = primary->second;

  // payload = nonce || ciphertext || tag; GCM ciphertext is as long as the
  // plaintext.
  std::string payload(kNonceSize + plaintext.size() + kTagSize, '\0');
  unsigned char* nonce = Bytes(payload);
  unsigned char* ciphertext = nonce + kNonceSize;
  unsigned char* tag = ciphertext + plaintext.size();
  if (RAND_bytes(nonce, static_cast<int>(kNonceSize)) != 1) {
    return absl::InternalError("RAND_bytes failed to produce a nonce");
  }

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("context allocation");
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(kNonceSize), nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), nonce) != 1) {
    return OpenSslError("encryption setup");
  }
  int len = 0;
  if (!associated_data.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError("associated data");
  }
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ciphertext, &len, Bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return OpenSslError("encryption");
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &len) != 1) {
    return OpenSslError("encryption");
  }
  written += len;
  if (static_cast<std::size_t>(written) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                          static_cast<int>(kTagSize), tag) != 1) {
    return OpenSslError("tag");
  }
  return absl::StrCat(primary_key_id_, ":", absl::Base64Escape(payload));
}

absl::StatusOr<std::string> Sealer::Open(
    absl::string_view sealed, absl::string_view associated_data) const {
  if (absl::Status s = CheckFitsInt(associated_data, "associated data");
      !s.ok()) {
    return s;
  }
  const std::size_t colon = sealed.find(':');
  if (colon == absl::string_view::npos) {
    return absl::DataLossError("sealed value has no key id");
  }
  const absl::string_view key_id = sealed.substr(0, colon);
  if (!IsValidKeyId(key_id)) {
    return absl::DataLossError("sealed value has a malformed key id");
  }
  const auto it = keys_.find(std::string(key_id));
  if (it == keys_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sealed value uses key id '", key_id, "', which is not in the ring"));
  }
  const std::string& key = it->second;

  std::string payload;
  if (!Base64DecodeStrict(sealed.substr(colon + 1), &payload)) {
    return absl::DataLossError("sealed value is not valid base64");
  }
  if (payload.size() < kNonceSize + kTagSize ||
      payload.size() > static_cast<std::size_t>(INT_MAX)) {
    return absl::DataLossError("sealed value has the wrong length");
  }
  const std::size_t ciphertext_size = payload.size() - kNonceSize - kTagSize;
  unsigned char* nonce = Bytes(payload);
  unsigned char* ciphertext = nonce + kNonceSize;
  unsigned char* tag = ciphertext + ciphertext_size;

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("context allocation");
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(kNonceSize), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key), nonce) != 1) {
    return OpenSslError("decryption setup");
  }
  int len = 0;
  if (!associated_data.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(associated_data),
                        static_cast<int>(associated_data.size())) != 1) {
    return OpenSslError("associated data");
  }
  std::string plaintext(ciphertext_size, '\0');
  int written = 0;
  if (ciphertext_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), Bytes(plaintext), &len, ciphertext,
                          static_cast<int>(ciphertext_size)) != 1) {
      Cleanse(plaintext);
      return OpenSslError("decryption");
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                          static_cast<int>(kTagSize), tag) != 1) {
    Cleanse(plaintext);
    return OpenSslError("tag");
  }
  // Until the tag verifies, `plaintext` is unauthenticated: wipe, don't return.
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(plaintext) + written, &len) != 1 ||
      static_cast<std::size_t>(written) + static_cast<std::size_t>(len) !=
          ciphertext_size) {
    Cleanse(plaintext);
    return absl::DataLossError(
        "sealed value failed authentication (tampered, wrong key or other "
        "associated data)");
  }
  return plaintext;
}

std::string NewSealingKeySpec() {
  std::string key(kKeySize, '\0');
  if (RAND_bytes(Bytes(key), static_cast<int>(kKeySize)) != 1) {
    // No key without a working CSPRNG, and nothing a caller could do about it.
    common::LogError("RAND_bytes failed: cannot generate a sealing key");
    std::abort();
  }
  std::string spec = absl::Base64Escape(key);
  Cleanse(key);
  return spec;
}

absl::StatusOr<Sealer> SealerFromEnvironment() {
  absl::StatusOr<std::string> spec = common::SecretFromEnvOrFile(
      "WEBHOOKS_SEALING_KEY", "WEBHOOKS_SEALING_KEY_FILE");
  if (!spec.ok()) return spec.status();
  return Sealer::FromSpec(*spec);
}

}  // namespace webhooks::security
