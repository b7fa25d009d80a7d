#include "lib/domain/custom_headers.h"

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace webhooks::domain {
namespace {

constexpr absl::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026
constexpr std::size_t kMinRevealingValueBytes = 21;
constexpr std::size_t kMaxRevealBytes = 9;
constexpr std::size_t kMaxPrefixBytes = 4;

bool IsUtf8ContinuationByte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

std::string EncodeHeaders(const HeaderMap& headers) {
  std::string encoded;
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&encoded, name, absl::string_view("\0", 1), value,
                    absl::string_view("\0", 1));
  }
  return encoded;
}

absl::StatusOr<HeaderMap> DecodeHeaders(absl::string_view encoded) {
  // Messages never quote the input: it holds secret values.
  HeaderMap headers;
  while (!encoded.empty()) {
    const std::size_t name_end = encoded.find('\0');
    if (name_end == absl::string_view::npos) {
      return absl::DataLossError("custom headers: a name has no terminator");
    }
    const std::size_t value_end = encoded.find('\0', name_end + 1);
    if (value_end == absl::string_view::npos) {
      return absl::DataLossError("custom headers: a value has no terminator");
    }
    std::string name(encoded.substr(0, name_end));
    std::string value(encoded.substr(name_end + 1, value_end - name_end - 1));
    // EncodeHeaders writes each name of a map once; a repeat means the bytes
    // are not what it wrote.
    if (!headers.emplace(std::move(name), std::move(value)).second) {
      return absl::DataLossError("custom headers: a name appears twice");
    }
    encoded.remove_prefix(value_end + 1);
  }
  return headers;
}

std::string MaskSecret(absl::string_view value) {
  if (value.size() < kMinRevealingValueBytes) return std::string(kEllipsis);
  // The third cap only bites for 21-26 bytes, where 4 + 5 would show too much
  // of a short secret; the 4:5 split is kept as nearly as possible.
  const std::size_t budget = std::min(kMaxRevealBytes, value.size() / 3);
  std::size_t prefix_end = budget * kMaxPrefixBytes / kMaxRevealBytes;
  std::size_t suffix_begin = value.size() - (budget - prefix_end);
  // Cuts move inward to a character boundary, so they reveal less, never more,
  // and never produce half a UTF-8 character.
  while (prefix_end > 0 && IsUtf8ContinuationByte(value[prefix_end])) {
    --prefix_end;
  }
  while (suffix_begin < value.size() &&
         IsUtf8ContinuationByte(value[suffix_begin])) {
    ++suffix_begin;
  }
  return absl::StrCat(value.substr(0, prefix_end), kEllipsis,
                      value.substr(suffix_begin));
}

HeaderMap MaskHeaders(const HeaderMap& headers) {
  HeaderMap masked;
  for (const auto& [name, value] : headers) {
    masked.emplace(name, MaskSecret(value));
  }
  return masked;
}

std::string RedactValues(absl::string_view text,
                         absl::Span<const std::string> values) {
  constexpr absl::string_view kRedacted = "[redacted]";
  std::vector<const std::string*> sorted;
  for (const std::string& v : values) {
    if (v.size() >= kMinRedactedBytes) sorted.push_back(&v);
  }
  // Longest first: a value containing another is replaced whole.
  std::sort(sorted.begin(), sorted.end(),
            [](const std::string* a, const std::string* b) {
              return a->size() > b->size();
            });
  std::string out(text);
  for (const std::string* v : sorted) {
    std::string replaced;
    std::size_t from = 0;
    for (std::size_t at = out.find(*v); at != std::string::npos;
         at = out.find(*v, from)) {
      replaced.append(out, from, at - from);
      replaced.append(kRedacted.data(), kRedacted.size());
      from = at + v->size();
    }
    replaced.append(out, from, std::string::npos);
    out = std::move(replaced);
  }
  // The excerpt may end inside a value: cut its beginning too.
  for (const std::string* v : sorted) {
    for (std::size_t n = std::min(v->size() - 1, out.size());
         n >= kMinRedactedBytes; --n) {
      if (absl::EndsWith(out, absl::string_view(*v).substr(0, n))) {
        out.replace(out.size() - n, n, kRedacted.data(), kRedacted.size());
        break;
      }
    }
  }
  return out;
}

}  // namespace webhooks::domain
