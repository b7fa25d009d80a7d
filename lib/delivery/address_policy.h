// The SSRF guard: which IP addresses deliveries may connect to.
//
// Refused unless allowed by configuration: loopback, private (RFC 1918),
// link-local (169.254/16, including 169.254.169.254), CGNAT (100.64/10),
// "this network" (0/8), multicast, reserved (240/4), broadcast, benchmarking
// (198.18/15), documentation ranges, IETF protocol assignments (192.0.0/24),
// and for IPv6: unspecified, loopback, ULA (fc00::/7), link-local
// (fe80::/10), site-local (fec0::/10), multicast (ff00::/8), documentation
// (2001:db8::/32, 3fff::/20), discard (100::/64), IETF protocol assignments
// (2001::/23: Teredo, benchmarking, ORCHID) and everything else outside the
// global unicast 2000::/3 (unassigned space, NAT64 local-use 64:ff9b:1::/48);
// IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96)
// and 6to4 (2002::/16) forms are judged by the IPv4 address they embed,
// allow list included.
#ifndef WEBHOOKS_LIB_DELIVERY_ADDRESS_POLICY_H_
#define WEBHOOKS_LIB_DELIVERY_ADDRESS_POLICY_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace webhooks::delivery {

class AddressPolicy {
 public:
  // `allow_cidrs`: comma-separated CIDRs (IPv4 or IPv6, e.g.
  // "127.0.0.0/8,10.1.0.0/16,::1/128") that are allowed although refused by
  // the rules above; "" allows none. Whitespace around entries is ignored.
  // Strict, because this list switches the guard off: every entry needs a
  // "/length" without leading zeros, and no bits may be set after the prefix
  // ("10.1.2.3/8" is refused, not widened). INVALID_ARGUMENT naming the bad
  // entry, or for an empty entry (",,").
  static absl::StatusOr<AddressPolicy> Create(absl::string_view allow_cidrs);

  // Thread-safe. False for anything that is not AF_INET or AF_INET6.
  bool Allows(const sockaddr* address) const;
  // The same for a textual address ("10.0.0.1", "::ffff:127.0.0.1"); false
  // when it does not parse.
  bool AllowsText(absl::string_view ip) const;

 private:
  struct Cidr {
    std::array<uint8_t, 16> prefix;  // IPv4 stored as IPv4-mapped IPv6
    int bits;                        // of the 128
  };
  bool AllowsV6(const std::array<uint8_t, 16>& address) const;

  std::vector<Cidr> allowed_;
};

}  // namespace webhooks::delivery

#endif  // WEBHOOKS_LIB_DELIVERY_ADDRESS_POLICY_H_
