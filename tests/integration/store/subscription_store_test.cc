#include <pqxx/pqxx>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {
namespace {

using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestDatabase;

SubscriptionRecord Record(const std::string& id, const std::string& secret) {
  SubscriptionRecord r;
  r.id = id;
  r.tenant_id = "t";
  r.target_url = "https://example.com/";
  r.event_types = {"inbound_engagement"};
  r.custom_headers_sealed = "k1:headers";
  r.signing_secret_sealed = secret;
  return r;
}

// The store retries an operation once after a connection error; a create
// whose first answer was lost must then succeed, not report ALREADY_EXISTS
// for the subscription it just made (its signing secret would be lost).
TEST(PgSubscriptionStoreTest, RepeatingACreateReturnsTheStoredSubscription) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  const SubscriptionRecord record = Record("sub_1", "k1:secret-a");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord first,
                                store->Create(record, absl::InfiniteFuture()));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord again,
                                store->Create(record, absl::InfiniteFuture()));
  EXPECT_EQ(again.id, first.id);
  EXPECT_EQ(again.create_time, first.create_time);
  EXPECT_EQ(db->Count("SELECT count(*) FROM subscriptions"), 1);

  // Another create that happens to reuse the id is refused.
  EXPECT_THAT(
      store->Create(Record("sub_1", "k1:secret-b"), absl::InfiniteFuture()),
      StatusIs(absl::StatusCode::kAlreadyExists));
}

}  // namespace
}  // namespace webhooks::store
