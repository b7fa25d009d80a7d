#include "lib/delivery/signer.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::delivery {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::webhooks::testing::IsOkAndHolds;
using ::webhooks::testing::StatusIs;

// The test vector published with the Standard Webhooks specification and its
// reference libraries; a subscriber's stock verifier accepts exactly this.
constexpr absl::string_view kSpecSecret =
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr absl::string_view kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSpecTimestamp = 1614265330;
constexpr absl::string_view kSpecBody = R"({"test": 2432232314})";
constexpr absl::string_view kSpecSignature =
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// A secret in the form this service creates (32 bytes 0x00..0x1f). The
// expected signatures below were computed outside this code, with the openssl
// CLI (key 000102...1f):
//   printf '%s' "$id.$ts.$body" |
//     openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
// and checked against Python's hmac module.
constexpr absl::string_view kOurSecret =
    "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr absl::string_view kOurId = "evt_01JD7X3G2Q5T6X8V9W0Y1Z2A3B";
constexpr int64_t kOurTimestamp = 1798293791;
constexpr absl::string_view kOurBody =
    "{\"event\":\"engagement_dispatched\",\"name\":\"Zo\xC3\xAB\"}";
constexpr absl::string_view kOurSignature =
    "v1,chtpxWzEybws4aBYoI/4gZ9+v74/HRMQhaflBm+I9w0=";
// kOurId/kOurTimestamp/kOurBody signed with kSpecSecret.
constexpr absl::string_view kOurMessageSpecSecretSignature =
    "v1,hI1af7HW6lUbzNykPXIbsHXRPLDllYe73O4oprzyufQ=";

TEST(SignTest, MatchesTheStandardWebhooksTestVector) {
  EXPECT_THAT(Sign(kSpecSecret, kSpecId, kSpecTimestamp, kSpecBody),
              IsOkAndHolds(kSpecSignature));
}

TEST(SignTest, MatchesASignatureComputedWithTheOpensslCli) {
  EXPECT_THAT(Sign(kOurSecret, kOurId, kOurTimestamp, kOurBody),
              IsOkAndHolds(kOurSignature));
}

TEST(SignTest, SignsEveryByteOfTheBodyIncludingNul) {
  // "msg_1.0.a\0b" and "msg_1.0.a", by the openssl CLI as above.
  EXPECT_THAT(Sign(kOurSecret, "msg_1", 0, absl::string_view("a\0b", 3)),
              IsOkAndHolds("v1,HzADoFhzZB5hBHe4qE0HdzVDVrHwK9XwUSCLStx9Vo8="));
  EXPECT_THAT(Sign(kOurSecret, "msg_1", 0, "a"),
              IsOkAndHolds("v1,NAxO2DugJS7yNsgAcfsbbTFs+NW6d4uBEH+TvPzhHvU="));
}

TEST(SignTest, EveryInputChangesTheSignature) {
  EXPECT_THAT(Sign(kSpecSecret, "msg_other", kSpecTimestamp, kSpecBody),
              IsOkAndHolds(Not(kSpecSignature)));
  EXPECT_THAT(Sign(kSpecSecret, kSpecId, kSpecTimestamp + 1, kSpecBody),
              IsOkAndHolds(Not(kSpecSignature)));
  EXPECT_THAT(
      Sign(kSpecSecret, kSpecId, kSpecTimestamp, R"({"test":2432232314})"),
      IsOkAndHolds(Not(kSpecSignature)));
  EXPECT_THAT(Sign(kOurSecret, kSpecId, kSpecTimestamp, kSpecBody),
              IsOkAndHolds(Not(kSpecSignature)));
}

TEST(SignTest, AcceptsUnpaddedBase64) {
  // The spec's secret needs no padding; ours without its '=' is the same key.
  EXPECT_THAT(Sign("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", kOurId,
                   kOurTimestamp, kOurBody),
              IsOkAndHolds(kOurSignature));
}

TEST(SignTest, RefusesMalformedSecretsWithoutQuotingThem) {
  const std::string body = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  for (const std::string& secret : {
           std::string(), std::string("whsec_"),
           body,                                // no prefix
           absl::StrCat("WHSEC_", body),        // wrong case
           absl::StrCat(" whsec_", body),       // leading space
           absl::StrCat("whsec_", body, "\n"),  // trailing newline
           absl::StrCat("whsec_AAEC AwQF"),     // inner space
           absl::StrCat("whsec_", body, "="),   // extra padding
           std::string("whsec_A"),              // impossible length
           std::string("whsec_AA="),            // padding, short
           std::string("whsec_AA=A"),           // padding in the middle
           std::string("whsec_===="),           // only padding
           std::string("whsec_AAECAw-_"),       // base64url alphabet
           std::string("whsec_AAEC!wQF"),       // not base64 at all
       }) {
    SCOPED_TRACE(secret);
    absl::StatusOr<std::string> signature =
        Sign(secret, kSpecId, kSpecTimestamp, kSpecBody);
    EXPECT_THAT(signature, StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("signing secret")));
    if (secret.size() > 6) {
      EXPECT_THAT(std::string(signature.status().message()),
                  Not(HasSubstr(secret.substr(6))));
    }
  }
}

TEST(SignatureHeaderTest, OneSecretGivesOneSignature) {
  EXPECT_THAT(SignatureHeader({std::string(kSpecSecret)}, kSpecId,
                              kSpecTimestamp, kSpecBody),
              IsOkAndHolds(kSpecSignature));
}

TEST(SignatureHeaderTest, TwoSecretsDuringRotationAreSpaceSeparatedInOrder) {
  const std::vector<std::string> secrets = {std::string(kOurSecret),
                                            std::string(kSpecSecret)};
  EXPECT_THAT(SignatureHeader(secrets, kOurId, kOurTimestamp, kOurBody),
              IsOkAndHolds(absl::StrCat(kOurSignature, " ",
                                        kOurMessageSpecSecretSignature)));
}

TEST(SignatureHeaderTest, RefusesNoSecrets) {
  EXPECT_THAT(SignatureHeader({}, kSpecId, kSpecTimestamp, kSpecBody),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SignatureHeaderTest, NamesWhichSecretIsMalformedButNotItsValue) {
  const std::vector<std::string> secrets = {std::string(kSpecSecret),
                                            "whsec_Zm9v YmFy"};
  EXPECT_THAT(SignatureHeader(secrets, kSpecId, kSpecTimestamp, kSpecBody),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("2 of 2"), Not(HasSubstr("Zm9v")))));
}

}  // namespace
}  // namespace webhooks::delivery
