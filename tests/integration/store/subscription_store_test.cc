#include <atomic>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
  r.max_in_flight = 64;
  return r;
}

SubscriptionUpdate Update(const std::string& id) {
  SubscriptionUpdate u;
  u.tenant_id = "t";
  u.id = id;
  return u;
}

// The lane row of subscription `id`: "enabled,max_in_flight" ("true,64").
std::string Lane(const TestDatabase& db, const std::string& id) {
  return db.QueryValue(absl::StrCat(
      "SELECT enabled::text || ',' || max_in_flight FROM delivery_lanes "
      "WHERE subscription_id = '",
      id, "'"));
}

// Every delivery of subscription `id` as "state/xmin", by id: xmin changes
// whenever a row is written, so equal strings mean no row was touched.
std::vector<std::string> DeliveryRows(const TestDatabase& db,
                                      const std::string& id) {
  return db.Query(
      absl::StrCat("SELECT state || '/' || xmin::text FROM deliveries "
                   "WHERE subscription_id = '",
                   id, "' ORDER BY id"));
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

TEST(PgSubscriptionStoreTest, StoresMaxInFlightAndUpdatesItOnlyWhenSet) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  SubscriptionRecord record = Record("sub_1", "k1:secret");
  record.max_in_flight = 5;
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord created,
                                store->Create(record, absl::InfiniteFuture()));
  EXPECT_EQ(created.max_in_flight, 5);
  EXPECT_EQ(Lane(*db, "sub_1"), "true,5");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      SubscriptionRecord got, store->Get("t", "sub_1", absl::InfiniteFuture()));
  EXPECT_EQ(got.max_in_flight, 5);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      std::vector<SubscriptionRecord> listed,
      store->List("t", "", 10, absl::InfiniteFuture()));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].max_in_flight, 5);

  // Another field: max_in_flight keeps its value.
  SubscriptionUpdate rename = Update("sub_1");
  rename.name = "renamed";
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord renamed,
                                store->Update(rename, absl::InfiniteFuture()));
  EXPECT_EQ(renamed.name, "renamed");
  EXPECT_EQ(renamed.max_in_flight, 5);

  SubscriptionUpdate cap = Update("sub_1");
  cap.max_in_flight = 9;
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord capped,
                                store->Update(cap, absl::InfiniteFuture()));
  EXPECT_EQ(capped.max_in_flight, 9);
  EXPECT_EQ(capped.name, "renamed");
  EXPECT_EQ(capped.version, renamed.version + 1);
  EXPECT_EQ(Lane(*db, "sub_1"), "true,9");
}

// A read-modify-write update names the version it read: a stale one is
// ABORTED and changes nothing; an unknown id is still NOT_FOUND.
TEST(PgSubscriptionStoreTest, UpdateAtAnExpectedVersionIsAbortedWhenStale) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      SubscriptionRecord created,
      store->Create(Record("sub_1", "k1:secret"), absl::InfiniteFuture()));
  SubscriptionUpdate first = Update("sub_1");
  first.name = "first";
  first.expected_version = created.version;
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord after,
                                store->Update(first, absl::InfiniteFuture()));
  EXPECT_EQ(after.version, created.version + 1);
  SubscriptionUpdate stale = Update("sub_1");
  stale.name = "stale";
  stale.expected_version = created.version;
  EXPECT_THAT(store->Update(stale, absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kAborted));
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      SubscriptionRecord got, store->Get("t", "sub_1", absl::InfiniteFuture()));
  EXPECT_EQ(got.name, "first");
  stale.id = "sub_nope";
  EXPECT_THAT(store->Update(stale, absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kNotFound));
}

// Enabling and disabling is one subscription row and its lane: the pending
// deliveries stay as they are ("held" is not a state; a disabled lane is
// simply not leased).
TEST(PgSubscriptionStoreTest, DisablingAndEnablingChangesTheLaneNotDeliveries) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  auto events = NewPgEventStore(pool.get());
  ASSERT_THAT(
      store->Create(Record("sub_1", "k1:secret"), absl::InfiniteFuture()),
      IsOk());
  for (int i = 0; i < 3; ++i) {
    NewEvent event{.id = absl::StrCat("evt_", i),
                   .type = "inbound_engagement",
                   .idempotency_key = absl::StrCat("key-", i),
                   .body = "{}",
                   .occurred_at = absl::Now()};
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(
        PublishResult published,
        events->Publish("t", event, absl::InfiniteFuture()));
    ASSERT_EQ(published.deliveries_created, 1);
  }
  const std::vector<std::string> before = DeliveryRows(*db, "sub_1");
  ASSERT_EQ(before.size(), 3u);
  for (const std::string& row : before) {
    EXPECT_THAT(row, ::testing::StartsWith("pending/"));
  }

  SubscriptionUpdate disable = Update("sub_1");
  disable.enabled = false;
  disable.disabled_reason = "test";
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord disabled,
                                store->Update(disable, absl::InfiniteFuture()));
  EXPECT_FALSE(disabled.enabled);
  EXPECT_EQ(disabled.disabled_reason, "test");
  EXPECT_EQ(Lane(*db, "sub_1"), "false,64");
  EXPECT_EQ(DeliveryRows(*db, "sub_1"), before);

  SubscriptionUpdate enable = Update("sub_1");
  enable.enabled = true;
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(SubscriptionRecord enabled,
                                store->Update(enable, absl::InfiniteFuture()));
  EXPECT_TRUE(enabled.enabled);
  EXPECT_EQ(enabled.disabled_reason, "");
  EXPECT_EQ(Lane(*db, "sub_1"), "true,64");
  EXPECT_EQ(DeliveryRows(*db, "sub_1"), before);
}

