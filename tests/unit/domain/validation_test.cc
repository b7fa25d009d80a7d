#include "lib/domain/validation.h"

#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/contract_table.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::domain {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::IsOkAndHolds;
using ::webhooks::testing::StatusIs;

using Headers = std::map<std::string, std::string>;

// INVALID_ARGUMENT whose message starts with "<field>: " and states `rule`.
auto InvalidWith(const std::string& field, const std::string& rule) {
  return StatusIs(absl::StatusCode::kInvalidArgument,
                  AllOf(StartsWith(field + ": "), HasSubstr(rule)));
}

// ---------------------------------------------------------------------------
// tenant_id

TEST(ValidateTenantIdTest, AcceptsAllowedCharactersUpToTheLimit) {
  EXPECT_THAT(ValidateTenantId("a"), IsOk());
  EXPECT_THAT(ValidateTenantId("acme-corp_EU.prod:42"), IsOk());
  EXPECT_THAT(
      ValidateTenantId(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-"),
      IsOk());
  EXPECT_THAT(ValidateTenantId(std::string(128, 't')), IsOk());
}

TEST(ValidateTenantIdTest, RejectsEmpty) {
  EXPECT_THAT(ValidateTenantId(""), InvalidWith("tenant_id", "required"));
}

TEST(ValidateTenantIdTest, RejectsOneByteOverTheLimit) {
  EXPECT_THAT(ValidateTenantId(std::string(129, 't')),
              InvalidWith("tenant_id", "128"));
}

TEST(ValidateTenantIdTest, RejectsCharactersOutsideTheSet) {
  for (const std::string& id :
       {std::string("acme corp"), std::string("acme/corp"),
        std::string("acme@corp"), std::string("acme\n"),
        std::string("ac\0me", 5), std::string("caf\xC3\xA9"),
        std::string("acme+1"), std::string("a#b")}) {
    EXPECT_THAT(ValidateTenantId(id), InvalidWith("tenant_id", "letters"))
        << id;
  }
}

// ---------------------------------------------------------------------------
// subscription.name

TEST(ValidateSubscriptionNameTest, AcceptsEmptyTextAndTheLimit) {
  EXPECT_THAT(ValidateSubscriptionName(""), IsOk());
  EXPECT_THAT(ValidateSubscriptionName("Orders to CRM (EU) #2"), IsOk());
  EXPECT_THAT(ValidateSubscriptionName("Caf\xC3\xA9 \xE2\x98\x95"), IsOk());
  EXPECT_THAT(ValidateSubscriptionName(std::string(200, 'n')), IsOk());
}

TEST(ValidateSubscriptionNameTest, RejectsOneByteOverTheLimit) {
  EXPECT_THAT(ValidateSubscriptionName(std::string(201, 'n')),
              InvalidWith("subscription.name", "200"));
}

TEST(ValidateSubscriptionNameTest, RejectsControlCharacters) {
  for (const std::string& name :
       {std::string("Orders\n"), std::string("a\tb"), std::string("a\rb"),
        std::string("a\0b", 3), std::string("a\x1b[31m"), std::string("a\x7f"),
        std::string("\x01")}) {
    EXPECT_THAT(ValidateSubscriptionName(name),
                InvalidWith("subscription.name", "control"));
  }
}

// ---------------------------------------------------------------------------
// subscription.target_url

constexpr char kUrlField[] = "subscription.target_url";

std::string UrlOfLength(std::size_t bytes) {
  const std::string base = "https://example.com/";
  return base + std::string(bytes - base.size(), 'p');
}

TEST(ValidateTargetUrlTest, AcceptsHttpsUrls) {
  for (const char* url : {
           "https://example.com",
           "https://example.com/",
           "https://hooks.example.com/yess/webhooks?token=abc&x=%20y",
           "HTTPS://Example.COM/Hook",
           "https://example.com?only=query",
           "https://example.com:1/",
           "https://example.com:443",
           "https://example.com:65535/path",
           "https://example.com:08443/",  // Leading zeros are still 8443.
           "https://my_host.example.com/",
           "https://xn--caf-dma.example/",
           "https://203.0.113.7/hook",
           "https://[2001:db8::1]/",
           "https://[2001:db8::1]:8443/hook",
           "https://[::ffff:203.0.113.7]/",
           "https://example.com/path/with/@sign:and:colons",
       }) {
    EXPECT_THAT(ValidateTargetUrl(url), IsOk()) << url;
  }
}

TEST(ValidateTargetUrlTest, AcceptsExactlyTheMaximumLength) {
  const std::string url = UrlOfLength(2048);
  ASSERT_EQ(url.size(), 2048u);
  EXPECT_THAT(ValidateTargetUrl(url), IsOk());
}

TEST(ValidateTargetUrlTest, RejectsOneByteOverTheMaximumLength) {
  const std::string url = UrlOfLength(2049);
  ASSERT_EQ(url.size(), 2049u);
  EXPECT_THAT(ValidateTargetUrl(url), InvalidWith(kUrlField, "2048"));
}

TEST(ValidateTargetUrlTest, HttpSaysHttpsIsRequired) {
  for (const char* url : {"http://example.com/hook", "HTTP://example.com",
                          "Http://example.com:443/", "http:example.com"}) {
    EXPECT_THAT(ValidateTargetUrl(url),
                InvalidWith(kUrlField, "HTTPS is required"))
        << url;
  }
}

struct RejectedUrl {
  std::string url;
  std::string rule;  // A phrase the message must contain.
};

class RejectedTargetUrlTest : public ::testing::TestWithParam<RejectedUrl> {};

TEST_P(RejectedTargetUrlTest, IsInvalidArgumentNamingTheRule) {
  EXPECT_THAT(ValidateTargetUrl(GetParam().url),
              InvalidWith(kUrlField, GetParam().rule));
}

INSTANTIATE_TEST_SUITE_P(
    NotAbsoluteHttps, RejectedTargetUrlTest,
    ::testing::Values(RejectedUrl{"", "required"},
                      RejectedUrl{"example.com/hook", "absolute https://"},
                      RejectedUrl{"//example.com/hook", "absolute https://"},
                      RejectedUrl{"ftp://example.com/", "absolute https://"},
                      RejectedUrl{"wss://example.com/", "absolute https://"},
                      RejectedUrl{"httpss://example.com/", "absolute https://"},
                      RejectedUrl{"https:example.com", "absolute https://"},
                      RejectedUrl{"https:/example.com", "absolute https://"},
                      RejectedUrl{"https//example.com", "absolute https://"}));

INSTANTIATE_TEST_SUITE_P(
    Userinfo, RejectedTargetUrlTest,
    ::testing::Values(RejectedUrl{"https://user:pass@example.com/", "userinfo"},
                      RejectedUrl{"https://user@example.com/", "userinfo"},
                      RejectedUrl{"https://@example.com/", "userinfo"},
                      RejectedUrl{"https://good.com\\@evil.com/", "userinfo"},
                      RejectedUrl{"https://a@b@example.com?x", "userinfo"}));

INSTANTIATE_TEST_SUITE_P(
    Fragment, RejectedTargetUrlTest,
    ::testing::Values(RejectedUrl{"https://example.com/#frag", "fragment"},
                      RejectedUrl{"https://example.com#", "fragment"},
                      RejectedUrl{"https://example.com/a?b=c#d", "fragment"}));

INSTANTIATE_TEST_SUITE_P(
    NoHost, RejectedTargetUrlTest,
    ::testing::Values(RejectedUrl{"https://", "must have a host"},
                      RejectedUrl{"https:///path", "must have a host"},
                      RejectedUrl{"https://:443/", "must have a host"},
                      RejectedUrl{"https://?q=1", "must have a host"},
                      RejectedUrl{"https://[]/", "must have a host"}));

INSTANTIATE_TEST_SUITE_P(
    BadHost, RejectedTargetUrlTest,
    ::testing::Values(
        RejectedUrl{"https://evil.com\\.good.com/", "the host may hold only"},
        RejectedUrl{"https://exa$mple.com/", "the host may hold only"},
        RejectedUrl{"https://%65xample.com/", "the host may hold only"},
        RejectedUrl{"https://[2001:db8::1/", "IPv6"},
        RejectedUrl{"https://[example.com]/", "IPv6"},
        RejectedUrl{"https://[abcd]/", "IPv6"},
        RejectedUrl{"https://[fe80::1%25eth0]/", "IPv6"},
        RejectedUrl{"https://[::1]x/", "IPv6"},
        // The right characters, but no IPv6 address: every attempt would
        // fail to connect.
        RejectedUrl{"https://[1:2]/", "not an IPv6 address"},
        RejectedUrl{"https://[1:2:3:4:5:6:7:8:9]/", "not an IPv6 address"},
        RejectedUrl{"https://[::1::2]/", "not an IPv6 address"},
        RejectedUrl{"https://[12345::1]/", "not an IPv6 address"},
        RejectedUrl{"https://[1.2.3.4]/", "not an IPv6 address"}));

INSTANTIATE_TEST_SUITE_P(
    Port, RejectedTargetUrlTest,
    ::testing::Values(
        RejectedUrl{"https://example.com:0/", "1 to 65535"},
        RejectedUrl{"https://example.com:00/", "1 to 65535"},
        RejectedUrl{"https://example.com:65536/", "1 to 65535"},
        RejectedUrl{"https://example.com:99999999999999999999999/",
                    "1 to 65535"},
        RejectedUrl{"https://example.com:/", "1 to 65535"},
        RejectedUrl{"https://example.com:", "1 to 65535"},
        RejectedUrl{"https://example.com:-1/", "1 to 65535"},
        RejectedUrl{"https://example.com:+443/", "1 to 65535"},
        RejectedUrl{"https://example.com:44a/", "1 to 65535"},
        RejectedUrl{"https://example.com:443:443/", "1 to 65535"},
        RejectedUrl{"https://[2001:db8::1]:0/", "1 to 65535"},
        RejectedUrl{"https://[2001:db8::1]:65536/", "1 to 65535"}));

INSTANTIATE_TEST_SUITE_P(
    WhitespaceAndControl, RejectedTargetUrlTest,
    ::testing::Values(
        RejectedUrl{"https://exa mple.com/", "whitespace"},
        RejectedUrl{"https://example.com/a b", "whitespace"},
        RejectedUrl{" https://example.com/", "whitespace"},
        RejectedUrl{"https://example.com/ ", "whitespace"},
        RejectedUrl{"https://example.com/\t", "whitespace"},
        RejectedUrl{"https://example.com/\r\nHost: evil", "whitespace"},
        RejectedUrl{"https://example.com/\n", "whitespace"},
        RejectedUrl{"https://example.com/\x7f", "control"},
        RejectedUrl{"https://example.com/\x01", "control"},
        RejectedUrl{std::string("https://example.com/\0x", 22), "control"},
        // Non-ASCII hides look-alike whitespace such as U+00A0 and U+3000.
        RejectedUrl{"https://example.com/\xC2\xA0", "ASCII"},
        RejectedUrl{"https://example.com/\xE3\x80\x80", "ASCII"},
        RejectedUrl{"https://ex\xC3\xA4mple.com/", "ASCII"}));

TEST(ValidateTargetUrlTest, NeverEchoesTheUrl) {
  // Query strings and userinfo carry credentials.
  for (const char* url : {"https://user:pa55word@example.com/",
                          "http://example.com/?token=pa55word",
                          "https://example.com/?token=pa55word#x",
                          "https://example.com:99999/?token=pa55word"}) {
    EXPECT_THAT(ValidateTargetUrl(url),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         Not(HasSubstr("pa55word"))))
        << url;
  }
}

