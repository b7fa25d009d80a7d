#include "lib/delivery/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::delivery {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

AddressPolicy PolicyAllowing(absl::string_view allow_cidrs) {
  absl::StatusOr<AddressPolicy> policy = AddressPolicy::Create(allow_cidrs);
  EXPECT_THAT(policy, IsOk());
  return policy.ok() ? *std::move(policy) : AddressPolicy();
}

void ExpectRefused(const AddressPolicy& policy,
                   std::initializer_list<absl::string_view> ips) {
  for (absl::string_view ip : ips) {
    EXPECT_FALSE(policy.AllowsText(ip)) << ip << " should be refused";
  }
}

void ExpectAllowed(const AddressPolicy& policy,
                   std::initializer_list<absl::string_view> ips) {
  for (absl::string_view ip : ips) {
    EXPECT_TRUE(policy.AllowsText(ip)) << ip << " should be allowed";
  }
}

sockaddr_in V4Sockaddr(const char* ip) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(443);
  EXPECT_EQ(inet_pton(AF_INET, ip, &address.sin_addr), 1) << ip;
  return address;
}

sockaddr_in6 V6Sockaddr(const char* ip) {
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(443);
  EXPECT_EQ(inet_pton(AF_INET6, ip, &address.sin6_addr), 1) << ip;
  return address;
}

template <typename T>
const sockaddr* AsSockaddr(const T& address) {
  return reinterpret_cast<const sockaddr*>(&address);
}

// Each refused IPv4 range: its first and last address, and the public
// addresses just outside it where there are some.
TEST(AddressPolicyTest, RefusesThisNetwork) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"0.0.0.0", "0.0.0.1", "0.255.255.255"});
  ExpectAllowed(policy, {"1.0.0.0"});
}

TEST(AddressPolicyTest, RefusesRfc1918Private) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"10.0.0.0", "10.0.0.1", "10.255.255.255", "172.16.0.0",
                         "172.20.1.1", "172.31.255.255", "192.168.0.0",
                         "192.168.1.1", "192.168.255.255"});
  ExpectAllowed(policy, {"9.255.255.255", "11.0.0.0", "172.15.255.255",
                         "172.32.0.0", "192.167.255.255", "192.169.0.0"});
}

TEST(AddressPolicyTest, RefusesCgnat) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"100.64.0.0", "100.100.100.200", "100.127.255.255"});
  ExpectAllowed(policy, {"100.63.255.255", "100.128.0.0"});
}

TEST(AddressPolicyTest, RefusesLoopback) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"127.0.0.0", "127.0.0.1", "127.255.255.255"});
  ExpectAllowed(policy, {"126.255.255.255", "128.0.0.0"});
}

TEST(AddressPolicyTest, RefusesLinkLocalIncludingCloudMetadata) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"169.254.0.0", "169.254.169.254", "169.254.255.255"});
  ExpectAllowed(policy, {"169.253.255.255", "169.255.0.0"});
}

TEST(AddressPolicyTest, RefusesIetfProtocolAssignments) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"192.0.0.0", "192.0.0.8", "192.0.0.255"});
  ExpectAllowed(policy, {"191.255.255.255", "192.0.1.0"});
}

TEST(AddressPolicyTest, RefusesDocumentationRanges) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"192.0.2.0", "192.0.2.255", "198.51.100.0",
                         "198.51.100.255", "203.0.113.0", "203.0.113.255"});
  ExpectAllowed(policy, {"192.0.1.255", "192.0.3.0", "198.51.99.255",
                         "198.51.101.0", "203.0.112.255", "203.0.114.0"});
}

TEST(AddressPolicyTest, RefusesBenchmarking) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {"198.18.0.0", "198.19.255.255"});
  ExpectAllowed(policy, {"198.17.255.255", "198.20.0.0"});
}

TEST(AddressPolicyTest, RefusesMulticastReservedAndBroadcast) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy,
                {"224.0.0.0", "224.0.0.251", "239.255.255.255", "240.0.0.0",
                 "250.1.2.3", "255.255.255.254", "255.255.255.255"});
  ExpectAllowed(policy, {"223.255.255.255"});
}

TEST(AddressPolicyTest, AllowsPublicIpv4) {
  ExpectAllowed(PolicyAllowing(""),
                {"8.8.8.8", "1.1.1.1", "93.184.216.34", "52.95.110.1"});
}

