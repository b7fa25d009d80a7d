#include "lib/delivery/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace webhooks::delivery {
namespace {

using Address = std::array<uint8_t, 16>;

struct V4Range {
  uint32_t network;
  int bits;
};

// The IPv4 ranges that are not public unicast destinations (from IANA's
// special-purpose registry, RFC 6890), plus multicast and class E.
constexpr V4Range kRefusedV4[] = {
    {0x00000000, 8},   // 0.0.0.0/8 "this network"
    {0x0A000000, 8},   // 10.0.0.0/8 private (RFC 1918)
    {0x64400000, 10},  // 100.64.0.0/10 CGNAT shared space (RFC 6598)
    {0x7F000000, 8},   // 127.0.0.0/8 loopback
    {0xA9FE0000, 16},  // 169.254.0.0/16 link-local, cloud metadata endpoints
    {0xAC100000, 12},  // 172.16.0.0/12 private (RFC 1918)
    {0xC0000000, 24},  // 192.0.0.0/24 IETF protocol assignments
    {0xC0000200, 24},  // 192.0.2.0/24 documentation (TEST-NET-1)
    {0xC0A80000, 16},  // 192.168.0.0/16 private (RFC 1918)
    {0xC6120000, 15},  // 198.18.0.0/15 benchmarking (RFC 2544)
    {0xC6336400, 24},  // 198.51.100.0/24 documentation (TEST-NET-2)
    {0xCB007100, 24},  // 203.0.113.0/24 documentation (TEST-NET-3)
    {0xE0000000, 4},   // 224.0.0.0/4 multicast
    {0xF0000000, 4},   // 240.0.0.0/4 reserved, with 255.255.255.255 broadcast
};

bool InV4Range(uint32_t address, const V4Range& range) {
  const uint32_t mask = range.bits == 0 ? 0 : ~uint32_t{0} << (32 - range.bits);
  return (address & mask) == range.network;
}

bool IsPublicV4(uint32_t address) {
  for (const V4Range& range : kRefusedV4) {
    if (InV4Range(address, range)) return false;
  }
  return true;
}

// True when the first `bits` bits of `address` and `prefix` agree.
bool MatchesPrefix(const Address& address, const Address& prefix, int bits) {
  const auto whole_bytes = static_cast<std::size_t>(bits / 8);
  if (std::memcmp(address.data(), prefix.data(), whole_bytes) != 0) {
    return false;
  }
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (address[whole_bytes] & mask) == (prefix[whole_bytes] & mask);
}

bool HasPrefix(const Address& address,
               std::initializer_list<uint8_t> leading_bytes) {
  std::size_t i = 0;
  for (uint8_t byte : leading_bytes) {
    if (address[i++] != byte) return false;
  }
  return true;
}

uint32_t ReadV4(const Address& address, std::size_t offset) {
  return uint32_t{address[offset]} << 24 | uint32_t{address[offset + 1]} << 16 |
         uint32_t{address[offset + 2]} << 8 | uint32_t{address[offset + 3]};
}

Address MappedV4(uint32_t v4) {
  Address mapped{};
  mapped[10] = 0xFF;
  mapped[11] = 0xFF;
  mapped[12] = static_cast<uint8_t>(v4 >> 24);
  mapped[13] = static_cast<uint8_t>(v4 >> 16);
  mapped[14] = static_cast<uint8_t>(v4 >> 8);
  mapped[15] = static_cast<uint8_t>(v4);
  return mapped;
}

// The IPv4 address an IPv6 form stands for, where the form is defined by an
// IPv4 address: mapped (::ffff:0:0/96), compatible (::/96), NAT64
// (64:ff9b::/96) and 6to4 (2002::/16). Such an address reaches whatever the
// IPv4 address would, so it is judged as that address.
std::optional<uint32_t> EmbeddedV4(const Address& address) {
  if (HasPrefix(address, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}) ||
      HasPrefix(address, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) ||
      HasPrefix(address, {0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0})) {
    return ReadV4(address, 12);
  }
  if (HasPrefix(address, {0x20, 0x02})) return ReadV4(address, 2);
  return std::nullopt;
}

bool IsPublicV6(const Address& address) {
  // Only 2000::/3 is allocated for global unicast. Refusing everything else
  // covers unspecified, loopback, discard (100::/64), ULA (fc00::/7),
  // link-local (fe80::/10), site-local (fec0::/10), multicast (ff00::/8),
  // NAT64 local-use (64:ff9b:1::/48) and space IANA has not assigned yet.
  if ((address[0] & 0xE0) != 0x20) return false;
  // 2001::/23 is the IPv6 twin of 192.0.0.0/24 (IETF protocol assignments:
  // Teredo, benchmarking, ORCHID); no customer endpoint lives there.
  if (address[0] == 0x20 && address[1] == 0x01 && address[2] <= 0x01) {
    return false;
  }
  // Documentation: 2001:db8::/32 and 3fff::/20 (RFC 9637).
  if (HasPrefix(address, {0x20, 0x01, 0x0D, 0xB8})) return false;
  if (address[0] == 0x3F && address[1] == 0xFF && (address[2] & 0xF0) == 0) {
    return false;
  }
  return true;
}

