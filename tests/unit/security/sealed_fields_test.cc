#include "lib/security/sealed_fields.h"

#include "gtest/gtest.h"

namespace webhooks::security {
namespace {

// The exact strings values were sealed with: changing them locks every
// stored secret away.
TEST(SubscriptionFieldAadTest, IsSubscriptionIdField) {
  EXPECT_EQ(SubscriptionFieldAad("sub_01", kCustomHeadersField),
            "subscription/sub_01/custom_headers");
  EXPECT_EQ(SubscriptionFieldAad("sub_01", kSigningSecretField),
            "subscription/sub_01/signing_secret");
  EXPECT_EQ(SubscriptionFieldAad("sub_01", kPreviousSigningSecretField),
            "subscription/sub_01/previous_signing_secret");
}

}  // namespace
}  // namespace webhooks::security
