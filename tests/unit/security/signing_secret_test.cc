#include "lib/security/signing_secret.h"

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace webhooks::security {
namespace {

using ::testing::MatchesRegex;

TEST(NewSigningSecretTest, IsWhsecPrefixAndPaddedBase64OfThirtyTwoBytes) {
  const std::string secret = NewSigningSecret();
  EXPECT_THAT(secret, MatchesRegex("whsec_[A-Za-z0-9+/]{43}="));
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(secret.substr(6), &raw));
  EXPECT_EQ(raw.size(), 32u);
  EXPECT_TRUE(IsWellFormedSigningSecret(secret));
}

TEST(NewSigningSecretTest, IsDifferentEveryTime) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(NewSigningSecret());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IsWellFormedSigningSecretTest, AcceptsAnyThirtyTwoBytes) {
  EXPECT_TRUE(IsWellFormedSigningSecret(
      absl::StrCat("whsec_", absl::Base64Escape(std::string(32, '\0')))));
  EXPECT_TRUE(IsWellFormedSigningSecret(
      absl::StrCat("whsec_", absl::Base64Escape(std::string(32, '\xff')))));
}

TEST(IsWellFormedSigningSecretTest, RejectsEverythingElse) {
  const std::string body = absl::Base64Escape(std::string(32, 'x'));
  const std::string web_safe =
      absl::Base64Escape(std::string(32, '\xfb'));  // contains '+' or '/'
  ASSERT_NE(web_safe.find_first_of("+/"), std::string::npos);
  std::string url_alphabet = web_safe;
  for (char& c : url_alphabet) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  for (const std::string& secret : {
           std::string(),
           std::string("whsec_"),
           body,                                        // no prefix
           absl::StrCat("WHSEC_", body),                // wrong case
           absl::StrCat("whsk_", body),                 // wrong prefix
           absl::StrCat("whsec_", body.substr(0, 43)),  // no padding
           absl::StrCat("whsec_", body, "="),           // extra padding
           absl::StrCat("whsec_", body, "\n"),          // trailing space
           absl::StrCat(" whsec_", body),               // leading space
           absl::StrCat("whsec_", url_alphabet),        // base64url
           absl::StrCat("whsec_", absl::Base64Escape(std::string(31, 'x'))),
           absl::StrCat("whsec_", absl::Base64Escape(std::string(33, 'x'))),
           absl::StrCat("whsec_", body.substr(0, 42), "h="),  // stray bits
           absl::StrCat("whsec_", body.substr(0, 43), "!"),
       }) {
    EXPECT_FALSE(IsWellFormedSigningSecret(secret)) << "'" << secret << "'";
  }
}

}  // namespace
}  // namespace webhooks::security