// ---------------------------------------------------------------------------
// subscription.event_types

constexpr char kEventTypesField[] = "subscription.event_types";

TEST(ValidateEventTypesTest, AcceptsEachTypeAloneAndAllTogether) {
  for (const char* type : {"engagement_dispatched", "inbound_engagement",
                           "engagement_status_changed"}) {
    EXPECT_THAT(ValidateEventTypes(std::vector<std::string>{type}), IsOk());
  }
  EXPECT_THAT(ValidateEventTypes(std::vector<std::string>{
                  "engagement_status_changed", "engagement_dispatched"}),
              IsOk());
  EXPECT_THAT(ValidateEventTypes(std::vector<std::string>{
                  "engagement_dispatched", "inbound_engagement",
                  "engagement_status_changed"}),
              IsOk());
}

TEST(ValidateEventTypesTest, RejectsEmpty) {
  EXPECT_THAT(ValidateEventTypes({}),
              InvalidWith(kEventTypesField, "at least one"));
}

TEST(ValidateEventTypesTest, RejectsUnknownTypeNamingIt) {
  for (const char* type : {"engagement_opened", "Engagement_Dispatched",
                           "engagement_dispatched ", "*"}) {
    EXPECT_THAT(ValidateEventTypes(
                    std::vector<std::string>{"engagement_dispatched", type}),
                InvalidWith(kEventTypesField,
                            "unknown event type \"" + std::string(type) + "\""))
        << type;
  }
  EXPECT_THAT(ValidateEventTypes(std::vector<std::string>{""}),
              InvalidWith(kEventTypesField, "unknown event type \"\""));
}

