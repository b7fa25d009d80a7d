#include "lib/dispatch/request_builder.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/domain/custom_headers.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/sealer.h"
#include "lib/security/signing_secret.h"
#include "tests/testing/expected_signature.h"
#include "tests/testing/status_matchers.h"

namespace webhooks::dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using webhooks::testing::ExpectedSignature;
using webhooks::testing::IsOk;
using webhooks::testing::StatusIs;

constexpr absl::string_view kSecret =
    "whsec_UHqai+PRRahtqpZEsov0Ko3Acg2LrqvfBAbDk2kr8II=";
constexpr absl::string_view kPreviousSecret =
    "whsec_hP2brDM615FUNIKWIE+n+MU3qW4ImD5fc7P1rKjo7fc=";
constexpr absl::string_view kBody = R"({"type":"engagement_dispatched"})";

class RequestBuilderTest : public ::testing::Test {
 protected:
  RequestBuilderTest()
      : sealer_(
            *security::Sealer::Create("k1", {{"k1", std::string(32, 's')}})) {}

  std::string Seal(absl::string_view plaintext, absl::string_view field,
                   absl::string_view subscription = "sub_1") {
    absl::StatusOr<std::string> sealed = sealer_.Seal(
        plaintext, security::SubscriptionFieldAad(subscription, field));
    EXPECT_THAT(sealed, IsOk());
    return sealed.value_or("");
  }

  store::LeasedDelivery Delivery(const domain::HeaderMap& headers) {
    store::LeasedDelivery d;
    d.id = 42;
    d.lease_token = 7;
    d.attempt = 3;
    d.tenant_id = "tenant";
    d.event_id = "evt_01";
    d.event_type = "engagement_dispatched";
    d.body = std::make_shared<const std::string>(kBody);
    d.subscription_id = "sub_1";
    d.target_url = "https://hooks.example.com/in";
    d.custom_headers_sealed =
        Seal(domain::EncodeHeaders(headers), security::kCustomHeadersField);
    d.signing_secret_sealed = Seal(kSecret, security::kSigningSecretField);
    return d;
  }

  const absl::Time now_ = absl::FromUnixSeconds(1795701600);
  security::Sealer sealer_;
};

TEST_F(RequestBuilderTest, HeadersInOrderWithSignature) {
  const store::LeasedDelivery d = Delivery(
      {{"X-Token", "tok_1"}, {"Authorization", "Bearer abc"}, {"X-Empty", ""}});
  absl::StatusOr<delivery::HttpRequest> request =
      BuildRequest(d, sealer_, now_);
  ASSERT_THAT(request, IsOk());
  EXPECT_EQ(request->id, 42u);
  EXPECT_EQ(request->url, "https://hooks.example.com/in");
  EXPECT_EQ(request->body.get(), d.body.get());  // shared, not copied
  EXPECT_THAT(
      request->headers,
      ElementsAre("Content-Type: application/json", "webhook-id: evt_01",
                  "webhook-timestamp: 1795701600",
                  absl::StrCat("webhook-signature: ",
                               ExpectedSignature(kSecret, "evt_01",
                                                 "1795701600", kBody)),
                  "webhook-event: engagement_dispatched", "webhook-attempt: 3",
                  // Name order; the empty value as "Name;".
                  "Authorization: Bearer abc", "X-Empty;", "X-Token: tok_1"));
}

TEST_F(RequestBuilderTest, SignsWithBothSecretsDuringRotation) {
  store::LeasedDelivery d = Delivery({});
  d.previous_signing_secret_sealed =
      Seal(kPreviousSecret, security::kPreviousSigningSecretField);
  absl::StatusOr<delivery::HttpRequest> request =
      BuildRequest(d, sealer_, now_);
  ASSERT_THAT(request, IsOk());
  ASSERT_EQ(request->headers.size(), 6u);
  EXPECT_EQ(
      request->headers[3],
      absl::StrCat(
          "webhook-signature: ",
          ExpectedSignature(kSecret, "evt_01", "1795701600", kBody), " ",
          ExpectedSignature(kPreviousSecret, "evt_01", "1795701600", kBody)));
}

TEST_F(RequestBuilderTest, SecretSealedForAnotherSubscriptionDoesNotOpen) {
  store::LeasedDelivery d = Delivery({});
  d.signing_secret_sealed =
      Seal(kSecret, security::kSigningSecretField, "sub_other");
  const absl::StatusOr<delivery::HttpRequest> request =
      BuildRequest(d, sealer_, now_);
  EXPECT_THAT(request,
              StatusIs(absl::StatusCode::kDataLoss, Not(HasSubstr("UHqai"))));
}

TEST_F(RequestBuilderTest, ErrorsNeverCarrySecrets) {
  // A sealed value that opens but is no signing secret: the signer refuses
  // it, and says so without quoting it.
  store::LeasedDelivery d = Delivery({});
  d.signing_secret_sealed =
      Seal("not-a-secret-hunter2", security::kSigningSecretField);
  const absl::StatusOr<delivery::HttpRequest> request =
      BuildRequest(d, sealer_, now_);
  EXPECT_THAT(request, StatusIs(absl::StatusCode::kInvalidArgument,
                                Not(HasSubstr("hunter2"))));
  // Headers that do not decode.
  d = Delivery({});
  d.custom_headers_sealed =
      Seal(std::string("Authorization\0Bearer s3cret", 27),
           security::kCustomHeadersField);
  EXPECT_THAT(BuildRequest(d, sealer_, now_),
              StatusIs(absl::StatusCode::kDataLoss, Not(HasSubstr("s3cret"))));
}

}  // namespace
}  // namespace webhooks::dispatch
