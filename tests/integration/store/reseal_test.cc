// ResealAll against a real PostgreSQL: after a pass under the ring
// "k2:NEW,k1:OLD", every secret opens with k2 alone, unchanged.
#include "lib/store/reseal.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/security/sealed_fields.h"
#include "lib/security/sealer.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestDatabase;

struct Keys {
  std::string k1 = security::NewSealingKeySpec();
  std::string k2 = security::NewSealingKeySpec();
  security::Sealer Only(const std::string& id) const {
    return security::Sealer::FromSpec(
               absl::StrCat(id, ":", id == "k1" ? k1 : k2))
        .value();
  }
  security::Sealer Rotating() const {
    return security::Sealer::FromSpec(absl::StrCat("k2:", k2, ",k1:", k1))
        .value();
  }
};

std::string Seal(const security::Sealer& sealer, const std::string& id,
                 absl::string_view field, const std::string& plain) {
  return sealer.Seal(plain, security::SubscriptionFieldAad(id, field)).value();
}

// `n` subscriptions sealed under k1; odd ones in a signing-secret rotation.
void CreateUnderK1(SubscriptionStore& store, const security::Sealer& k1,
                   int n) {
  for (int i = 0; i < n; ++i) {
    const std::string id = absl::StrCat("sub_", 100 + i);
    SubscriptionRecord r;
    r.id = id;
    r.tenant_id = "t";
    r.target_url = "https://example.com/";
    r.event_types = {"inbound_engagement"};
    r.max_in_flight = 64;
    r.custom_headers_sealed = Seal(k1, id, security::kCustomHeadersField,
                                   absl::StrCat("headers-", i));
    r.signing_secret_sealed = Seal(k1, id, security::kSigningSecretField,
                                   absl::StrCat("whsec_current-", i));
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord created,
                                  store.Create(r, absl::InfiniteFuture()));
    if (i % 2 == 1) {
      SigningSecretChange change;
      change.tenant_id = "t";
      change.id = id;
      change.secret_sealed = Seal(k1, id, security::kSigningSecretField,
                                  absl::StrCat("whsec_next-", i));
      change.previous_sealed =
          Seal(k1, id, security::kPreviousSigningSecretField,
               absl::StrCat("whsec_current-", i));
      change.previous_expires_at = absl::Now() + absl::Hours(1);
      change.expected_version = created.version;
      ASSERT_THAT(store.RotateSigningSecret(change, absl::InfiniteFuture()),
                  IsOk());
    }
  }
}

TEST(ResealTest, EverySecretEndsUnderThePrimaryKeyWithItsValue) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  const Keys keys;
  CreateUnderK1(*store, keys.Only("k1"), 7);

  // Batches of 3: the keyset walk crosses pages.
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      ResealReport report,
      ResealAll(*pool, keys.Rotating(), 3, absl::InfiniteFuture()));
  EXPECT_EQ(report.subscriptions, 7);
  EXPECT_EQ(report.fields, 7 * 2 + 3);  // three in a rotation
  EXPECT_EQ(report.changed_meanwhile, 0);
  EXPECT_EQ(
      db->QueryValue(
          "SELECT count(*) FROM subscriptions WHERE "
          "custom_headers_sealed NOT LIKE 'k2:%' OR signing_secret_sealed "
          "NOT LIKE 'k2:%' OR previous_signing_secret_sealed NOT LIKE "
          "'k2:%'"),
      "0");

  // k1 can go: every value opens with k2 alone, unchanged.
  const security::Sealer k2 = keys.Only("k2");
  for (int i = 0; i < 7; ++i) {
    const std::string id = absl::StrCat("sub_", 100 + i);
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord r,
                                  store->Get("t", id, absl::InfiniteFuture()));
    EXPECT_EQ(
        k2.Open(r.custom_headers_sealed, security::SubscriptionFieldAad(
                                             id, security::kCustomHeadersField))
            .value_or("?"),
        absl::StrCat("headers-", i));
    EXPECT_EQ(
        k2.Open(r.signing_secret_sealed, security::SubscriptionFieldAad(
                                             id, security::kSigningSecretField))
            .value_or("?"),
        absl::StrCat(i % 2 == 1 ? "whsec_next-" : "whsec_current-", i));
    if (i % 2 == 1) {
      EXPECT_EQ(k2.Open(r.previous_signing_secret_sealed,
                        security::SubscriptionFieldAad(
                            id, security::kPreviousSigningSecretField))
                    .value_or("?"),
                absl::StrCat("whsec_current-", i));
    }
  }

  // A second pass finds nothing left to do.
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      ResealReport again,
      ResealAll(*pool, keys.Rotating(), 3, absl::InfiniteFuture()));
  EXPECT_EQ(again.subscriptions, 7);
  EXPECT_EQ(again.fields, 0);
}

// A ring without the key a value is sealed under stops the pass, naming the
// subscription and field, never a secret.
TEST(ResealTest, AMissingKeyStopsThePassWithoutSecrets) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  const Keys keys;
  CreateUnderK1(*store, keys.Only("k1"), 2);
  const absl::StatusOr<ResealReport> report =
      ResealAll(*pool, keys.Only("k2"), 10, absl::InfiniteFuture());
  EXPECT_THAT(report, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("sub_100")));
  EXPECT_THAT(std::string(report.status().message()), Not(HasSubstr("whsec_")));
  EXPECT_THAT(std::string(report.status().message()), Not(HasSubstr(keys.k1)));
}

}  // namespace
}  // namespace webhooks::store
