// Retention against a real database: exactly what is old enough goes, with
// its attempts; pending deliveries and what they need stay; batches go on
// past the first thousand rows.
#include "lib/store/retention.h"

#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/ids.h"
#include "lib/store/delivery_store.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {
namespace {

using ::webhooks::testing::IsOk;
using ::webhooks::testing::TestDatabase;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = TestDatabase::Create();
    ASSERT_THAT(db, IsOk());
    db_ = *std::move(db);
    auto pool = PgPool::Create({.database_url = db_->url()});
    ASSERT_THAT(pool, IsOk());
    pool_ = *std::move(pool);
    subscriptions_ = NewPgSubscriptionStore(pool_.get());
    auto& subscriptions = subscriptions_;
    for (const std::string id : {"sub_a", "sub_b"}) {
      SubscriptionRecord r;
      r.id = id;
      r.tenant_id = "t";
      r.target_url = "https://example.com/";
      r.event_types = {"inbound_engagement"};
      r.custom_headers_sealed = "k1:h";
      r.signing_secret_sealed = "k1:s";
      r.max_in_flight = 64;
      ASSERT_THAT(subscriptions->Create(r, absl::InfiniteFuture()), IsOk());
    }
  }

  // An event created `age` before now_, with an id of that time.
  std::string Event(absl::Duration age) {
    const absl::Time at = now_ - age;
    const std::string id = common::NewId(common::kEventIdPrefix, at, rng_);
    db_->Query(absl::StrCat(
        "INSERT INTO events (id, tenant_id, type, idempotency_key, body, "
        "occurred_at, created_at) VALUES ('",
        id, "', 't', 'inbound_engagement', '", id, "', '{}', now(), '",
        absl::FormatTime(at), "') RETURNING 1"));
    return id;
  }

  // A delivery of `event` to `sub`, created with its event, in `state`, with
  // one attempt row. Returns its id.
  std::string Delivery(const std::string& event, const std::string& sub,
                       const std::string& state) {
    const std::string id = db_->QueryValue(absl::StrCat(
        "INSERT INTO deliveries (tenant_id, event_id, subscription_id, state, "
        "created_at, completed_at) SELECT 't', id, '",
        sub, "', '", state, "', created_at, CASE WHEN '", state,
        "' = 'pending' THEN NULL ELSE created_at END FROM events WHERE id = '",
        event, "' RETURNING id"));
    db_->Query(absl::StrCat(
        "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, "
        "duration_us, error_class) VALUES (",
        id, ", 1, now(), 1, 'success') RETURNING 1"));
    return id;
  }

  bool Exists(const std::string& table, const std::string& id) {
    return db_->Count(absl::StrCat("SELECT count(*) FROM ", table,
                                   " WHERE id = '", id, "'")) == 1;
  }
  long long Attempts(const std::string& delivery) {
    return db_->Count(absl::StrCat(
        "SELECT count(*) FROM delivery_attempts WHERE delivery_id = ",
        delivery));
  }

  absl::StatusOr<RetentionReport> Run(RetentionPolicy policy = {}) {
    return DeleteExpired(*pool_, policy, now_, absl::Now() + absl::Minutes(1));
  }

  const absl::Duration kDay = absl::Hours(24);
  const absl::Time now_ = absl::Now();
  absl::BitGen rng_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<SubscriptionStore> subscriptions_;
};

TEST_F(RetentionTest, DeletesExactlyWhatIsOldEnoughWithItsAttempts) {
  const std::string old_event = Event(31 * kDay);
  const std::string old_delivered = Delivery(old_event, "sub_a", "delivered");
  const std::string old_discarded = Delivery(old_event, "sub_b", "discarded");
  const std::string young_event = Event(29 * kDay);
  const std::string young_delivered =
      Delivery(young_event, "sub_a", "delivered");
  // Failed ones are kept three times as long.
  const std::string failing_event = Event(31 * kDay);
  const std::string failed_31 = Delivery(failing_event, "sub_a", "failed");
  const std::string ancient_event = Event(91 * kDay);
  const std::string failed_91 = Delivery(ancient_event, "sub_b", "failed");
  // Pending (held, say), however old: kept, and its event with it.
  const std::string held_event = Event(200 * kDay);
  const std::string held = Delivery(held_event, "sub_b", "pending");
  // Events with no delivery: by age alone.
  const std::string lonely_old = Event(31 * kDay);
  const std::string lonely_young = Event(29 * kDay);

  absl::StatusOr<RetentionReport> report = Run();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->deliveries, 3);  // old delivered, discarded, failed at 91
  EXPECT_FALSE(Exists("deliveries", old_delivered));
  EXPECT_FALSE(Exists("deliveries", old_discarded));
  EXPECT_FALSE(Exists("deliveries", failed_91));
  EXPECT_EQ(Attempts(old_delivered), 0);
  EXPECT_EQ(Attempts(failed_91), 0);
  EXPECT_TRUE(Exists("deliveries", young_delivered));
  EXPECT_TRUE(Exists("deliveries", failed_31));
  EXPECT_TRUE(Exists("deliveries", held));
  EXPECT_EQ(Attempts(held), 1);
  // Events: old ones left without deliveries go (their idempotency keys with
  // them); those still referred to, and young ones, stay.
  EXPECT_EQ(report->events, 3);  // old_event, ancient_event, lonely_old
  EXPECT_FALSE(Exists("events", old_event));
  EXPECT_FALSE(Exists("events", ancient_event));
  EXPECT_FALSE(Exists("events", lonely_old));
  EXPECT_TRUE(Exists("events", young_event));
  EXPECT_TRUE(Exists("events", failing_event));
  EXPECT_TRUE(Exists("events", held_event));
  EXPECT_TRUE(Exists("events", lonely_young));

  // A second pass finds nothing more.
  report = Run();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->deliveries, 0);
  EXPECT_EQ(report->events, 0);
}

