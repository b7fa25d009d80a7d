// Custom headers as a value: the byte encoding that gets sealed at rest, and
// the masked form that read APIs show.
#ifndef WEBHOOKS_LIB_DOMAIN_CUSTOM_HEADERS_H_
#define WEBHOOKS_LIB_DOMAIN_CUSTOM_HEADERS_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace webhooks::domain {

using HeaderMap = std::map<std::string, std::string>;

// A lossless encoding of validated headers (names and values hold no NUL):
// "name\0value\0name\0value\0". The empty map encodes as "".
std::string EncodeHeaders(const HeaderMap& headers);
// Inverse of EncodeHeaders. DATA_LOSS when malformed.
absl::StatusOr<HeaderMap> DecodeHeaders(absl::string_view encoded);

// The masked form of a secret header value: its first 4 and last 5 bytes
// around "…" (U+2026), e.g. "Bearer abcdefghijklmnopqrstuvwxyz-key" ->
// "Bear…z-key". Never reveals more than 9 bytes, nor more than a third of the
// value, so 21-23 byte values show 3 + 4 bytes, 24-26 byte values 3 + 5, and
// values under 21 bytes reveal nothing and become "…". A cut that would split
// a UTF-8 character moves inward to the character boundary, revealing fewer
// bytes.
std::string MaskSecret(absl::string_view value);

// Every value masked with MaskSecret.
HeaderMap MaskHeaders(const HeaderMap& headers);

// Values shorter than this are not redacted: they would match ordinary text.
inline constexpr std::size_t kMinRedactedBytes = 4;

// `text` (a receiver's response excerpt, stored in plaintext) with every
// occurrence of one of `values` (the subscription's custom header values,
// which a receiver may echo back) replaced by "[redacted]", longest value
// first; and, where `text` ends inside one (an excerpt is cut), that value's
// beginning, when at least kMinRedactedBytes long, at its end. Values under
// kMinRedactedBytes are left alone.
std::string RedactValues(absl::string_view text,
                         absl::Span<const std::string> values);

}  // namespace webhooks::domain

#endif  // WEBHOOKS_LIB_DOMAIN_CUSTOM_HEADERS_H_