TEST(AddressPolicyTest, RefusesSpecialIpv6) {
  ExpectRefused(PolicyAllowing(""),
                {
                    "::",       // unspecified
                    "::1",      // loopback
                    "fc00::1",  // ULA
                    "fd12::1",  // ULA
                    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                    "fe80::1",           // link-local
                    "febf:ffff::1",      // link-local, last /10
                    "fec0::1",           // site-local
                    "ff02::1",           // multicast
                    "ff0e::fb",          // multicast, global scope
                    "100::1",            // discard
                    "2001:db8::1",       // documentation
                    "2001:db8:ffff::1",  // documentation
                    "3fff::1",           // documentation (RFC 9637)
                    "3fff:fff:ffff::1",  // documentation, last of /20
                    "2001::1",           // Teredo
                    "2001:2::1",         // benchmarking
                    "2001:1ff:ffff::1",  // last of 2001::/23
                    "64:ff9b:1::a00:1",  // NAT64 local use
                    "4000::1",           // outside 2000::/3
                    "1fff:ffff::1",      // outside 2000::/3
                });
}

TEST(AddressPolicyTest, AllowsPublicIpv6) {
  ExpectAllowed(PolicyAllowing(""), {
                                        "2606:4700::1",
                                        "2001:4860:4860::8888",
                                        "2a00:1450:4001:81d::200e",
                                        "2001:200::1",  // first after /23
                                        "2001:db7:ffff::1",
                                        "2001:db9::1",
                                        "3fff:1000::1",  // first after /20
                                        "2000::1",
                                        "3fff:ffff::1",
                                    });
}

TEST(AddressPolicyTest, JudgesIpv6FormsByTheIpv4AddressTheyEmbed) {
  const AddressPolicy policy = PolicyAllowing("");
  ExpectRefused(policy, {
                            "::ffff:127.0.0.1",        // mapped
                            "::ffff:10.0.0.1",         // mapped
                            "::ffff:169.254.169.254",  // mapped
                            "::ffff:0.0.0.0",          // mapped
                            "::127.0.0.1",             // compatible
                            "::10.0.0.1",              // compatible
                            "64:ff9b::a00:1",          // NAT64 of 10.0.0.1
                            "64:ff9b::7f00:1",         // NAT64 of 127.0.0.1
                            "64:ff9b::169.254.169.254",
                            "2002:0a00:0001::1",  // 6to4 of 10.0.0.1
                            "2002:7f00:1::1",     // 6to4 of 127.0.0.1
                            "2002:a9fe:a9fe::1",  // 6to4 of 169.254.169.254
                        });
  ExpectAllowed(policy, {
                            "::ffff:8.8.8.8",
                            "::8.8.8.8",
                            "64:ff9b::808:808",
                            "2002:0808:0808::1",
                        });
}

TEST(AddressPolicyTest, AllowsTextRefusesWhatDoesNotParse) {
  ExpectRefused(PolicyAllowing("::/0"), {
                                            "",
                                            "not an address",
                                            "example.com",
                                            " 8.8.8.8",
                                            "8.8.8.8 ",
                                            "8.8.8.8/32",
                                            "08.8.8.8",
                                            "8.8.8",
                                            "256.1.1.1",
                                            "[2606:4700::1]",
                                            "fe80::1%eth0",
                                            "2606:4700:::1",
                                        });
}