TEST(ValidateEventTypesTest, RejectsRepeats) {
  EXPECT_THAT(
      ValidateEventTypes(std::vector<std::string>{
          "inbound_engagement", "engagement_dispatched", "inbound_engagement"}),
      InvalidWith(kEventTypesField,
                  "\"inbound_engagement\" is listed more than once"));
}

// ---------------------------------------------------------------------------
// subscription.custom_headers

constexpr char kHeadersField[] = "subscription.custom_headers";

// Every rejection of custom headers goes through here, so each one also
// checks that no header value leaks into the message.
void ExpectHeadersRejected(const Headers& headers, const std::string& rule) {
  const absl::Status status = ValidateCustomHeaders(headers);
  EXPECT_THAT(status, InvalidWith(kHeadersField, rule));
  for (const auto& [name, value] : headers) {
    if (value.size() < 6) continue;  // Too short to be told from prose.
    EXPECT_THAT(std::string(status.message()),
                Not(HasSubstr(value.substr(0, 6))))
        << "value of " << name << " leaked";
  }
}

Headers NumberedHeaders(int count) {
  Headers headers;
  for (int i = 0; i < count; ++i) {
    headers["X-Header-" + std::to_string(100 + i)] =
        "Secr3tValue-" + std::to_string(i);
  }
  return headers;
}

TEST(ValidateCustomHeadersTest, AcceptsNoHeaders) {
  EXPECT_THAT(ValidateCustomHeaders({}), IsOk());
}

TEST(ValidateCustomHeadersTest, AcceptsTheContractsExamples) {
  EXPECT_THAT(ValidateCustomHeaders(
                  {{"Authorization", "Bearer abcdefghijklmnopqrstuvwxyz-key"},
                   {"X-Webhook-Token", "9f8e7d6c5b4a"}}),
              IsOk());
  EXPECT_THAT(
      ValidateCustomHeaders({{"Authorization", "Basic dXNlcjpwYXNzd29yZA=="}}),
      IsOk());
}

TEST(ValidateCustomHeadersTest, AcceptsTwentyHeaders) {
  EXPECT_THAT(ValidateCustomHeaders(NumberedHeaders(20)), IsOk());
}

TEST(ValidateCustomHeadersTest, RejectsTwentyOneHeaders) {
  ExpectHeadersRejected(NumberedHeaders(21), "at most 20");
}

TEST(ValidateCustomHeadersTest, AcceptsEveryTokenCharacterInNames) {
  EXPECT_THAT(ValidateCustomHeaders({{"!#$%&'*+-.^_`|~0123456789", "v"},
                                     {"ABCDEFGHIJKLM", "v"},
                                     {"nopqrstuvwxyz", "v"},
                                     {"x", "v"}}),
              IsOk());
}

TEST(ValidateCustomHeadersTest, NameLengthLimitIs256Bytes) {
  EXPECT_THAT(ValidateCustomHeaders({{std::string(256, 'X'), "v"}}), IsOk());
  ExpectHeadersRejected({{std::string(257, 'X'), "Secr3tValue"}}, "256");
}

TEST(ValidateCustomHeadersTest, RejectsEmptyName) {
  ExpectHeadersRejected({{"", "Secr3tValue"}}, "empty");
}

TEST(ValidateCustomHeadersTest, RejectsNamesThatAreNotTokens) {
  for (const std::string& name :
       {std::string("X Token"), std::string("X-Token:"), std::string("X(Y)"),
        std::string("X\"Y"), std::string("X/Y"), std::string("X@Y"),
        std::string("X\tY"), std::string("X,Y"), std::string("X;Y"),
        std::string("X=Y"), std::string("{X}"), std::string("X[Y]"),
        std::string("X?Y"), std::string("X\\Y"), std::string("X<Y>"),
        std::string("X\x7fY"), std::string("X\nY"), std::string("X\0Y", 3),
        std::string("N\xC3\xA4me")}) {
    ExpectHeadersRejected({{name, "Secr3tValue"}}, "HTTP token");
  }
}