TEST_F(RetentionTest, GoesOnPastOneBatchWithKeptRowsAmongTheDeleted) {
  // 2,500 old delivered rows of one subscription with kept rows among them
  // (failed ones younger than their period), in batches of 1,000; rows
  // share their creation time seven at a time, so a batch ends inside a
  // group of equal times (the position is (created_at, id), not the time).
  db_->Query(absl::StrCat(
      "INSERT INTO events (id, tenant_id, type, idempotency_key, body, "
      "occurred_at, created_at) SELECT 'evt_' || lpad(g::text, 26, '0'), 't', "
      "'inbound_engagement', 'k' || g, '{}', now(), now() - interval '40 "
      "days' + (g / 7) * interval '1 second' FROM generate_series(1, 2600) g "
      "RETURNING 1"));
  db_->Query(
      "INSERT INTO deliveries (tenant_id, event_id, subscription_id, state, "
      "created_at, completed_at) SELECT 't', id, 'sub_a', CASE WHEN "
      "right(id, 2)::int % 26 = 0 THEN 'failed' ELSE 'delivered' END, "
      "created_at, created_at FROM events RETURNING 1");
  const long long delivered =
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'delivered'");
  const long long failed =
      db_->Count("SELECT count(*) FROM deliveries WHERE state = 'failed'");
  ASSERT_GT(delivered, 2000);
  ASSERT_GT(failed, 50);
  absl::StatusOr<RetentionReport> report = Run();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->deliveries, delivered);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM deliveries"), failed);
  // The ids of these events are not time-ordered ULIDs of 40 days ago
  // (all zeros first), so they sort below the cut: each went once its
  // deliveries had.
  EXPECT_EQ(report->events, delivered);
  // Statements, each its own short transaction: the deleted subscriptions'
  // list (1: empty), the subscription list (2: a page, then the empty end),
  // sub_a's 2,600 rows read once in 3 batches plus 1 for its failures,
  // sub_b's 1 + 1, the events in 3.
  EXPECT_EQ(report->statements, 1 + 2 + 3 + 1 + 2 + 3);
}

// A retry by hand that commits while retention is deleting the row: the row
// is pending by then, and stays. Retention is made to wait on the row's lock
// (held by a second connection, which then makes the row pending and
// commits), so the race is exact, not timed.
TEST_F(RetentionTest, ARowRetriedWhileBeingDeletedIsKept) {
  const std::string event = Event(31 * kDay);
  const std::string d = Delivery(event, "sub_a", "delivered");
  pqxx::connection other(db_->url());
  pqxx::work tx(other);
  tx.exec(
      absl::StrCat("SELECT 1 FROM deliveries WHERE id = ", d, " FOR UPDATE"));
  absl::StatusOr<RetentionReport> report;
  std::thread cleanup([&] { report = Run(); });
  // Until retention waits for that lock (polling a condition).
  bool waiting = false;
  for (absl::Time until = absl::Now() + absl::Seconds(30);
       !waiting && absl::Now() < until;) {
    waiting = db_->Count(
                  "SELECT count(*) FROM pg_stat_activity WHERE "
                  "wait_event_type = 'Lock' AND query LIKE "
                  "'%DELETE FROM deliveries%'") > 0;
    if (!waiting) absl::SleepFor(absl::Milliseconds(5));
  }
  tx.exec(absl::StrCat(
      "UPDATE deliveries SET state = 'pending', completed_at = NULL WHERE id "
      "= ",
      d));
  tx.commit();
  cleanup.join();
  ASSERT_TRUE(waiting) << "retention never waited for the row";
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->deliveries, 0);
  EXPECT_TRUE(Exists("deliveries", d));
  EXPECT_EQ(Attempts(d), 1);
  EXPECT_TRUE(Exists("events", event));
}