TEST(AddressPolicyTest, JudgesSockaddrIn) {
  const AddressPolicy policy = PolicyAllowing("");
  EXPECT_FALSE(policy.Allows(AsSockaddr(V4Sockaddr("127.0.0.1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V4Sockaddr("10.0.0.1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V4Sockaddr("169.254.169.254"))));
  EXPECT_TRUE(policy.Allows(AsSockaddr(V4Sockaddr("8.8.8.8"))));
  EXPECT_TRUE(policy.Allows(AsSockaddr(V4Sockaddr("9.255.255.255"))));
}

TEST(AddressPolicyTest, JudgesSockaddrIn6) {
  const AddressPolicy policy = PolicyAllowing("");
  EXPECT_FALSE(policy.Allows(AsSockaddr(V6Sockaddr("::1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V6Sockaddr("::"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V6Sockaddr("fe80::1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V6Sockaddr("::ffff:127.0.0.1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V6Sockaddr("64:ff9b::a00:1"))));
  EXPECT_TRUE(policy.Allows(AsSockaddr(V6Sockaddr("2606:4700::1"))));
  EXPECT_TRUE(policy.Allows(AsSockaddr(V6Sockaddr("::ffff:8.8.8.8"))));
}

TEST(AddressPolicyTest, RefusesOtherAddressFamilies) {
  const AddressPolicy policy = PolicyAllowing("::/0");
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::strcpy(unix_address.sun_path, "/run/webhooks.sock");
  EXPECT_FALSE(policy.Allows(AsSockaddr(unix_address)));
  sockaddr_storage unspecified{};
  unspecified.ss_family = AF_UNSPEC;
  EXPECT_FALSE(policy.Allows(AsSockaddr(unspecified)));
  EXPECT_FALSE(policy.Allows(nullptr));
}

TEST(AddressPolicyTest, AllowListOpensOnlyTheListedRanges) {
  const AddressPolicy policy = PolicyAllowing("127.0.0.0/8,::1/128");
  ExpectAllowed(policy, {"127.0.0.1", "127.255.255.255", "::ffff:127.0.0.1",
                         "::1", "8.8.8.8"});
  ExpectRefused(policy, {"10.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1",
                         "169.254.169.254"});
  EXPECT_TRUE(policy.Allows(AsSockaddr(V4Sockaddr("127.0.0.1"))));
  EXPECT_TRUE(policy.Allows(AsSockaddr(V6Sockaddr("::1"))));
  EXPECT_FALSE(policy.Allows(AsSockaddr(V4Sockaddr("10.0.0.1"))));
}

TEST(AddressPolicyTest, AllowListAppliesToEmbeddedIpv4Forms) {
  const AddressPolicy policy = PolicyAllowing("10.1.0.0/16");
  ExpectAllowed(policy,
                {"10.1.0.0", "10.1.255.255", "::ffff:10.1.2.3", "::10.1.2.3",
                 "64:ff9b::10.1.2.3", "2002:0a01:0203::1"});
  ExpectRefused(policy, {"10.0.255.255", "10.2.0.0", "64:ff9b::10.2.0.1"});
}

TEST(AddressPolicyTest, AllowListHandlesPrefixesThatSplitAByte) {
  const AddressPolicy policy =
      PolicyAllowing(" 100.64.0.0/10 , fe80::/10,fd00:1234:5600::/39");
  ExpectAllowed(policy,
                {"100.64.0.0", "100.127.255.255", "fe80::1", "febf:ffff::1",
                 "fd00:1234:5600::1", "fd00:1234:57ff:ffff::1"});
  ExpectRefused(policy, {"fec0::1", "fd00:1234:5800::1", "fd00:1234:55ff::1",
                         "10.0.0.1"});
}

TEST(AddressPolicyTest, EmptyAllowListAllowsNothingExtra) {
  for (absl::string_view empty : {"", "   "}) {
    const AddressPolicy policy = PolicyAllowing(empty);
    ExpectRefused(policy, {"127.0.0.1", "::1", "10.0.0.1"});
  }
}

TEST(AddressPolicyTest, AllIpv4OrEverythingCanBeAllowedExplicitly) {
  const AddressPolicy all_v4 = PolicyAllowing("0.0.0.0/0");
  ExpectAllowed(all_v4, {"127.0.0.1", "10.0.0.1", "::ffff:10.0.0.1",
                         "64:ff9b::a00:1", "255.255.255.255"});
  ExpectRefused(all_v4, {"fc00::1", "fe80::1"});
  ExpectAllowed(PolicyAllowing("::/0"), {"127.0.0.1", "::1", "fe80::1"});
}

TEST(AddressPolicyTest, RefusesMalformedAllowListEntriesNamingThem) {
  for (absl::string_view entry : {
           "10.0.0.0",        // no length
           "::1",             // no length
           "10.0.0.0/",       // empty length
           "/8",              // no address
           "10.0.0.0/33",     // too long for IPv4
           "::/129",          // too long for IPv6
           "10.0.0.0/-1",     // sign
           "10.0.0.0/+8",     // sign
           "10.0.0.0/08",     // leading zero
           "10.0.0.0/8/9",    // two lengths
           "10.0.0/8",        // short address
           "10.0.0.0 /8",     // space inside
           "localhost/8",     // a name
           "fe80::%eth0/64",  // zone
           "[::1]/128",       // brackets
       }) {
    SCOPED_TRACE(entry);
    EXPECT_THAT(
        AddressPolicy::Create(entry),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr(std::string("\"") + std::string(entry) + "\"")));
  }
}

TEST(AddressPolicyTest, RefusesHostBitsAfterThePrefixSuggestingTheFix) {
  EXPECT_THAT(
      AddressPolicy::Create("127.0.0.0/8,10.1.2.3/8"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("\"10.1.2.3/8\""), HasSubstr("10.0.0.0/8?"))));
  EXPECT_THAT(
      AddressPolicy::Create("fe80::1/10"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("\"fe80::1/10\""), HasSubstr("fe80::/10?"))));
  EXPECT_THAT(AddressPolicy::Create("100.65.0.0/10"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("100.64.0.0/10?")));
}

TEST(AddressPolicyTest, RefusesEmptyEntries) {
  for (absl::string_view list :
       {"127.0.0.0/8,,::1/128", "127.0.0.0/8,", ",127.0.0.0/8", " , "}) {
    SCOPED_TRACE(list);
    EXPECT_THAT(
        AddressPolicy::Create(list),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty entry")));
  }
}

TEST(AddressPolicyTest, AcceptsHostPrefixes) {
  const AddressPolicy policy = PolicyAllowing("192.168.1.10/32,fd00::5/128");
  ExpectAllowed(policy, {"192.168.1.10", "fd00::5"});
  ExpectRefused(policy, {"192.168.1.11", "fd00::6"});
}

}  // namespace
}  // namespace webhooks::delivery