TEST(ValidateCustomHeadersTest, DoesNotEchoANamePastedWithItsValue) {
  // A whole "Name: value" line in the name must not leak the secret part.
  ExpectHeadersRejected({{"Authorization: Bearer s3cr3t-t0ken", "x"}},
                        "HTTP token");
  EXPECT_THAT(
      ValidateCustomHeaders({{"Authorization: Bearer s3cr3t-t0ken", "x"}}),
      StatusIs(absl::StatusCode::kInvalidArgument, Not(HasSubstr("s3cr3t"))));
}

TEST(ValidateCustomHeadersTest, RejectsReservedNamesInAnyCase) {
  for (const char* name : {
           "Host",
           "host",
           "HOST",
           "Content-Length",
           "content-length",
           "Content-Type",
           "CONTENT-TYPE",
           "Transfer-Encoding",
           "transfer-encoding",
           "Content-Encoding",
           "content-encoding",
           "Connection",
           "connection",
           "Keep-Alive",
           "keep-alive",
           "Proxy-Authorization",
           "proxy-authorization",
           "Proxy-Connection",
           "PROXY-X",
           "Proxy-",
           "TE",
           "te",
           "Te",
           "Trailer",
           "trailer",
           "Upgrade",
           "UPGRADE",
           "Expect",
           "expect",
           "User-Agent",
           "user-agent",
           "webhook-id",
           "webhook-timestamp",
           "webhook-signature",
           "webhook-event",
           "webhook-attempt",
           "Webhook-Signature",
           "WEBHOOK-X",
           "webhook-",
       }) {
    ExpectHeadersRejected({{name, "Secr3tValue"}},
                          "header \"" + std::string(name) + "\" cannot be set");
  }
}

TEST(ValidateCustomHeadersTest, AcceptsNamesThatOnlyResembleReservedOnes) {
  // Exact names and exact prefixes only: these are the subscriber's own.
  for (const char* name :
       {"X-Webhook-Token", "Webhook", "Webhooks-Token", "X-Host", "Hostname",
        "Host-Name", "X-Content-Type", "Content-Typ", "TEE", "T", "Proxy",
        "ProxyAuth", "X-Proxy-Id", "X-User-Agent", "Expected", "Upgraded",
        "Trailers", "Authorization", "Cookie"}) {
    EXPECT_THAT(ValidateCustomHeaders({{name, "v"}}), IsOk()) << name;
  }
}

TEST(ValidateCustomHeadersTest, RejectsNamesDifferingOnlyInCase) {
  ExpectHeadersRejected(
      {{"Authorization", "Secr3tValue-1"}, {"authorization", "Secr3tValue-2"}},
      "differ only in case");
  ExpectHeadersRejected({{"X-Token", "Secr3tValue-1"},
                         {"X-Other", "Secr3tValue-2"},
                         {"x-TOKEN", "Secr3tValue-3"}},
                        "differ only in case");
  EXPECT_THAT(ValidateCustomHeaders({{"X-Token", "a"}, {"x-token", "b"}}),
              InvalidWith(kHeadersField, "\"X-Token\""));
  EXPECT_THAT(ValidateCustomHeaders({{"X-Token", "a"}, {"x-token", "b"}}),
              InvalidWith(kHeadersField, "\"x-token\""));
}

TEST(ValidateCustomHeadersTest, ValueLengthLimitIs8192Bytes) {
  EXPECT_THAT(ValidateCustomHeaders({{"X-Token", std::string(8192, 'v')}}),
              IsOk());
  std::string too_long;
  while (too_long.size() < 8193) too_long += "Secr3tValue";
  too_long.resize(8193);
  ExpectHeadersRejected({{"X-Token", too_long}}, "8192");
}

TEST(ValidateCustomHeadersTest, AcceptsFieldValues) {
  EXPECT_THAT(ValidateCustomHeaders({{"X-Empty", ""},
                                     {"X-Tab", "a\tb"},
                                     {"X-Spaces", "inner  spaces kept"},
                                     {"X-Punct", "k=v; a:b, \"q\" ~"},
                                     {"X-Utf8", "caf\xC3\xA9"}}),
              IsOk());
}

TEST(ValidateCustomHeadersTest, RejectsCrLfAndNulInValues) {
  ExpectHeadersRejected({{"X-Token", "Secr3tValue\r"}}, "(found CR)");
  ExpectHeadersRejected({{"X-Token", "Secr3tValue\n"}}, "(found LF)");
  ExpectHeadersRejected({{"X-Token", std::string("Secr3tValue\0", 12)}},
                        "(found NUL)");
  ExpectHeadersRejected({{"X-Token", "Secr3tValue\r\nX-Injected: 1"}},
                        "control characters other than tab");
  ExpectHeadersRejected({{"X-Token", "\nSecr3tValue"}}, "(found LF)");
}

// Receivers refuse these (or libcurl never sends them): refused at the API
// instead of failing every attempt.
TEST(ValidateCustomHeadersTest, RejectsOtherControlCharactersInValues) {
  ExpectHeadersRejected({{"X-Token", "Secr3t\x01Value"}}, "(found byte 0x01)");
  ExpectHeadersRejected({{"X-Token", "Secr3t\x1bValue"}}, "(found byte 0x1b)");
  ExpectHeadersRejected({{"X-Token", "Secr3tValue\x7f"}}, "(found byte 0x7f)");
  ExpectHeadersRejected({{"X-Token", "Secr3t\x0bValue"}}, "(found byte 0x0b)");
}

// libcurl drops a header whose value is only whitespace, and receivers trim
// it from either end: the subscriber would not get the value as set.
TEST(ValidateCustomHeadersTest, RejectsBlankAndPaddedValues) {
  ExpectHeadersRejected({{"X-Token", " "}}, "must not be only spaces or tabs");
  ExpectHeadersRejected({{"X-Token", " \t  "}},
                        "must not be only spaces or tabs");
  ExpectHeadersRejected({{"X-Token", " Secr3tValue"}},
                        "must not begin or end with a space or tab");
  ExpectHeadersRejected({{"X-Token", "Secr3tValue\t"}},
                        "must not begin or end with a space or tab");
}