std::optional<Address> ParseAddress(absl::string_view text) {
  // inet_pton needs a NUL-terminated string.
  const std::string copy(text);
  if (copy.find(':') != std::string::npos) {
    in6_addr v6{};
    if (inet_pton(AF_INET6, copy.c_str(), &v6) != 1) return std::nullopt;
    Address address;
    std::memcpy(address.data(), v6.s6_addr, address.size());
    return address;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, copy.c_str(), &v4) != 1) return std::nullopt;
  return MappedV4(ntohl(v4.s_addr));
}

// `address` with every bit after the first `bits` cleared.
Address Masked(Address address, int bits) {
  for (std::size_t i = 0; i < address.size(); ++i) {
    const int kept = std::clamp(bits - static_cast<int>(i) * 8, 0, 8);
    address[i] &= static_cast<uint8_t>(0xFF00 >> kept);
  }
  return address;
}

// A prefix as the operator would write it; `bits` counts from the start of
// the IPv6 form, so IPv4 prefixes are 96 longer than written.
std::string FormatCidr(const Address& prefix, int bits, bool v4) {
  char text[INET6_ADDRSTRLEN] = {};
  if (v4) {
    inet_ntop(AF_INET, prefix.data() + 12, text, sizeof(text));
    return absl::StrCat(text, "/", bits - 96);
  }
  inet_ntop(AF_INET6, prefix.data(), text, sizeof(text));
  return absl::StrCat(text, "/", bits);
}

absl::Status BadEntry(absl::string_view entry, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("allowed CIDR \"", entry, "\" ", why));
}

}  // namespace

absl::StatusOr<AddressPolicy> AddressPolicy::Create(
    absl::string_view allow_cidrs) {
  AddressPolicy policy;
  if (absl::StripAsciiWhitespace(allow_cidrs).empty()) return policy;
  for (absl::string_view raw : absl::StrSplit(allow_cidrs, ',')) {
    const absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "allowed CIDRs \"", allow_cidrs, "\" contain an empty entry"));
    }
    const std::vector<absl::string_view> parts =
        absl::StrSplit(entry, absl::MaxSplits('/', 1));
    if (parts.size() != 2) {
      return BadEntry(entry, "has no /prefix-length");
    }
    const std::optional<Address> prefix = ParseAddress(parts[0]);
    if (!prefix.has_value()) {
      return BadEntry(entry, "does not start with an IPv4 or IPv6 address");
    }
    const bool v4 = parts[0].find(':') == absl::string_view::npos;
    const int max_bits = v4 ? 32 : 128;
    int bits = -1;
    // Digits only, and no leading zeros: "/08" or "/+8" is more likely a typo
    // than a prefix length.
    const absl::string_view length = parts[1];
    const bool canonical_number =
        !length.empty() && length.size() <= 3 &&
        (length == "0" || length[0] != '0') &&
        length.find_first_not_of("0123456789") == absl::string_view::npos;
    if (!canonical_number || !absl::SimpleAtoi(length, &bits) ||
        bits > max_bits) {
      return BadEntry(entry, absl::StrCat("does not end in a prefix length "
                                          "from 0 to ",
                                          max_bits));
    }
    if (v4) bits += 96;
    // Host bits must be zero: "10.1.2.3/8" usually means the prefix length
    // is wrong, and silently widening an allow list is the wrong guess.
    const Address masked = Masked(*prefix, bits);
    if (masked != *prefix) {
      return BadEntry(entry, absl::StrCat("has bits set after the prefix; "
                                          "did you mean ",
                                          FormatCidr(masked, bits, v4), "?"));
    }
    policy.allowed_.push_back(Cidr{*prefix, bits});
  }
  return policy;
}

bool AddressPolicy::Allows(const sockaddr* address) const {
  if (address == nullptr) return false;
  Address bytes{};
  switch (address->sa_family) {
    case AF_INET: {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
      return AllowsV6(MappedV4(ntohl(v4->sin_addr.s_addr)));
    }
    case AF_INET6: {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
      std::memcpy(bytes.data(), v6->sin6_addr.s6_addr, bytes.size());
      return AllowsV6(bytes);
    }
    default:
      return false;
  }
}

bool AddressPolicy::AllowsText(absl::string_view ip) const {
  const std::optional<Address> address = ParseAddress(ip);
  return address.has_value() && AllowsV6(*address);
}

bool AddressPolicy::AllowsV6(const std::array<uint8_t, 16>& address) const {
  const auto listed = [this](const Address& candidate) {
    for (const Cidr& cidr : allowed_) {
      if (MatchesPrefix(candidate, cidr.prefix, cidr.bits)) return true;
    }
    return false;
  };
  if (listed(address)) return true;
  if (const std::optional<uint32_t> v4 = EmbeddedV4(address); v4.has_value()) {
    // The allow list is consulted for the embedded address too, so that
    // allowing 10.1.0.0/16 also allows reaching it through NAT64.
    return IsPublicV4(*v4) || listed(MappedV4(*v4));
  }
  return IsPublicV6(address);
}

}  // namespace webhooks::delivery
