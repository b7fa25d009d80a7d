// Sealing of secrets at rest with AES-256-GCM (OpenSSL EVP).
//
// A sealed value is text:
//   <key_id>:<base64(nonce[12] || ciphertext || tag[16])>
// in standard, padded base64. The key id beside each ciphertext lets the key
// be rotated: new values are sealed under the primary key, and values sealed
// under any key still in the ring open. Associated data binds a ciphertext to
// its place (for example "subscription/sub_01../custom_headers"), so it cannot
// be moved to another.
#ifndef WEBHOOKS_LIB_SECURITY_SEALER_H_
#define WEBHOOKS_LIB_SECURITY_SEALER_H_

#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace webhooks::security {

class Sealer {
 public:
  // `keys` maps key ids ([A-Za-z0-9_-]{1,32}) to 32-byte raw keys;
  // `primary_key_id` must be among them. INVALID_ARGUMENT otherwise; messages
  // never contain key material.
  static absl::StatusOr<Sealer> Create(std::string primary_key_id,
                                       std::map<std::string, std::string> keys);

  // Parses the WEBHOOKS_SEALING_KEY format: either one base64 32-byte key (key
  // id "k1"), or a comma-separated list "id:base64key,id:base64key" whose first
  // entry is the primary. Keys are standard base64 with padding; whitespace
  // around the spec and around each entry is ignored. INVALID_ARGUMENT naming
  // the entry number (and the key id, once it is valid), never the key.
  static absl::StatusOr<Sealer> FromSpec(absl::string_view spec);

  // Thread-safe. A fresh random nonce per call (OpenSSL RAND_bytes).
  // INVALID_ARGUMENT for inputs too large for OpenSSL's int lengths (~2 GiB);
  // INTERNAL if OpenSSL fails.
  absl::StatusOr<std::string> Seal(absl::string_view plaintext,
                                   absl::string_view associated_data) const;

  // Thread-safe. FAILED_PRECONDITION when the key id is not in the ring;
  // DATA_LOSS when the value is malformed (no colon, bad key id syntax,
  // non-canonical base64, shorter than nonce + tag) or fails authentication
  // (tampered, another key under the same id, or other associated data). The
  // key id is checked before the rest is decoded.
  absl::StatusOr<std::string> Open(absl::string_view sealed,
                                   absl::string_view associated_data) const;

  const std::string& primary_key_id() const { return primary_key_id_; }

 private:
  Sealer(std::string primary_key_id, std::map<std::string, std::string> keys)
      : primary_key_id_(std::move(primary_key_id)), keys_(std::move(keys)) {}

  std::string primary_key_id_;
  std::map<std::string, std::string> keys_;
};

// The ring of WEBHOOKS_SEALING_KEY, or of the file WEBHOOKS_SEALING_KEY_FILE
// names (FromSpec's format): how every binary gets its keys. Errors name the
// variable or the entry, never a key.
absl::StatusOr<Sealer> SealerFromEnvironment();

// A new random 32-byte key, base64: what an operator puts in
// WEBHOOKS_SEALING_KEY. Aborts if the system CSPRNG fails.
std::string NewSealingKeySpec();

}  // namespace webhooks::security

#endif  // WEBHOOKS_LIB_SECURITY_SEALER_H_