TEST(ValidateCustomHeadersTest, NamesTheHeaderWhoseValueIsBad) {
  EXPECT_THAT(ValidateCustomHeaders(
                  {{"Authorization", "ok"}, {"X-Token", "Secr3tValue\n"}}),
              InvalidWith(kHeadersField, "\"X-Token\""));
}

TEST(ValidateCustomHeadersTest, NoRejectionMessageContainsAValue) {
  // One distinctive value per case, each checked against the full message.
  const std::string secret = "Zq9-very-secret-value-Zq9";
  const Headers cases[] = {
      NumberedHeaders(21),
      {{"Host", secret}},
      {{"webhook-id", secret}},
      {{"Bad Name", secret}},
      {{"", secret}},
      {{std::string(257, 'n'), secret}},
      {{"X-Token", secret + "\r\n"}},
      {{"X-Token", std::string(8193, 'Z')}},
      {{"X-Token", secret}, {"x-token", secret}},
  };
  for (const Headers& headers : cases) {
    const absl::Status status = ValidateCustomHeaders(headers);
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                AllOf(StartsWith(std::string(kHeadersField) + ": "),
                      Not(HasSubstr("Zq9")), Not(HasSubstr("secret")),
                      Not(HasSubstr("ZZZZ")), Not(HasSubstr("Secr3t"))));
  }
}

// ---------------------------------------------------------------------------
// subscription.max_in_flight

TEST(ResolveMaxInFlightTest, ZeroIsTheServerDefault) {
  EXPECT_THAT(ResolveMaxInFlight(0, 64, 1000), IsOkAndHolds(64));
}

TEST(ResolveMaxInFlightTest, AcceptsOneToTheLimit) {
  EXPECT_THAT(ResolveMaxInFlight(1, 64, 1000), IsOkAndHolds(1));
  EXPECT_THAT(ResolveMaxInFlight(200, 64, 1000), IsOkAndHolds(200));
  EXPECT_THAT(ResolveMaxInFlight(1000, 64, 1000), IsOkAndHolds(1000));
}

TEST(ResolveMaxInFlightTest, RejectsNegativeAndAboveTheLimitStatingTheRule) {
  for (int value : {-1, 1001, std::numeric_limits<int>::min(),
                    std::numeric_limits<int>::max()}) {
    EXPECT_THAT(ResolveMaxInFlight(value, 64, 1000),
                InvalidWith("subscription.max_in_flight",
                            "must be between 1 and 1000 (0 for the server "
                            "default of 64)"))
        << value;
  }
}

// ---------------------------------------------------------------------------
// idempotency_key

TEST(ValidateIdempotencyKeyTest, AcceptsUpToTheLimit) {
  EXPECT_THAT(ValidateIdempotencyKey(""), IsOk());
  EXPECT_THAT(ValidateIdempotencyKey("engagement_dispatched:eng_7c01"), IsOk());
  EXPECT_THAT(ValidateIdempotencyKey("order 42 / retry \xE2\x9C\x93"), IsOk());
  EXPECT_THAT(ValidateIdempotencyKey(std::string(256, 'k')), IsOk());
}

TEST(ValidateIdempotencyKeyTest, RejectsOneByteOverTheLimit) {
  EXPECT_THAT(ValidateIdempotencyKey(std::string(257, 'k')),
              InvalidWith("idempotency_key", "256"));
}

TEST(ValidateIdempotencyKeyTest, RejectsControlCharacters) {
  for (const std::string& key :
       {std::string("k\n"), std::string("k\r"), std::string("k\t"),
        std::string("k\0", 2), std::string("\x1f"), std::string("k\x7f")}) {
    EXPECT_THAT(ValidateIdempotencyKey(key),
                InvalidWith("idempotency_key", "control"));
  }
}

// ---------------------------------------------------------------------------
// event.engagement

using ::webhooks::testing::ContractAction;
using ::webhooks::testing::ContractTable;

const char* const kChannels[] = {"email", "linkedin", "manual"};
const char* const kDetails[] = {"email", "linkedin", "manual_task"};
const char* const kStatuses[] = {"pending",   "scheduled", "sent",
                                 "delivered", "failed",    "bounced",
                                 "replied",   "cancelled"};

std::string DetailOf(const std::string& channel) {
  return channel == "manual" ? "manual_task" : channel;
}

std::string Opposite(const std::string& direction) {
  return direction == "outbound" ? "inbound" : "outbound";
}

// The event type that takes this action without status fields.
const char* PlainTypeFor(const std::string& direction) {
  return direction == "outbound" ? "engagement_dispatched"
                                 : "inbound_engagement";
}

EngagementFacts ValidDispatched() {
  EngagementFacts facts;
  facts.event_type = "engagement_dispatched";
  facts.yess_id = "eng_7c01";
  facts.channel = "email";
  facts.action = "new_thread_email";
  facts.direction = "outbound";
  facts.status = "sent";
  facts.detail = "email";
  return facts;
}

EngagementFacts ValidStatusChanged() {
  EngagementFacts facts = ValidDispatched();
  facts.event_type = "engagement_status_changed";
  facts.status = "delivered";
  facts.previous_status = "sent";
  return facts;
}

EngagementFacts ValidInbound() {
  EngagementFacts facts = ValidDispatched();
  facts.event_type = "inbound_engagement";
  facts.action = "reply_email";
  facts.direction = "inbound";
  facts.status = "";
  return facts;
}

