#include "lib/security/api_tokens.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::security {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsNull;
using ::testing::Not;
using ::testing::NotNull;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;

constexpr char kOpsToken[] = "ops-token-0123456789abcdef";
constexpr char kCrmToken[] = "crm-token-fedcba9876543210";
constexpr char kSixteen[] = "0123456789abcdef";

constexpr char kFile[] = R"(# API tokens for the webhooks service
ops   ops-token-0123456789abcdef   *

# the CRM integration acts for two tenants
crm	crm-token-fedcba9876543210	ten_a,ten_b
edge 0123456789abcdef ten_c
)";

TEST(ApiTokensTest, ParsesEntriesSkippingCommentsAndBlankLines) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const ApiTokens tokens,
                                ApiTokens::Parse(kFile));
  EXPECT_EQ(tokens.size(), 3u);

  const ApiPrincipal* ops = tokens.Authenticate(kOpsToken);
  ASSERT_THAT(ops, NotNull());
  EXPECT_EQ(ops->name, "ops");
  EXPECT_TRUE(ops->all_tenants);
  EXPECT_THAT(ops->tenants, IsEmpty());

  const ApiPrincipal* crm = tokens.Authenticate(kCrmToken);
  ASSERT_THAT(crm, NotNull());
  EXPECT_EQ(crm->name, "crm");
  EXPECT_FALSE(crm->all_tenants);
  EXPECT_THAT(crm->tenants, ElementsAre("ten_a", "ten_b"));

  const ApiPrincipal* edge = tokens.Authenticate(kSixteen);
  ASSERT_THAT(edge, NotNull());
  EXPECT_EQ(edge->name, "edge");
  EXPECT_THAT(edge->tenants, ElementsAre("ten_c"));
}

TEST(ApiTokensTest, AcceptsEmptyAndCommentOnlyFilesAndCrlf) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const ApiTokens empty, ApiTokens::Parse(""));
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_THAT(empty.Authenticate(kOpsToken), IsNull());

  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      const ApiTokens comments,
      ApiTokens::Parse("# nothing yet\n   \n\t# indented comment\n"));
  EXPECT_EQ(comments.size(), 0u);

  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      const ApiTokens crlf,
      ApiTokens::Parse(absl::StrCat("ops ", kOpsToken, " *\r\n")));
  ASSERT_THAT(crlf.Authenticate(kOpsToken), NotNull());
}

TEST(ApiTokensTest, AuthenticateRejectsUnknownPrefixExtendedAndEmptyTokens) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const ApiTokens tokens,
                                ApiTokens::Parse(kFile));
  const std::string ops = kOpsToken;
  EXPECT_THAT(tokens.Authenticate("unknown-token-0000000000"), IsNull());
  EXPECT_THAT(tokens.Authenticate(ops.substr(0, ops.size() - 1)), IsNull());
  EXPECT_THAT(tokens.Authenticate(ops.substr(0, 16)), IsNull());
  EXPECT_THAT(tokens.Authenticate(ops + "x"), IsNull());
  EXPECT_THAT(tokens.Authenticate(absl::StrCat(" ", ops)), IsNull());
  EXPECT_THAT(tokens.Authenticate(""), IsNull());
  EXPECT_THAT(tokens.Authenticate("ops"), IsNull());  // a name is not a token
  EXPECT_THAT(tokens.Authenticate("*"), IsNull());
}

TEST(ApiPrincipalTest, AllowsTenant) {
  ApiPrincipal everyone{.name = "ops", .all_tenants = true, .tenants = {}};
  EXPECT_TRUE(everyone.AllowsTenant("ten_a"));
  EXPECT_TRUE(everyone.AllowsTenant("anything"));
  EXPECT_FALSE(everyone.AllowsTenant(""));

  ApiPrincipal some{
      .name = "crm", .all_tenants = false, .tenants = {"ten_a", "ten_b"}};
  EXPECT_TRUE(some.AllowsTenant("ten_a"));
  EXPECT_TRUE(some.AllowsTenant("ten_b"));
  EXPECT_FALSE(some.AllowsTenant("ten_c"));
  EXPECT_FALSE(some.AllowsTenant("ten_"));
  EXPECT_FALSE(some.AllowsTenant("ten_a,ten_b"));
  EXPECT_FALSE(some.AllowsTenant("*"));
  EXPECT_FALSE(some.AllowsTenant(""));
}