// A tenant at its limit gets RESOURCE_EXHAUSTED and nothing is written;
// other tenants are not counted against it; deleting one makes room; a
// repeated create of an existing record still returns it.
TEST(PgSubscriptionStoreTest, CreatesStopAtTheTenantsLimit) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get(), {.max_per_tenant = 2});
  SubscriptionRecord other = Record("sub_other", "k1:s");
  other.tenant_id = "other";
  ASSERT_THAT(store->Create(other, absl::InfiniteFuture()), IsOk());
  ASSERT_THAT(store->Create(Record("sub_1", "k1:a"), absl::InfiniteFuture()),
              IsOk());
  ASSERT_THAT(store->Create(Record("sub_2", "k1:b"), absl::InfiniteFuture()),
              IsOk());

  EXPECT_THAT(store->Create(Record("sub_3", "k1:c"), absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       ::testing::HasSubstr("tenant has 2 subscriptions")));
  EXPECT_EQ(db->QueryValue("SELECT count(*) FROM subscriptions WHERE "
                           "tenant_id = 't'"),
            "2");
  // A retry of a create that succeeded is still answered with the record.
  EXPECT_THAT(store->Create(Record("sub_2", "k1:b"), absl::InfiniteFuture()),
              IsOk());

  ASSERT_THAT(store->Delete("t", "sub_1", absl::InfiniteFuture()), IsOk());
  EXPECT_THAT(store->Create(Record("sub_3", "k1:c"), absl::InfiniteFuture()),
              IsOk());
}

// Creates racing for the last place: exactly the limit is stored.
TEST(PgSubscriptionStoreTest, ConcurrentCreatesDoNotPassTheLimit) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get(), {.max_per_tenant = 5});
  std::vector<std::thread> creators;
  std::atomic<int> created = 0;
  std::atomic<int> refused = 0;
  for (int i = 0; i < 8; ++i) {
    creators.emplace_back([&, i] {
      for (int j = 0; j < 3; ++j) {
        absl::StatusOr<SubscriptionRecord> r = store->Create(
            Record(absl::StrCat("sub_", i, "_", j), absl::StrCat("k1:", i, j)),
            absl::InfiniteFuture());
        if (r.ok()) ++created;
        if (r.status().code() == absl::StatusCode::kResourceExhausted)
          ++refused;
      }
    });
  }
  for (std::thread& t : creators) t.join();
  EXPECT_EQ(created.load(), 5);
  EXPECT_EQ(refused.load(), 19);
  EXPECT_EQ(db->QueryValue("SELECT count(*) FROM subscriptions"), "5");
}

// True once another backend of the database waits for a row lock: the
// publish has reached the subscription whose delete is not committed yet.
bool AwaitLockWaiter(const TestDatabase& db) {
  for (const absl::Time deadline = absl::Now() + absl::Seconds(10);
       absl::Now() < deadline;) {
    if (db.QueryValue("SELECT count(*) FROM pg_stat_activity "
                      "WHERE wait_event_type = 'Lock' AND "
                      "datname = current_database()") != "0") {
      return true;
    }
  }
  return false;
}

// A publish that meets a DeleteSubscription in flight fans out to the
// subscriptions that still exist; it used to fail whole with a foreign-key
// violation (INTERNAL), refusing the event for the tenant's other
// subscriptions too. Both the single and the batch statement.
TEST(PgSubscriptionStoreTest, PublishRacingADeleteFansOutToWhatRemains) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto pool,
                                PgPool::Create({.database_url = db->url()}));
  auto store = NewPgSubscriptionStore(pool.get());
  auto events = NewPgEventStore(pool.get());
  for (bool batch : {false, true}) {
    SCOPED_TRACE(batch ? "PublishBatch" : "Publish");
    const std::string doomed = batch ? "sub_doomed_b" : "sub_doomed";
    const std::string kept = batch ? "sub_kept_b" : "sub_kept";
    ASSERT_THAT(store->Create(Record(doomed, "k1:s"), absl::InfiniteFuture()),
                IsOk());
    ASSERT_THAT(store->Create(Record(kept, "k1:s"), absl::InfiniteFuture()),
                IsOk());

    // The delete, as the store runs it, held open in a transaction of its
    // own; the publish then waits on the doomed subscription's row.
    pqxx::connection deleter(db->url());
    pqxx::work deleting(deleter);
    deleting.exec0(absl::StrCat("DELETE FROM subscriptions WHERE id = ",
                                deleting.quote(doomed)));
    NewEvent event{.id = batch ? "evt_race_b" : "evt_race",
                   .type = "inbound_engagement",
                   .idempotency_key = batch ? "race-b" : "race",
                   .body = "{}",
                   .occurred_at = absl::Now()};
    absl::Status published;
    int64_t created = -1;
    std::thread publisher([&] {
      if (batch) {
        auto r = events->PublishBatch("t", {event}, absl::InfiniteFuture());
        published = r.status();
        if (r.ok()) created = (*r)[0].deliveries_created;
      } else {
        auto r = events->Publish("t", event, absl::InfiniteFuture());
        published = r.status();
        if (r.ok()) created = r->deliveries_created;
      }
    });
    const bool waited = AwaitLockWaiter(*db);
    deleting.commit();
    publisher.join();
    ASSERT_TRUE(waited) << "the publish never waited for the delete";
    EXPECT_THAT(published, IsOk());
    // The second round also fans out to the first round's kept one.
    EXPECT_EQ(created, batch ? 2 : 1);
    EXPECT_EQ(DeliveryRows(*db, kept).size(), 1u);
    EXPECT_TRUE(DeliveryRows(*db, doomed).empty());
  }
}

}  // namespace
}  // namespace webhooks::store