TEST(ValidateEngagementTest, AcceptsTheContractsExample) {
  EXPECT_THAT(ValidateEngagement(ValidDispatched()), IsOk());
  EXPECT_THAT(ValidateEngagement(ValidStatusChanged()), IsOk());
  EXPECT_THAT(ValidateEngagement(ValidInbound()), IsOk());
}

TEST(ValidateEngagementTest, AcceptsMinimalFacts) {
  EngagementFacts facts;
  facts.event_type = "engagement_dispatched";
  facts.yess_id = "eng_1";
  facts.channel = "manual";
  facts.action = "manual_task";
  EXPECT_THAT(ValidateEngagement(facts), IsOk());
}

class EngagementActionTest : public ::testing::TestWithParam<ContractAction> {
 protected:
  EngagementFacts Facts(absl::string_view event_type) const {
    EngagementFacts facts;
    facts.event_type = event_type;
    facts.yess_id = "eng_7c01";
    facts.channel = GetParam().channel;
    facts.action = GetParam().action;
    if (event_type == "engagement_status_changed") {
      facts.status = "delivered";
      facts.previous_status = "sent";
    }
    return facts;
  }
};

TEST_P(EngagementActionTest, MatchingEventTypeAccepts) {
  EXPECT_THAT(ValidateEngagement(Facts(PlainTypeFor(GetParam().direction))),
              IsOk());
}

TEST_P(EngagementActionTest, StatusChangedAcceptsEitherDirection) {
  EXPECT_THAT(ValidateEngagement(Facts("engagement_status_changed")), IsOk());
}

TEST_P(EngagementActionTest, OtherDirectionsEventTypeRejects) {
  const std::string wrong_type = PlainTypeFor(Opposite(GetParam().direction));
  EXPECT_THAT(ValidateEngagement(Facts(wrong_type)),
              InvalidWith("event.engagement.action",
                          wrong_type + " requires an " +
                              Opposite(GetParam().direction) + " action"));
}

TEST_P(EngagementActionTest, DirectionEqualToTheActionsAccepts) {
  for (const char* type :
       {PlainTypeFor(GetParam().direction), "engagement_status_changed"}) {
    EngagementFacts facts = Facts(type);
    facts.direction = GetParam().direction;
    EXPECT_THAT(ValidateEngagement(facts), IsOk()) << type;
  }
}

TEST_P(EngagementActionTest, DirectionOppositeTheActionsRejects) {
  for (const char* type :
       {PlainTypeFor(GetParam().direction), "engagement_status_changed"}) {
    EngagementFacts facts = Facts(type);
    const std::string wrong = Opposite(GetParam().direction);
    facts.direction = wrong;
    EXPECT_THAT(ValidateEngagement(facts),
                InvalidWith("event.engagement.direction",
                            "\"" + wrong + "\" does not match action"))
        << type;
  }
}

TEST_P(EngagementActionTest, ActionUnderAnotherChannelRejects) {
  for (const char* channel : kChannels) {
    if (channel == GetParam().channel) continue;
    for (const char* type :
         {PlainTypeFor(GetParam().direction), "engagement_status_changed"}) {
      EngagementFacts facts = Facts(type);
      facts.channel = channel;
      EXPECT_THAT(ValidateEngagement(facts),
                  InvalidWith("event.engagement.action",
                              "is not an action of channel \"" +
                                  std::string(channel) + "\""))
          << channel << " / " << type;
    }
  }
}