TEST(ApiTokensTest, StarAloneIsAllTenantsButNotATenantId) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      const ApiTokens tokens,
      ApiTokens::Parse(
          absl::StrCat("ops ", kOpsToken, " *\ncrm ", kCrmToken, " ten_a\n")));
  EXPECT_TRUE(tokens.Authenticate(kOpsToken)->AllowsTenant("ten_z"));
  EXPECT_TRUE(tokens.Authenticate(kCrmToken)->AllowsTenant("ten_a"));
  EXPECT_FALSE(tokens.Authenticate(kCrmToken)->AllowsTenant("ten_z"));
}

struct RejectionCase {
  std::string line;    // placed on line 3, after a comment and a valid entry
  std::string secret;  // a token that must not appear in the message
  std::string mention;
};

TEST(ApiTokensTest, RejectionsNameTheLineNumberButNeverTheToken) {
  const std::string token = "s3cr3t-t0k3n-must-not-leak";
  const RejectionCase cases[] = {
      {"lonely", "", "3 whitespace-separated fields"},
      {absl::StrCat("name ", token), token, "3 whitespace-separated fields"},
      {absl::StrCat("name ", token, " ten_a extra"), token, "fields"},
      {absl::StrCat("name ", token, " ten_a, ten_b"), token, "fields"},
      {absl::StrCat("ops ", token, " *"), token, "duplicate name"},
      {absl::StrCat("other ", kOpsToken, " *"), kOpsToken, "duplicate token"},
      {"short 0123456789abcde *", "0123456789abcde", "at least 16 bytes"},
      {absl::StrCat("name ", token, " ,"), token, "empty tenant id"},
      {absl::StrCat("name ", token, " ten_a,"), token, "empty tenant id"},
      {absl::StrCat("name ", token, " ,ten_a"), token, "empty tenant id"},
      {absl::StrCat("name ", token, " ten_a,,ten_b"), token, "empty tenant id"},
      {absl::StrCat("name ", token, " *,ten_a"), token, "'*'"},
      {absl::StrCat("name ", token, " ten_a,*"), token, "'*'"},
      {absl::StrCat("name ", token, " ten_a,ten_a"), token, "duplicate tenant"},
  };
  for (const RejectionCase& c : cases) {
    const std::string text =
        absl::StrCat("# header\nops ", kOpsToken, " *\n", c.line, "\n");
    absl::StatusOr<ApiTokens> tokens = ApiTokens::Parse(text);
    EXPECT_THAT(tokens,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("line 3"), HasSubstr(c.mention))))
        << c.line;
    if (!c.secret.empty()) {
      EXPECT_THAT(tokens.status().message(), Not(HasSubstr(c.secret)))
          << c.line;
    }
  }
}

TEST(ApiTokensTest, DuplicatesNameTheFirstLine) {
  EXPECT_THAT(
      ApiTokens::Parse(
          absl::StrCat("\nops ", kOpsToken, " *\n\nops ", kCrmToken, " *\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("line 4"), HasSubstr("first on line 2"))));
}

TEST(ApiTokensTest, LoadFileReadsAndParses) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/api_tokens_test_tokens");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << kFile;
  }
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(const ApiTokens tokens,
                                ApiTokens::LoadFile(path));
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_THAT(tokens.Authenticate(kCrmToken), NotNull());

  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "ops " << kOpsToken << " ten_a,\n";
  }
  EXPECT_THAT(ApiTokens::LoadFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(path), HasSubstr("line 1"),
                             Not(HasSubstr(kOpsToken)))));
  std::remove(path.c_str());
}

TEST(ApiTokensTest, LoadFileReportsAMissingFile) {
  EXPECT_THAT(ApiTokens::LoadFile(absl::StrCat(::testing::TempDir(),
                                               "/no_such_api_tokens_file")),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace webhooks::security
