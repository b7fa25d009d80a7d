#include "lib/common/ids.h"

#include <cstdint>

#include "absl/random/distributions.h"

namespace webhooks::common {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kUlidLength = 26;

bool IsCrockford(char c) {
  for (const char* p = kCrockford; *p != '\0'; ++p) {
    if (*p == c) return true;
  }
  return false;
}

// 128 bits: 48 of milliseconds since the epoch, then 80 others (the top 16
// in rand_hi).
std::string Encode(absl::string_view prefix, absl::Time now, uint64_t rand_hi,
                   uint64_t rand_lo) {
  const int64_t ms = absl::ToUnixMillis(now);
  const uint64_t time_bits =
      static_cast<uint64_t>(ms < 0 ? 0 : ms) & ((uint64_t{1} << 48) - 1);
  const uint64_t hi = (time_bits << 16) | (rand_hi & 0xFFFF);  // top 64 bits
  const uint64_t lo = rand_lo;                                 // bottom 64 bits

  std::string out(prefix);
  out.resize(prefix.size() + kUlidLength);
  char* digits = out.data() + prefix.size();
  // 26 base32 digits carry 130 bits; the first digit holds only the top 3 bits.
  for (int i = kUlidLength - 1; i >= 0; --i) {
    const int bit =
        (kUlidLength - 1 - i) * 5;  // position of this digit's lowest bit
    uint64_t value;
    if (bit + 5 <= 64) {
      value = lo >> bit;
    } else if (bit >= 64) {
      value = hi >> (bit - 64);
    } else {
      value = (lo >> bit) | (hi << (64 - bit));
    }
    digits[i] = kCrockford[value & 0x1F];
  }
  return out;
}

}  // namespace

std::string NewId(absl::string_view prefix, absl::Time now,
                  absl::BitGenRef rng) {
  const uint64_t rand_hi = absl::Uniform<uint64_t>(rng);
  const uint64_t rand_lo = absl::Uniform<uint64_t>(rng);
  return Encode(prefix, now, rand_hi, rand_lo);
}

std::string FirstIdAt(absl::string_view prefix, absl::Time t) {
  return Encode(prefix, t, 0, 0);
}

bool IsWellFormedId(absl::string_view prefix, absl::string_view id) {
  if (id.size() != prefix.size() + kUlidLength ||
      id.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : id.substr(prefix.size())) {
    if (!IsCrockford(c)) return false;
  }
  // The first digit carries only 3 bits of a 128-bit value.
  return id[prefix.size()] <= '7';
}

}  // namespace webhooks::common