TEST_P(EngagementActionTest, OnlyTheChannelsDetailObjectAccepts) {
  const std::string expected = DetailOf(GetParam().channel);
  for (const char* detail : kDetails) {
    EngagementFacts facts = Facts(PlainTypeFor(GetParam().direction));
    facts.detail = detail;
    if (detail == expected) {
      EXPECT_THAT(ValidateEngagement(facts), IsOk()) << detail;
    } else {
      EXPECT_THAT(ValidateEngagement(facts),
                  InvalidWith("event.engagement." + std::string(detail),
                              "does not match channel"))
          << detail;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    ContractTable, EngagementActionTest, ::testing::ValuesIn(ContractTable()),
    [](const ::testing::TestParamInfo<ContractAction>& param_info) {
      return param_info.param.channel + "_" + param_info.param.action;
    });

TEST(ValidateEngagementTest, AcceptsEveryActionOnlyWithItsChannel) {
  // Every (channel, action) pair, in and out of the table, across all types.
  for (const char* channel : kChannels) {
    for (const ContractAction& row : ContractTable()) {
      const bool in_table = row.channel == channel;
      for (const char* type : {"engagement_dispatched", "inbound_engagement",
                               "engagement_status_changed"}) {
        EngagementFacts facts;
        facts.event_type = type;
        facts.yess_id = "eng_1";
        facts.channel = channel;
        facts.action = row.action;
        if (std::string(type) == "engagement_status_changed") {
          facts.status = "sent";
          facts.previous_status = "scheduled";
        }
        const bool type_fits =
            std::string(type) == "engagement_status_changed" ||
            std::string(type) == PlainTypeFor(row.direction);
        const absl::Status status = ValidateEngagement(facts);
        if (in_table && type_fits) {
          EXPECT_THAT(status, IsOk())
              << channel << " " << row.action << " " << type;
        } else {
          EXPECT_THAT(status, InvalidWith("event.engagement.action", ""))
              << channel << " " << row.action << " " << type;
        }
      }
    }
  }
}

TEST(ValidateEngagementTest, ManualHasNoInboundAction) {
  EngagementFacts facts = ValidInbound();
  facts.channel = "manual";
  facts.detail = "manual_task";
  facts.direction = "";
  for (const ContractAction& row : ContractTable()) {
    facts.action = row.action;
    EXPECT_THAT(ValidateEngagement(facts),
                InvalidWith("event.engagement.action", ""))
        << row.action;
  }
}

TEST(ValidateEngagementTest, RequiresAKnownEventType) {
  EngagementFacts facts = ValidDispatched();
  facts.event_type = "";
  EXPECT_THAT(ValidateEngagement(facts), InvalidWith("event.type", "required"));
  for (const char* type :
       {"engagement_opened", "Engagement_Dispatched", "engagement"}) {
    facts.event_type = type;
    EXPECT_THAT(ValidateEngagement(facts),
                InvalidWith("event.type", "unknown event type \"" +
                                              std::string(type) + "\""));
  }
}

TEST(ValidateEngagementTest, RequiresYessId) {
  EngagementFacts facts = ValidDispatched();
  facts.yess_id = "";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.yess_id", "required"));
}

TEST(ValidateEngagementTest, RequiresAKnownChannel) {
  EngagementFacts facts = ValidDispatched();
  facts.channel = "";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.channel", "required"));
  for (const char* channel : {"sms", "Email", "manual_task", "email "}) {
    facts.channel = channel;
    EXPECT_THAT(
        ValidateEngagement(facts),
        InvalidWith("event.engagement.channel",
                    "unknown channel \"" + std::string(channel) + "\""));
  }
}

TEST(ValidateEngagementTest, RequiresAnAction) {
  EngagementFacts facts = ValidDispatched();
  facts.action = "";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.action", "required"));
  for (const char* action : {"send_sms", "New_Thread_Email", "email"}) {
    facts.action = action;
    EXPECT_THAT(ValidateEngagement(facts),
                InvalidWith("event.engagement.action",
                            "\"" + std::string(action) +
                                "\" is not an action of channel \"email\""));
  }
}

TEST(ValidateEngagementTest, RejectsADirectionThatIsNeitherOutboundNorInbound) {
  for (const char* direction : {"outgoing", "Outbound", "both", " inbound"}) {
    EngagementFacts facts = ValidDispatched();
    facts.direction = direction;
    EXPECT_THAT(ValidateEngagement(facts),
                InvalidWith("event.engagement.direction",
                            "must be \"outbound\" or \"inbound\""))
        << direction;
  }
}

TEST(ValidateEngagementTest, AcceptsEveryStatusOnEveryType) {
  for (const char* status : kStatuses) {
    EngagementFacts dispatched = ValidDispatched();
    dispatched.status = status;
    EXPECT_THAT(ValidateEngagement(dispatched), IsOk()) << status;
    EngagementFacts inbound = ValidInbound();
    inbound.status = status;
    EXPECT_THAT(ValidateEngagement(inbound), IsOk()) << status;
    for (const char* previous : kStatuses) {
      EngagementFacts changed = ValidStatusChanged();
      changed.status = status;
      changed.previous_status = previous;
      EXPECT_THAT(ValidateEngagement(changed), IsOk())
          << previous << " -> " << status;
    }
  }
}

TEST(ValidateEngagementTest, RejectsUnknownStatus) {
  for (const char* status : {"opened", "Sent", "canceled", "sent "}) {
    EngagementFacts dispatched = ValidDispatched();
    dispatched.status = status;
    EXPECT_THAT(ValidateEngagement(dispatched),
                InvalidWith("event.engagement.status",
                            "unknown status \"" + std::string(status) + "\""));
    EngagementFacts changed = ValidStatusChanged();
    changed.status = status;
    EXPECT_THAT(ValidateEngagement(changed),
                InvalidWith("event.engagement.status", "unknown status"));
  }
}

TEST(ValidateEngagementTest, RejectsUnknownPreviousStatus) {
  EngagementFacts facts = ValidStatusChanged();
  facts.previous_status = "opened";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.previous_status",
                          "unknown status \"opened\""));
}

TEST(ValidateEngagementTest, StatusChangedRequiresStatus) {
  EngagementFacts facts = ValidStatusChanged();
  facts.status = "";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.status",
                          "required for engagement_status_changed"));
}

TEST(ValidateEngagementTest, StatusChangedRequiresPreviousStatus) {
  EngagementFacts facts = ValidStatusChanged();
  facts.previous_status = "";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.previous_status",
                          "required for engagement_status_changed"));
}

TEST(ValidateEngagementTest, StatusChangedRequiresBoth) {
  EngagementFacts facts = ValidStatusChanged();
  facts.status = "";
  facts.previous_status = "";
  EXPECT_THAT(ValidateEngagement(facts),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(StartsWith("event.engagement."),
                             HasSubstr("required for "
                                       "engagement_status_changed"))));
}

TEST(ValidateEngagementTest, OtherTypesMustNotSetPreviousStatus) {
  EngagementFacts dispatched = ValidDispatched();
  dispatched.previous_status = "scheduled";
  EXPECT_THAT(ValidateEngagement(dispatched),
              InvalidWith("event.engagement.previous_status",
                          "only allowed for engagement_status_changed"));
  EngagementFacts inbound = ValidInbound();
  inbound.previous_status = "sent";
  EXPECT_THAT(ValidateEngagement(inbound),
              InvalidWith("event.engagement.previous_status",
                          "only allowed for engagement_status_changed"));
}

TEST(ValidateEngagementTest, StatusIsOptionalOutsideStatusChanged) {
  EngagementFacts facts = ValidDispatched();
  facts.status = "";
  EXPECT_THAT(ValidateEngagement(facts), IsOk());
}

TEST(ValidateEngagementTest, DetailIsOptional) {
  for (const ContractAction& row : ContractTable()) {
    EngagementFacts facts;
    facts.event_type = PlainTypeFor(row.direction);
    facts.yess_id = "eng_1";
    facts.channel = row.channel;
    facts.action = row.action;
    facts.detail = "";
    EXPECT_THAT(ValidateEngagement(facts), IsOk()) << row.action;
  }
}