// DeleteSubscription touches two rows whatever the backlog (it used to
// delete every delivery and attempt in one statement, past the statement
// timeout for a busy subscription); from then on the deliveries are neither
// read, retried, leased nor published to, and cleanup purges them in
// batches, then the lane.
TEST_F(RetentionTest, ADeletedSubscriptionIsPurgedInBatchesAfterwards) {
  constexpr int kBacklog = 2500;
  db_->Query(absl::StrCat(
      "WITH ev AS (INSERT INTO events (id, tenant_id, type, idempotency_key, "
      "body, occurred_at) SELECT 'evt_del_' || g, 't', 'inbound_engagement', "
      "'del_' || g, '{}', now() FROM generate_series(1, ",
      kBacklog,
      ") g RETURNING id), d AS (INSERT INTO deliveries (tenant_id, event_id, "
      "subscription_id, state) SELECT 't', id, 'sub_a', CASE WHEN id LIKE "
      "'%0' THEN 'delivered' ELSE 'pending' END FROM ev RETURNING id) INSERT "
      "INTO delivery_attempts (delivery_id, attempt, started_at, duration_us, "
      "error_class) SELECT id, 1, now(), 1, 'success' FROM d RETURNING 1"));
  const std::string kept_event = Event(kDay);
  const std::string kept = Delivery(kept_event, "sub_b", "pending");
  const std::string doomed = db_->QueryValue(
      "SELECT min(id) FROM deliveries WHERE subscription_id = 'sub_a'");

  ASSERT_THAT(subscriptions_->Delete("t", "sub_a", absl::InfiniteFuture()),
              IsOk());
  // Nothing of the backlog was touched...
  EXPECT_EQ(db_->Count("SELECT count(*) FROM deliveries WHERE "
                       "subscription_id = 'sub_a'"),
            kBacklog);
  EXPECT_EQ(db_->QueryValue("SELECT deleted::text || enabled::text FROM "
                            "delivery_lanes WHERE subscription_id = 'sub_a'"),
            "truefalse");
  // ... and none of it is visible or leasable any more.
  auto log = NewPgDeliveryLogStore(pool_.get());
  EXPECT_EQ(
      log->Get("t", std::stoll(doomed), absl::InfiniteFuture()).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(log->Retry("t", std::stoll(doomed), absl::InfiniteFuture())
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(log->Get("t", std::stoll(kept), absl::InfiniteFuture()), IsOk());
  auto deliveries = NewPgDeliveryStore(pool_.get());
  absl::StatusOr<std::vector<LeasedDelivery>> leased =
      deliveries->Lease({.owner = "w",
                         .limit = 100,
                         .lease_duration = absl::Seconds(60),
                         .excluded_tenants = {}},
                        absl::InfiniteFuture());
  ASSERT_THAT(leased, IsOk());
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ(std::to_string((*leased)[0].id), kept);
  absl::StatusOr<PublishResult> published =
      NewPgEventStore(pool_.get())
          ->Publish("t",
                    {.id = "evt_after",
                     .type = "inbound_engagement",
                     .idempotency_key = "after",
                     .body = "{}",
                     .occurred_at = now_},
                    absl::InfiniteFuture());
  ASSERT_THAT(published, IsOk());
  EXPECT_EQ(published->deliveries_created, 1);  // sub_b's only

  RetentionPolicy policy;
  policy.batch = 1000;
  absl::StatusOr<RetentionReport> report = Run(policy);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->deliveries, kBacklog);
  EXPECT_EQ(report->subscriptions, 1);
  EXPECT_GE(report->statements, kBacklog / policy.batch + 1);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM deliveries WHERE "
                       "subscription_id = 'sub_a'"),
            0);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM delivery_lanes WHERE "
                       "subscription_id = 'sub_a'"),
            0);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM delivery_attempts a WHERE NOT "
                       "EXISTS (SELECT 1 FROM deliveries d WHERE d.id = "
                       "a.delivery_id)"),
            0);
  EXPECT_TRUE(Exists("deliveries", kept));
  EXPECT_EQ(Attempts(kept), 1);
  // Their events are young: they stay until their own retention.
  EXPECT_TRUE(Exists("events", "evt_del_1"));

  report = Run(policy);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->subscriptions, 0);
  EXPECT_EQ(report->deliveries, 0);
}

// Lanes whose subscriptions went another way than DeleteSubscription: a
// TRUNCATE (the trigger retires every lane) or a delete with triggers off
// (cleanup finds the lane without its subscription). Neither is leased, and
// cleanup purges both.
TEST_F(RetentionTest, LanesLeftWithoutTheirSubscriptionArePurgedToo) {
  const std::string event = Event(kDay);
  Delivery(event, "sub_a", "pending");
  Delivery(event, "sub_b", "pending");
  db_->Query(
      "BEGIN; SET LOCAL session_replication_role = replica; "
      "DELETE FROM subscriptions WHERE id = 'sub_b'; COMMIT");
  EXPECT_EQ(db_->QueryValue("SELECT deleted::text FROM delivery_lanes WHERE "
                            "subscription_id = 'sub_b'"),
            "false");
  db_->Query("TRUNCATE subscriptions");
  EXPECT_EQ(db_->QueryValue("SELECT deleted::text || enabled::text FROM "
                            "delivery_lanes WHERE subscription_id = 'sub_a'"),
            "truefalse");

  absl::StatusOr<RetentionReport> report = Run();
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->subscriptions, 2);
  EXPECT_EQ(report->deliveries, 2);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM delivery_lanes"), 0);
  EXPECT_EQ(db_->Count("SELECT count(*) FROM deliveries"), 0);
}

}  // namespace
}  // namespace webhooks::store