TEST(ValidateEngagementTest, ManualChannelTakesTheManualTaskDetail) {
  EngagementFacts facts = ValidDispatched();
  facts.channel = "manual";
  facts.action = "manual_task";
  facts.detail = "manual_task";
  EXPECT_THAT(ValidateEngagement(facts), IsOk());
  facts.detail = "manual";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.manual", "unknown detail"));
  facts.detail = "email";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.email",
                          "does not match channel \"manual\""));
}

TEST(ValidateEngagementTest, RejectsAnUnknownDetailObject) {
  EngagementFacts facts = ValidDispatched();
  facts.detail = "sms";
  EXPECT_THAT(ValidateEngagement(facts),
              InvalidWith("event.engagement.sms", "unknown detail"));
}

TEST(ValidateEngagementTest, EscapesEchoedTextToOneLine) {
  EngagementFacts facts = ValidDispatched();
  facts.channel = "sms\nevent.type: forged";
  const absl::Status status = ValidateEngagement(facts);
  EXPECT_THAT(status, InvalidWith("event.engagement.channel", "sms\\n"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n")));
}

// ---------------------------------------------------------------------------
// event (body size)

TEST(ValidateBodySizeTest, AcceptsUpTo256KiB) {
  EXPECT_THAT(ValidateBodySize(0), IsOk());
  EXPECT_THAT(ValidateBodySize(1), IsOk());
  EXPECT_THAT(ValidateBodySize(256 * 1024), IsOk());
}

TEST(ValidateBodySizeTest, RejectsOneByteMore) {
  EXPECT_THAT(ValidateBodySize(256 * 1024 + 1),
              InvalidWith("event", "262145 bytes"));
  EXPECT_THAT(ValidateBodySize(std::numeric_limits<std::size_t>::max()),
              InvalidWith("event", "262144"));
}

TEST(ValidateEventTypeNameTest, NamesTheFieldAndBoundsTheEcho) {
  EXPECT_THAT(ValidateEventTypeName("event_type", "inbound_engagement"),
              IsOk());
  EXPECT_THAT(ValidateEventTypeName("event_type", "engagement_exploded"),
              InvalidWith("event_type", "engagement_exploded"));
  const absl::Status long_one =
      ValidateEventTypeName("event_type", std::string(10000, 'x'));
  EXPECT_THAT(long_one, InvalidWith("event_type", "engagement_dispatched"));
  EXPECT_LT(long_one.message().size(), 300u);
  // Control bytes are escaped, never echoed raw (found by
  // tests/fuzz/subscription_fuzz.cc).
  const absl::Status control =
      ValidateEventTypeName("event_type", "not an event type\n\x7f");
  EXPECT_THAT(std::string(control.message()),
              ::testing::Not(::testing::HasSubstr("\n")));
  EXPECT_THAT(std::string(control.message()),
              ::testing::Not(::testing::HasSubstr("\x7f")));
}

// ---------------------------------------------------------------------------
// DefaultIdempotencyKey

const absl::Time kOccurred =
    absl::FromUnixMillis(1795701791512);  // 14:03:11.512

TEST(DefaultIdempotencyKeyTest, IsTypeEngagementIdAndTime) {
  EXPECT_EQ(DefaultIdempotencyKey("engagement_dispatched", "eng_7c01", "",
                                  "sent", kOccurred),
            "engagement_dispatched:eng_7c01:2026-11-26T14:03:11.512Z");
  EXPECT_EQ(DefaultIdempotencyKey("inbound_engagement", "eng_7c01", "", "",
                                  kOccurred + absl::Nanoseconds(1)),
            "inbound_engagement:eng_7c01:2026-11-26T14:03:11.512000001Z");
  EXPECT_EQ(DefaultIdempotencyKey("inbound_engagement", "eng_7c01", "", "",
                                  absl::FromUnixSeconds(1795701791)),
            "inbound_engagement:eng_7c01:2026-11-26T14:03:11Z");
}

TEST(DefaultIdempotencyKeyTest, StatusChangedAddsBothStatuses) {
  EXPECT_EQ(DefaultIdempotencyKey("engagement_status_changed", "eng_7c01",
                                  "sent", "delivered", kOccurred),
            "engagement_status_changed:eng_7c01:sent>delivered:"
            "2026-11-26T14:03:11.512Z");
}

// sent -> failed -> sent: the second "sent" is a new event, not a repeat
// of the first; a repeat of one change (same time) is the same event.
TEST(DefaultIdempotencyKeyTest, NeverMergesDistinctChangesOfOneEngagement) {
  const std::string first = DefaultIdempotencyKey(
      "engagement_status_changed", "eng_7c01", "scheduled", "sent", kOccurred);
  const std::string failed =
      DefaultIdempotencyKey("engagement_status_changed", "eng_7c01", "sent",
                            "failed", kOccurred + absl::Minutes(1));
  const std::string again =
      DefaultIdempotencyKey("engagement_status_changed", "eng_7c01", "failed",
                            "sent", kOccurred + absl::Minutes(2));
  EXPECT_NE(first, failed);
  EXPECT_NE(first, again);
  EXPECT_NE(failed, again);
  // Same statuses at another time: still distinct.
  EXPECT_NE(DefaultIdempotencyKey("engagement_status_changed", "eng_7c01",
                                  "failed", "sent", kOccurred + absl::Hours(1)),
            again);
  EXPECT_EQ(
      DefaultIdempotencyKey("engagement_status_changed", "eng_7c01", "failed",
                            "sent", kOccurred + absl::Minutes(2)),
      again);
  // An engagement dispatched twice at different times: two events.
  EXPECT_NE(DefaultIdempotencyKey("engagement_dispatched", "eng_7c01", "", "",
                                  kOccurred),
            DefaultIdempotencyKey("engagement_dispatched", "eng_7c01", "", "",
                                  kOccurred + absl::Milliseconds(1)));
}

}  // namespace
}  // namespace webhooks::domain
