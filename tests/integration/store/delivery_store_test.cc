// The contract of PgDeliveryStore (lib/store/delivery_store.h) against a real
// PostgreSQL: per-subscription caps across workers, round-robin leasing,
// disabled subscriptions, fencing, expired leases, 410s, the lock order and
// the publish/settle interlock of 0003_delivery_lanes.sql. Tests assert on
// what the tables hold. Races are made deterministic by holding row locks (or
// an uncommitted insert) on a connection of the test's own.
#include "lib/store/delivery_store.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <ostream>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/store/pg_pool.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {

// For gMock's messages (found by argument-dependent lookup).
void PrintTo(const LeasedDelivery& d, std::ostream* os) {
  *os << "{id " << d.id << ", token " << d.lease_token << ", attempt "
      << d.attempt << ", " << d.subscription_id << ", " << d.event_id << "}";
}

namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;
using ::webhooks::testing::IsOk;
using ::webhooks::testing::IsOkAndHolds;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestDatabase;

constexpr char kTenant[] = "t";
constexpr char kEventType[] = "engagement_dispatched";
// The lock_timeout of the stores under test: a write that meets a held lock
// fails after this long.
constexpr absl::Duration kLockTimeout = absl::Milliseconds(300);
// Bounds every wait for a condition; normally they take milliseconds.
constexpr absl::Duration kWait = absl::Seconds(10);

int64_t ToInt(const std::string& text) {
  int64_t value = 0;
  EXPECT_TRUE(absl::SimpleAtoi(text, &value)) << "'" << text << "'";
  return value;
}

std::vector<int64_t> Ids(const std::vector<LeasedDelivery>& leased) {
  std::vector<int64_t> ids;
  for (const LeasedDelivery& d : leased) ids.push_back(d.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> Sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// The leased deliveries of one subscription, by id.
std::vector<LeasedDelivery> Of(const std::vector<LeasedDelivery>& leased,
                               const std::string& subscription_id) {
  std::vector<LeasedDelivery> out;
  for (const LeasedDelivery& d : leased) {
    if (d.subscription_id == subscription_id) out.push_back(d);
  }
  std::sort(out.begin(), out.end(),
            [](const LeasedDelivery& x, const LeasedDelivery& y) {
              return x.id < y.id;
            });
  return out;
}

DeliveryOutcome Outcome(const LeasedDelivery& d, DeliveryOutcome::State state,
                        int http_status, const std::string& error_class) {
  DeliveryOutcome o;
  o.delivery_id = d.id;
  o.lease_token = d.lease_token;
  o.subscription_id = d.subscription_id;
  o.state = state;
  o.attempt = d.attempt;
  o.started_at = absl::Now();
  o.duration = absl::Milliseconds(3);
  o.http_status = http_status;
  o.error_class = error_class;
  o.response_excerpt = "excerpt";
  return o;
}

DeliveryOutcome Delivered(const LeasedDelivery& d) {
  return Outcome(d, DeliveryOutcome::State::kDelivered, 200, "success");
}

// Due again at `next_attempt_at`; already due when that is in the past.
DeliveryOutcome Retry(const LeasedDelivery& d,
                      absl::Time next_attempt_at = absl::Now() -
                                                   absl::Seconds(1)) {
  DeliveryOutcome o =
      Outcome(d, DeliveryOutcome::State::kRetry, 503, "http_5xx");
  o.next_attempt_at = next_attempt_at;
  return o;
}

constexpr char kGoneReason[] = "endpoint answered 410 Gone";

DeliveryOutcome Gone(const LeasedDelivery& d) {
  DeliveryOutcome o =
      Outcome(d, DeliveryOutcome::State::kFailed, 410, "http_410");
  o.disable_subscription = true;
  o.disable_reason = kGoneReason;
  return o;
}

LeaseRelease ReleaseOf(const LeasedDelivery& d) {
  return {.delivery_id = d.id,
          .lease_token = d.lease_token,
          .subscription_id = d.subscription_id};
}

// A transaction on a connection of its own, for holding row locks (or an
// uncommitted insert) while the store runs. Rolled back unless committed.
class SideTransaction {
 public:
  explicit SideTransaction(const std::string& url)
      : connection_(url), tx_(std::make_unique<pqxx::work>(connection_)) {}

  void Exec(const std::string& sql) { tx_->exec(sql); }
  void Commit() {
    tx_->commit();
    tx_.reset();
  }
  void Rollback() {
    tx_->abort();
    tx_.reset();
  }

 private:
  pqxx::connection connection_;
  std::unique_ptr<pqxx::work> tx_;
};

// One worker's view of the database: its own pool and store.
struct Worker {
  std::unique_ptr<PgPool> pool;
  std::unique_ptr<DeliveryStore> store;
};

class PgDeliveryStoreTest : public ::testing::Test {
 protected:
  // One database per suite, emptied before every test.
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_THAT(db, IsOk());
    db_ = db->release();
  }
  static void TearDownTestSuite() {
    delete db_;
    db_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(db_, nullptr);
    sql_ = std::make_unique<pqxx::connection>(db_->url());
    Query(
        "TRUNCATE delivery_attempts, deliveries, delivery_lanes, events, "
        "subscriptions RESTART IDENTITY");
    absl::StatusOr<std::unique_ptr<PgPool>> pool =
        PgPool::Create({.database_url = db_->url()});
    ASSERT_THAT(pool, IsOk());
    pool_ = *std::move(pool);
    subscriptions_ = NewPgSubscriptionStore(pool_.get());
    events_ = NewPgEventStore(pool_.get());
    store_ = NewPgDeliveryStore(pool_.get(), {.lock_timeout = kLockTimeout});
  }

  // Whatever a test did, every lane's in_flight equals the number of its
  // deliveries with a lease, which is never above its cap.
  void TearDown() override {
    if (sql_ == nullptr) return;
    EXPECT_THAT(Query("SELECT l.subscription_id || ' in_flight ' || "
                      "l.in_flight || ' leased ' || n.leased || ' cap ' "
                      "|| l.max_in_flight "
                      "FROM delivery_lanes l CROSS JOIN LATERAL ("
                      "  SELECT count(*) AS leased FROM deliveries d "
                      "  WHERE d.subscription_id = l.subscription_id "
                      "    AND d.leased_until IS NOT NULL) n "
                      "WHERE l.in_flight <> n.leased "
                      "   OR n.leased > l.max_in_flight"),
                IsEmpty());
  }

  const TestDatabase& db() { return *db_; }
  DeliveryStore& store() { return *store_; }
  static absl::Time Deadline() { return absl::Now() + kWait; }

  // A store on a pool of its own (another worker), with `lock_timeout`.
  Worker NewWorker(absl::Duration lock_timeout = kLockTimeout) {
    absl::StatusOr<std::unique_ptr<PgPool>> pool =
        PgPool::Create({.database_url = db_->url()});
    EXPECT_THAT(pool, IsOk());
    Worker worker;
    worker.pool = *std::move(pool);
    worker.store =
        NewPgDeliveryStore(worker.pool.get(), {.lock_timeout = lock_timeout});
    return worker;
  }

  void CreateSubscription(const std::string& id, int max_in_flight,
                          const std::string& tenant_id = kTenant) {
    SubscriptionRecord r;
    r.id = id;
    r.tenant_id = tenant_id;
    r.target_url = absl::StrCat("https://example.com/", id);
    r.event_types = {kEventType};
    r.custom_headers_sealed = "k1:headers";
    r.signing_secret_sealed = absl::StrCat("k1:secret-", id);
    r.max_in_flight = max_in_flight;
    ASSERT_THAT(subscriptions_->Create(r, Deadline()), IsOk());
  }

  void SetEnabled(const std::string& id, bool enabled,
                  const std::string& reason = "paused by an operator") {
    ASSERT_THAT(
        subscriptions_->Update(EnabledUpdate(id, enabled, reason), Deadline()),
        IsOk());
  }

  static SubscriptionUpdate EnabledUpdate(const std::string& id, bool enabled,
                                          const std::string& reason = "") {
    SubscriptionUpdate u;
    u.tenant_id = kTenant;
    u.id = id;
    u.enabled = enabled;
    u.disabled_reason = reason;
    return u;
  }

  // Adds `n` pending deliveries of `subscription_id` by plain SQL, due from
  // `age` + n ms ago to `age` ago, one millisecond apart, each of its own
  // event. Returns their ids, oldest first.
  std::vector<int64_t> AddDeliveries(
      const std::string& subscription_id, int n,
      absl::Duration age = absl::ZeroDuration()) {
    const std::string prefix =
        absl::StrCat("evt_", subscription_id, "_", ++batches_, "_");
    std::vector<int64_t> ids;
    for (const std::string& id : Query(absl::StrCat(
             "WITH g AS (SELECT i FROM generate_series(1, ", n,
             ") i), "
             "e AS (INSERT INTO events (id, tenant_id, type, idempotency_key, "
             "body, occurred_at) SELECT '",
             prefix, "' || i, '", kTenant, "', '", kEventType, "', '", prefix,
             "' || i, '{}', now() FROM g) "
             "INSERT INTO deliveries (tenant_id, event_id, subscription_id, "
             "next_attempt_at) SELECT '",
             kTenant, "', '", prefix, "' || i, '", subscription_id,
             "', now() - ", absl::ToInt64Microseconds(age),
             " * interval '1 microsecond' - (", n,
             " - i) * interval '1 millisecond' FROM g RETURNING id"))) {
      ids.push_back(ToInt(id));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // Publishes one event through the event store; returns its deliveries'
  // count.
  int Publish(const std::string& key) {
    NewEvent event{.id = absl::StrCat("evt_", key),
                   .type = kEventType,
                   .idempotency_key = key,
                   .body = absl::StrCat("{\"key\":\"", key, "\"}"),
                   .occurred_at = absl::Now()};
    absl::StatusOr<PublishResult> published =
        events_->Publish(kTenant, event, Deadline());
    EXPECT_THAT(published, IsOk());
    return published.ok() ? published->deliveries_created : -1;
  }

  std::vector<LeasedDelivery> Lease(
      DeliveryStore& from, int limit,
      absl::Duration lease_duration = absl::Seconds(60),
      std::vector<std::string> excluded_tenants = {}) {
    absl::StatusOr<std::vector<LeasedDelivery>> leased =
        from.Lease({.owner = "test",
                    .limit = limit,
                    .lease_duration = lease_duration,
                    .excluded_tenants = std::move(excluded_tenants)},
                   Deadline());
    EXPECT_THAT(leased, IsOk());
    return leased.ok() ? *std::move(leased) : std::vector<LeasedDelivery>{};
  }
  std::vector<LeasedDelivery> Lease(
      int limit, absl::Duration lease_duration = absl::Seconds(60)) {
    return Lease(*store_, limit, lease_duration);
  }

  // Runs `sql` (autocommit) and returns the first column of each row as text
  // ("" for NULL).
  std::vector<std::string> Query(const std::string& sql) {
    std::lock_guard<std::mutex> lock(sql_mu_);
    std::vector<std::string> out;
    try {
      pqxx::nontransaction tx(*sql_);
      for (const pqxx::row& row : tx.exec(sql)) {
        out.push_back(row[0].is_null() ? "" : row[0].as<std::string>());
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << sql << ": " << e.what();
    }
    return out;
  }
  std::string Value(const std::string& sql) {
    std::vector<std::string> rows = Query(sql);
    EXPECT_THAT(rows, SizeIs(1)) << sql;
    return rows.empty() ? "" : rows[0];
  }
  int64_t Count(const std::string& sql) { return ToInt(Value(sql)); }
  std::string DeliveryValue(int64_t id, const std::string& expression) {
    return Value(absl::StrCat("SELECT (", expression,
                              ")::text FROM deliveries WHERE id = ", id));
  }
  std::string LaneValue(const std::string& subscription_id,
                        const std::string& expression) {
    return Value(absl::StrCat("SELECT (", expression,
                              ")::text FROM delivery_lanes "
                              "WHERE subscription_id = '",
                              subscription_id, "'"));
  }
  std::string SubscriptionValue(const std::string& id,
                                const std::string& expression) {
    return Value(absl::StrCat("SELECT (", expression,
                              ")::text FROM subscriptions WHERE id = '", id,
                              "'"));
  }
  int64_t InFlight(const std::string& subscription_id) {
    return ToInt(LaneValue(subscription_id, "in_flight"));
  }
  // Deliveries of the subscription with a lease (leased and not written).
  int64_t Leased(const std::string& subscription_id) {
    return Count(absl::StrCat(
        "SELECT count(*) FROM deliveries WHERE subscription_id = '",
        subscription_id, "' AND leased_until IS NOT NULL"));
  }
  int64_t AttemptRows() {
    return Count("SELECT count(*) FROM delivery_attempts");
  }

  // Every row of `table` as "key/xmin": xmin changes whenever a row is
  // written, so equal snapshots mean no row was touched.
  std::vector<std::string> Rows(const std::string& table,
                                const std::string& key) {
    return Query(absl::StrCat("SELECT ", key, "::text || '/' || ",
                              "xmin::text FROM ", table, " ORDER BY ", key));
  }
  std::vector<std::string> DeliveryRows(const std::string& subscription_id) {
    return Query(
        absl::StrCat("SELECT id::text || '/' || xmin::text FROM deliveries "
                     "WHERE subscription_id = '",
                     subscription_id, "' ORDER BY id"));
  }
  // Everything the delivery store writes.
  std::vector<std::string> StoreState() {
    std::vector<std::string> state = Rows("deliveries", "id");
    for (const std::string& row : Rows("delivery_lanes", "subscription_id")) {
      state.push_back(row);
    }
    for (const std::string& row : Rows("subscriptions", "id")) {
      state.push_back(row);
    }
    state.push_back(absl::StrCat("attempts ", AttemptRows()));
    return state;
  }

  // Polls (a few milliseconds apart) until `condition` holds; false after
  // kWait.
  static bool Eventually(const std::function<bool()>& condition) {
    const absl::Time deadline = absl::Now() + kWait;
    while (!condition()) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  // Until the database's now() has passed every lease of these deliveries.
  bool LeasesExpired(const std::vector<LeasedDelivery>& leased) {
    std::vector<std::string> ids;
    for (const LeasedDelivery& d : leased) ids.push_back(absl::StrCat(d.id));
    const std::string sql = absl::StrCat(
        "SELECT coalesce(bool_and(now() > leased_until), true)::text "
        "FROM deliveries WHERE id IN (",
        absl::StrJoin(ids, ","), ")");
    return Eventually([&] { return Value(sql) == "true"; });
  }
  // Leases both deliveries of a new subscription sub_a, holds the lock that
  // `hold` returns (on a side transaction) while a write of both outcomes,
  // with a long lock_timeout, waits for it, and returns whether the NOWAIT
  // lock that `probe` returns could be taken meanwhile. Then lets the write
  // finish, and checks it applied both outcomes.
  bool ProbeWhileAWriteWaits(
      const std::function<std::string(const std::vector<LeasedDelivery>&)>&
          hold,
      const std::function<std::string(const std::vector<LeasedDelivery>&)>&
          probe) {
    CreateSubscription("sub_a", 10);
    AddDeliveries("sub_a", 2);
    const std::vector<LeasedDelivery> leased = Lease(2);
    EXPECT_THAT(leased, SizeIs(2));
    if (leased.size() != 2) return false;
    Worker patient = NewWorker(/*lock_timeout=*/kWait);

    SideTransaction holder(db().url());
    holder.Exec(hold(leased));
    std::future<absl::StatusOr<std::vector<int64_t>>> write =
        std::async(std::launch::async, [&] {
          return patient.store->Complete(
              {Delivered(leased[0]), Delivered(leased[1])}, Deadline());
        });
    EXPECT_TRUE(LockWaiters(1));
    bool probed = true;
    SideTransaction prober(db().url());
    try {
      prober.Exec(probe(leased));
    } catch (const std::exception&) {
      probed = false;
    }
    prober.Rollback();
    holder.Rollback();
    EXPECT_THAT(write.get(), IsOkAndHolds(SizeIs(2)));
    EXPECT_EQ(InFlight("sub_a"), 0);
    return probed;
  }

  // Until `n` sessions of the test database wait for a lock.
  bool LockWaiters(int n) {
    return Eventually([&] {
      return Count(
                 "SELECT count(*) FROM pg_stat_activity "
                 "WHERE datname = current_database() "
                 "AND wait_event_type = 'Lock'") >= n;
    });
  }

  static TestDatabase* db_;
  // The test's own connection, for what it asserts on (connecting anew for
  // every query costs more than the rest of a test).
  std::mutex sql_mu_;
  std::unique_ptr<pqxx::connection> sql_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<SubscriptionStore> subscriptions_;
  std::unique_ptr<EventStore> events_;
  std::unique_ptr<DeliveryStore> store_;
  int batches_ = 0;
};
TestDatabase* PgDeliveryStoreTest::db_ = nullptr;

// ---------------------------------------------------------------------------
// 1. The per-subscription cap.

TEST_F(PgDeliveryStoreTest, LeaseNeverTakesMoreThanTheCapInOneCallOrAcross) {
  CreateSubscription("sub_s", 3);
  CreateSubscription("sub_t", 2);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 10);
  const std::vector<int64_t> t = AddDeliveries("sub_t", 5);
  Worker other = NewWorker();

  // Within one call: each lane up to its cap, oldest first.
  const std::vector<LeasedDelivery> first = Lease(100);
  EXPECT_THAT(Ids(Of(first, "sub_s")),
              ElementsAreArray(s.begin(), s.begin() + 3));
  EXPECT_THAT(Ids(Of(first, "sub_t")),
              ElementsAreArray(t.begin(), t.begin() + 2));
  EXPECT_EQ(InFlight("sub_s"), 3);
  EXPECT_EQ(InFlight("sub_t"), 2);

  // Across calls, and across workers on another pool: nothing more.
  EXPECT_THAT(Lease(100), IsEmpty());
  EXPECT_THAT(Lease(*other.store, 100), IsEmpty());

  // Completing frees exactly the slots written, whoever leases next.
  const std::vector<LeasedDelivery> s_first = Of(first, "sub_s");
  EXPECT_THAT(store().Complete({Delivered(s_first[0]), Delivered(s_first[1])},
                               Deadline()),
              IsOkAndHolds(UnorderedElementsAreArray({s[0], s[1]})));
  EXPECT_EQ(InFlight("sub_s"), 1);
  EXPECT_EQ(InFlight("sub_t"), 2);
  const std::vector<LeasedDelivery> second = Lease(*other.store, 100);
  EXPECT_THAT(Ids(second), ElementsAreArray({s[3], s[4]}));
  EXPECT_EQ(InFlight("sub_s"), 3);
  EXPECT_THAT(Lease(100), IsEmpty());
  EXPECT_THAT(Lease(*other.store, 100), IsEmpty());
}

// The hand-off of CompleteAndHandOff: the slots a write frees go straight to
// due deliveries of the same lanes, which therefore never leave their cap.
TEST_F(PgDeliveryStoreTest, CompleteHandsFreedSlotsBackToTheirOwnLanes) {
  CreateSubscription("sub_s", 3);
  CreateSubscription("sub_t", 2);
  CreateSubscription("sub_u", 2);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 10);
  const std::vector<int64_t> t = AddDeliveries("sub_t", 5);
  const std::vector<int64_t> u = AddDeliveries("sub_u", 5);
  const std::vector<LeasedDelivery> first = Lease(100);
  ASSERT_EQ(first.size(), 7u);
  const std::vector<LeasedDelivery> s_first = Of(first, "sub_s");
  const std::vector<LeasedDelivery> t_first = Of(first, "sub_t");
  const std::vector<LeasedDelivery> u_first = Of(first, "sub_u");
  DeliveryOutcome stale = Delivered(u_first[0]);
  stale.lease_token += 1;  // fenced: frees nothing, so nothing is handed off

  absl::StatusOr<CompleteResult> written = store().CompleteAndHandOff(
      {Delivered(s_first[0]), Retry(s_first[1], absl::Now() + absl::Hours(1)),
       Delivered(t_first[0]), stale},
      {.owner = "other", .limit = 100, .lease_duration = absl::Seconds(90)},
      Deadline());
  ASSERT_THAT(written, IsOk());
  EXPECT_THAT(written->applied, UnorderedElementsAreArray({s[0], s[1], t[0]}));
  // Oldest due first, as many as each lane freed.
  EXPECT_THAT(Ids(written->handed_off),
              UnorderedElementsAreArray({s[3], s[4], t[2]}));
  for (const LeasedDelivery& d : written->handed_off) {
    SCOPED_TRACE(d.id);
    EXPECT_EQ(d.attempt, 1);
    EXPECT_EQ(DeliveryValue(d.id, "lease_owner"), "other");
    EXPECT_EQ(DeliveryValue(d.id, "lease_token"), absl::StrCat(d.lease_token));
    EXPECT_EQ(DeliveryValue(d.id, "leased_until > now() + interval '80 s'"),
              "true");
    EXPECT_EQ(d.target_url,
              absl::StrCat("https://example.com/", d.subscription_id));
    EXPECT_EQ(d.signing_secret_sealed,
              absl::StrCat("k1:secret-", d.subscription_id));
    ASSERT_NE(d.body, nullptr);
    EXPECT_EQ(*d.body, "{}");
    EXPECT_EQ(d.event_type, kEventType);
  }
  // The lanes never left their caps, and the leases say so.
  EXPECT_EQ(InFlight("sub_s"), 3);
  EXPECT_EQ(InFlight("sub_t"), 2);
  EXPECT_EQ(InFlight("sub_u"), 2);
  EXPECT_EQ(Leased("sub_s"), 3);
  EXPECT_EQ(Leased("sub_t"), 2);
  EXPECT_THAT(Lease(100), IsEmpty());

  // `limit` bounds the hand-off in all, taking each lane's first turn first.
  const std::vector<LeasedDelivery> handed = written->handed_off;
  absl::StatusOr<CompleteResult> again = store().CompleteAndHandOff(
      {Delivered(Of(handed, "sub_s")[0]), Delivered(Of(handed, "sub_s")[1]),
       Delivered(Of(handed, "sub_t")[0])},
      {.owner = "other", .limit = 2}, Deadline());
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(Ids(again->handed_off), UnorderedElementsAreArray({s[5], t[3]}));
  EXPECT_EQ(InFlight("sub_s"), 2);
  EXPECT_EQ(InFlight("sub_t"), 2);
  EXPECT_EQ(Leased("sub_s"), 2);
}

DeliveryOutcome FailedFinally(const LeasedDelivery& d) {
  return Outcome(d, DeliveryOutcome::State::kFailed, 500, "http_5xx");
}

// The lane keeps how its deliveries have been ending: failed ones in a row
// (a success resets the count; retries are failed attempts, not failed
// deliveries) and since when every attempt failed; a write reports the
// lanes it recorded a failed attempt of. DisableFailing re-checks that
// state, so a success written since cancels it.
TEST_F(PgDeliveryStoreTest, LanesCountFailuresInARowAndDisableFailingRechecks) {
  CreateSubscription("sub_f", 10);
  AddDeliveries("sub_f", 6);
  std::vector<LeasedDelivery> leased = Lease(100);
  ASSERT_EQ(leased.size(), 6u);
  const absl::Time first_start = absl::Now() - absl::Minutes(3);
  DeliveryOutcome first = FailedFinally(leased[0]);
  first.started_at = first_start;
  DeliveryOutcome retry = Retry(leased[1], absl::Now() + absl::Hours(1));
  retry.started_at = first_start + absl::Minutes(1);
  absl::StatusOr<CompleteResult> written =
      store().CompleteAndHandOff({first, retry}, {}, Deadline());
  ASSERT_THAT(written, IsOk());
  ASSERT_EQ(written->failing.size(), 1u);
  EXPECT_EQ(written->failing[0].subscription_id, "sub_f");
  EXPECT_EQ(written->failing[0].failed_in_a_row, 1);
  EXPECT_EQ(absl::ToUnixMicros(written->failing[0].failing_since),
            absl::ToUnixMicros(first_start));

  written =
      store().CompleteAndHandOff({FailedFinally(leased[2])}, {}, Deadline());
  ASSERT_THAT(written, IsOk());
  ASSERT_EQ(written->failing.size(), 1u);
  EXPECT_EQ(written->failing[0].failed_in_a_row, 2);
  // Still since the first failure.
  EXPECT_EQ(absl::ToUnixMicros(written->failing[0].failing_since),
            absl::ToUnixMicros(first_start));
  EXPECT_EQ(LaneValue("sub_f", "last_success_at IS NULL"), "true");
  EXPECT_EQ(LaneValue("sub_f", "last_failure_at > now() - interval '1 minute'"),
            "true");

  // Not yet three in a row: nothing disabled.
  absl::StatusOr<std::vector<std::string>> disabled =
      store().DisableFailing({{.subscription_id = "sub_f",
                               .reason = "test: 3 in a row",
                               .min_failed_in_a_row = 3}},
                             Deadline());
  ASSERT_THAT(disabled, IsOk());
  EXPECT_THAT(*disabled, IsEmpty());
  EXPECT_EQ(LaneValue("sub_f", "enabled"), "true");

  // A success resets both, and a write without failures reports nothing.
  written = store().CompleteAndHandOff({Delivered(leased[3])}, {}, Deadline());
  ASSERT_THAT(written, IsOk());
  EXPECT_THAT(written->failing, IsEmpty());
  EXPECT_EQ(LaneValue("sub_f", "failed_in_a_row"), "0");
  EXPECT_EQ(LaneValue("sub_f", "failing_since IS NULL"), "true");
  EXPECT_EQ(LaneValue("sub_f", "last_success_at > now() - interval '1 minute'"),
            "true");
  // The last failure stays on record.
  EXPECT_EQ(LaneValue("sub_f", "last_failure_at IS NOT NULL"), "true");

  written = store().CompleteAndHandOff(
      {FailedFinally(leased[4]), FailedFinally(leased[5])}, {}, Deadline());
  ASSERT_THAT(written, IsOk());
  ASSERT_EQ(written->failing.size(), 1u);
  EXPECT_EQ(written->failing[0].failed_in_a_row, 2);
  // By time: failing since before the cutoff.
  disabled = store().DisableFailing(
      {{.subscription_id = "sub_f",
        .reason = "test: failing for a minute",
        .min_failed_in_a_row = 3,
        .failing_before = absl::Now() + absl::Minutes(1)}},
      Deadline());
  ASSERT_THAT(disabled, IsOk());
  EXPECT_THAT(*disabled, ElementsAre("sub_f"));
  EXPECT_EQ(LaneValue("sub_f", "enabled"), "false");
  EXPECT_EQ(
      Value("SELECT disabled_reason FROM subscriptions WHERE id = 'sub_f'"),
      "test: failing for a minute");
  // Already disabled: not again.
  disabled = store().DisableFailing({{.subscription_id = "sub_f",
                                      .reason = "again",
                                      .min_failed_in_a_row = 1}},
                                    Deadline());
  ASSERT_THAT(disabled, IsOk());
  EXPECT_THAT(*disabled, IsEmpty());
  // Enabled again (the endpoint fixed), the count starts afresh: the
  // failures that disabled it must not disable it again at once.
  Value(
      "UPDATE subscriptions SET enabled = true WHERE id = 'sub_f' "
      "RETURNING 'ok'");
  EXPECT_EQ(LaneValue("sub_f", "failed_in_a_row"), "0");
  EXPECT_EQ(LaneValue("sub_f", "failing_since IS NULL"), "true");
}

// One delivery twice in a batch (a fenced outcome beside the outcome of its
// re-lease): only the one that applies is recorded, and the slot is freed
// once.
TEST_F(PgDeliveryStoreTest, ADeliveryTwiceInABatchIsRecordedAndFreedOnce) {
  CreateSubscription("sub_d", 5);
  AddDeliveries("sub_d", 2);
  const std::vector<LeasedDelivery> leased = Lease(100);
  ASSERT_EQ(leased.size(), 2u);
  ASSERT_EQ(InFlight("sub_d"), 2);
  DeliveryOutcome stale = FailedFinally(leased[0]);
  stale.lease_token -= 1;
  stale.started_at = absl::Now() - absl::Seconds(5);
  absl::StatusOr<CompleteResult> written =
      store().CompleteAndHandOff({stale, Delivered(leased[0])}, {}, Deadline());
  ASSERT_THAT(written, IsOk());
  EXPECT_THAT(written->applied, ElementsAre(leased[0].id));
  EXPECT_THAT(written->failing, IsEmpty());  // the failure did not apply
  EXPECT_EQ(InFlight("sub_d"), 1);
  EXPECT_EQ(
      Value(absl::StrCat("SELECT count(*)::text FROM delivery_attempts WHERE "
                         "delivery_id = ",
                         leased[0].id)),
      "1");
  EXPECT_EQ(LaneValue("sub_d", "failed_in_a_row"), "0");
}

TEST_F(PgDeliveryStoreTest, HandOffKeepsToALoweredCapAndSkipsADisabledLane) {
  CreateSubscription("sub_s", 4);
  CreateSubscription("sub_g", 2);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 10);
  const std::vector<int64_t> g = AddDeliveries("sub_g", 5);
  const std::vector<LeasedDelivery> first = Lease(100);
  const std::vector<LeasedDelivery> s_first = Of(first, "sub_s");
  const std::vector<LeasedDelivery> g_first = Of(first, "sub_g");
  ASSERT_EQ(s_first.size(), 4u);
  ASSERT_EQ(g_first.size(), 2u);
  Query("UPDATE subscriptions SET max_in_flight = 2 WHERE id = 'sub_s'");

  // 4 in flight against a cap of 2: freeing one leaves 3, no room.
  absl::StatusOr<CompleteResult> one = store().CompleteAndHandOff(
      {Delivered(s_first[0])}, {.owner = "w", .limit = 100}, Deadline());
  ASSERT_THAT(one, IsOk());
  EXPECT_THAT(one->handed_off, IsEmpty());
  EXPECT_EQ(InFlight("sub_s"), 3);
  // Freeing two more leaves 1: room for one.
  absl::StatusOr<CompleteResult> two =
      store().CompleteAndHandOff({Delivered(s_first[1]), Delivered(s_first[2])},
                                 {.owner = "w", .limit = 100}, Deadline());
  ASSERT_THAT(two, IsOk());
  EXPECT_THAT(Ids(two->handed_off), ElementsAreArray({s[4]}));
  EXPECT_EQ(InFlight("sub_s"), 2);

  // A 410 in the batch disables its lane first: nothing of it is handed off.
  absl::StatusOr<CompleteResult> gone =
      store().CompleteAndHandOff({Gone(g_first[0]), Delivered(g_first[1])},
                                 {.owner = "w", .limit = 100}, Deadline());
  ASSERT_THAT(gone, IsOk());
  EXPECT_THAT(gone->applied, UnorderedElementsAreArray({g[0], g[1]}));
  EXPECT_THAT(gone->handed_off, IsEmpty());
  EXPECT_EQ(InFlight("sub_g"), 0);
  EXPECT_EQ(Leased("sub_g"), 0);
}

TEST_F(PgDeliveryStoreTest, ReleaseFreesTheSlotAndKeepsTheDeliverysPlace) {
  CreateSubscription("sub_s", 2);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 4, absl::Minutes(1));
  const std::string next_attempt_at = DeliveryValue(s[1], "next_attempt_at");
  const std::vector<LeasedDelivery> leased = Lease(100);
  ASSERT_THAT(Ids(leased), ElementsAreArray({s[0], s[1]}));
  EXPECT_EQ(InFlight("sub_s"), 2);

  const LeasedDelivery& handed_back =
      leased[1].id == s[1] ? leased[1] : leased[0];
  EXPECT_THAT(store().Release({ReleaseOf(handed_back)}, Deadline()),
              IsOkAndHolds(1));
  EXPECT_EQ(InFlight("sub_s"), 1);
  EXPECT_EQ(DeliveryValue(s[1], "leased_until IS NULL"), "true");
  EXPECT_EQ(DeliveryValue(s[1], "lease_owner IS NULL"), "true");
  EXPECT_EQ(DeliveryValue(s[1], "attempts"), "0");
  EXPECT_EQ(DeliveryValue(s[1], "next_attempt_at"), next_attempt_at);
  // Releasing again, or a lease that is not held, changes nothing.
  EXPECT_THAT(store().Release({ReleaseOf(handed_back)}, Deadline()),
              IsOkAndHolds(0));
  EXPECT_EQ(InFlight("sub_s"), 1);

  // It kept its place in line: the freed slot takes it, not a younger one.
  const std::vector<LeasedDelivery> again = Lease(100);
  ASSERT_THAT(Ids(again), ElementsAreArray({s[1]}));
  EXPECT_EQ(again[0].attempt, 1);
  EXPECT_GT(again[0].lease_token, handed_back.lease_token);
  EXPECT_EQ(InFlight("sub_s"), 2);
}

// Two workers, each on a pool of its own, leasing and writing at once: at no
// moment does a lane have more leased-and-unwritten deliveries than its cap,
// and its in_flight is that count in every snapshot.
TEST_F(PgDeliveryStoreTest, TwoWorkersOnTwoPoolsNeverExceedTheCap) {
  CreateSubscription("sub_s", 4);
  CreateSubscription("sub_t", 3);
  AddDeliveries("sub_s", 60);
  AddDeliveries("sub_t", 30);
  constexpr int kTotal = 90;

  auto run = [&](DeliveryStore& worker, int round_robin_release) {
    for (int i = 0; i < 400; ++i) {
      absl::StatusOr<std::vector<LeasedDelivery>> leased =
          worker.Lease({.owner = "w",
                        .limit = 5,
                        .lease_duration = absl::Seconds(60),
                        .excluded_tenants = {}},
                       Deadline());
      EXPECT_THAT(leased, IsOk());
      if (!leased.ok()) return;
      // One snapshot of both lanes: leased rows never above the cap, and
      // in_flight exactly their count.
      for (const std::string& violation : Query(
               "SELECT l.subscription_id || ' in_flight ' || l.in_flight || "
               "' leased ' || n.leased FROM delivery_lanes l CROSS JOIN "
               "LATERAL (SELECT count(*) AS leased FROM deliveries d "
               "WHERE d.subscription_id = l.subscription_id "
               "AND d.leased_until IS NOT NULL) n "
               "WHERE l.in_flight <> n.leased OR n.leased > l.max_in_flight")) {
        ADD_FAILURE() << violation;
      }
      if (leased->empty()) {
        if (Count("SELECT count(*) FROM deliveries "
                  "WHERE state = 'pending'") == 0) {
          return;
        }
        std::this_thread::yield();
        continue;
      }
      // Hand one back now and then (it is leased again later), write the
      // rest.
      std::vector<DeliveryOutcome> outcomes;
      std::vector<LeaseRelease> releases;
      for (std::size_t j = 0; j < leased->size(); ++j) {
        const LeasedDelivery& d = (*leased)[j];
        if ((i + static_cast<int>(j)) % 7 == round_robin_release) {
          releases.push_back(ReleaseOf(d));
        } else {
          outcomes.push_back(Delivered(d));
        }
      }
      EXPECT_THAT(worker.Release(releases, Deadline()),
                  IsOkAndHolds(static_cast<int>(releases.size())));
      absl::StatusOr<std::vector<int64_t>> applied =
          worker.Complete(outcomes, Deadline());
      EXPECT_THAT(applied, IsOkAndHolds(SizeIs(outcomes.size())));
    }
    ADD_FAILURE() << "the queue did not drain";
  };
  Worker a = NewWorker();
  Worker b = NewWorker();
  std::thread ta([&] { run(*a.store, 0); });
  std::thread tb([&] { run(*b.store, 3); });
  ta.join();
  tb.join();

  // Each delivered once, each attempt counted once.
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries "
                  "WHERE state = 'delivered' AND attempts = 1"),
            kTotal);
  EXPECT_EQ(AttemptRows(), kTotal);
  EXPECT_EQ(InFlight("sub_s"), 0);
  EXPECT_EQ(InFlight("sub_t"), 0);
}

// ---------------------------------------------------------------------------
// 2. Round-robin: a large backlog does not starve a small one, and a lane at
// its cap costs a lease nothing.

TEST_F(PgDeliveryStoreTest, LeaseServesLanesRoundRobinAndSkipsCappedLanes) {
  CreateSubscription("sub_a", 10);
  CreateSubscription("sub_b", 100);
  // A's backlog is older than anything of B's.
  const std::vector<int64_t> a = AddDeliveries("sub_a", 5000, absl::Hours(1));
  const std::vector<int64_t> b = AddDeliveries("sub_b", 10);

  std::vector<LeasedDelivery> leased = Lease(20);
  EXPECT_THAT(leased, SizeIs(20));
  EXPECT_THAT(Of(leased, "sub_a"), Not(IsEmpty()));
  EXPECT_THAT(Ids(leased), Contains(b[0]));
  std::vector<int64_t> b_leased = Ids(Of(leased, "sub_b"));
  if (b_leased.size() < b.size()) {
    for (int64_t id : Ids(Of(Lease(20), "sub_b"))) b_leased.push_back(id);
  }
  EXPECT_THAT(Sorted(b_leased), ElementsAreArray(b));
  // A is at its cap now, all its slots leased.
  ASSERT_EQ(InFlight("sub_a"), 10);

  // While A is capped, leases keep returning B's new rows and never A's.
  const std::vector<int64_t> more_b = AddDeliveries("sub_b", 30);
  std::vector<int64_t> more_b_leased;
  for (int i = 0; i < 10; ++i) {
    const std::vector<LeasedDelivery> next = Lease(7);
    EXPECT_THAT(Of(next, "sub_a"), IsEmpty());
    EXPECT_THAT(next, SizeIs(::testing::Le(7)));
    if (next.empty()) break;
    for (int64_t id : Ids(next)) more_b_leased.push_back(id);
  }
  EXPECT_THAT(Sorted(more_b_leased), ElementsAreArray(more_b));
  EXPECT_THAT(Lease(20), IsEmpty());
  EXPECT_EQ(InFlight("sub_a"), 10);

  // A freed slot brings A back, with its oldest waiting row.
  const std::vector<LeasedDelivery> a_leased = Of(leased, "sub_a");
  EXPECT_THAT(store().Complete({Delivered(a_leased[0])}, Deadline()),
              IsOkAndHolds(ElementsAreArray({a_leased[0].id})));
  const std::vector<LeasedDelivery> freed = Lease(20);
  EXPECT_THAT(Ids(freed), ElementsAreArray({a[10]}));
  EXPECT_EQ(InFlight("sub_a"), 10);
}

// A worker whose slots are held by one tenant's deliveries leases past that
// tenant's lanes, whatever their age, and they keep their turn for later.
TEST_F(PgDeliveryStoreTest, LeasePassesOverExcludedTenantsLanes) {
  CreateSubscription("sub_x1", 10, "tenant_x");
  CreateSubscription("sub_x2", 10, "tenant_x");
  CreateSubscription("sub_y", 10, "tenant_y");
  EXPECT_EQ(LaneValue("sub_x1", "tenant_id"), "tenant_x");
  EXPECT_EQ(LaneValue("sub_y", "tenant_id"), "tenant_y");
  const std::vector<int64_t> x1 = AddDeliveries("sub_x1", 3, absl::Hours(1));
  const std::vector<int64_t> x2 = AddDeliveries("sub_x2", 3, absl::Hours(1));
  const std::vector<int64_t> y = AddDeliveries("sub_y", 3);

  // Quotes, commas and braces travel in the array literal unharmed.
  EXPECT_THAT(
      Ids(Lease(*store_, 100, absl::Seconds(60), {"tenant_x", "a \"b\", {c}"})),
      ElementsAreArray(y));
  EXPECT_THAT(Lease(*store_, 100, absl::Seconds(60), {"tenant_x"}), IsEmpty());
  EXPECT_EQ(InFlight("sub_x1"), 0);
  EXPECT_EQ(InFlight("sub_x2"), 0);

  // Not excluded any more: its lanes are served, all their rows.
  std::vector<int64_t> x = x1;
  x.insert(x.end(), x2.begin(), x2.end());
  std::sort(x.begin(), x.end());
  EXPECT_THAT(Sorted(Ids(Lease(100))), ElementsAreArray(x));
}

// ---------------------------------------------------------------------------
// 3. A disabled subscription's deliveries are not leased; enabling makes them
// leasable at once; neither touches a delivery row.

TEST_F(PgDeliveryStoreTest, DisabledSubscriptionIsNotLeasedUntilEnabled) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_o", 10);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 3);
  const std::vector<int64_t> o = AddDeliveries("sub_o", 1);
  const std::vector<std::string> before = DeliveryRows("sub_s");

  SetEnabled("sub_s", false);
  EXPECT_EQ(LaneValue("sub_s", "enabled"), "false");
  EXPECT_THAT(Ids(Lease(100)), ElementsAreArray(o));
  EXPECT_THAT(Lease(100), IsEmpty());
  EXPECT_EQ(DeliveryRows("sub_s"), before);

  SetEnabled("sub_s", true);
  EXPECT_EQ(LaneValue("sub_s", "enabled"), "true");
  EXPECT_EQ(DeliveryRows("sub_s"), before);
  const std::vector<LeasedDelivery> leased = Lease(100);
  EXPECT_THAT(Ids(leased), ElementsAreArray(s));
  for (const LeasedDelivery& d : leased) EXPECT_EQ(d.attempt, 1);
}

// A worker hands back what it leased but did not try. When the subscription
// was disabled meanwhile the delivery must still be handed back, so that it
// is due at once, with no stale lease, when the subscription is enabled.
TEST_F(PgDeliveryStoreTest, ReleaseHandsBackADeliveryDisabledMeanwhile) {
  CreateSubscription("sub_s", 10);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 1);
  const std::string next_attempt_at = DeliveryValue(s[0], "next_attempt_at");
  const std::vector<LeasedDelivery> leased = Lease(100);
  ASSERT_THAT(leased, SizeIs(1));

  SetEnabled("sub_s", false);
  EXPECT_THAT(store().Release({ReleaseOf(leased[0])}, Deadline()),
              IsOkAndHolds(1));
  EXPECT_EQ(DeliveryValue(s[0], "state"), "pending");
  EXPECT_EQ(DeliveryValue(s[0], "attempts"), "0");
  EXPECT_EQ(DeliveryValue(s[0], "leased_until IS NULL"), "true");
  EXPECT_EQ(DeliveryValue(s[0], "lease_owner IS NULL"), "true");
  EXPECT_EQ(DeliveryValue(s[0], "next_attempt_at"), next_attempt_at);
  EXPECT_EQ(InFlight("sub_s"), 0);
  EXPECT_THAT(Lease(100), IsEmpty());

  SetEnabled("sub_s", true);
  const std::vector<LeasedDelivery> again = Lease(100);
  ASSERT_THAT(Ids(again), ElementsAreArray(s));
  EXPECT_EQ(again[0].attempt, 1);
}

// ---------------------------------------------------------------------------
// 4. Fencing.

TEST_F(PgDeliveryStoreTest, WritesAreFencedByTheLeaseToken) {
  CreateSubscription("sub_s", 10);
  const int created = Publish("k1");
  ASSERT_EQ(created, 1);
  const std::vector<LeasedDelivery> first = Lease(10, absl::Milliseconds(1));
  ASSERT_THAT(first, SizeIs(1));
  EXPECT_EQ(first[0].event_id, "evt_k1");
  EXPECT_EQ(first[0].event_type, kEventType);
  EXPECT_EQ(first[0].attempt, 1);
  EXPECT_EQ(first[0].target_url, "https://example.com/sub_s");
  EXPECT_EQ(first[0].signing_secret_sealed, "k1:secret-sub_s");
  ASSERT_NE(first[0].body, nullptr);
  EXPECT_EQ(*first[0].body, "{\"key\":\"k1\"}");

  // Once the first lease has expired, another worker takes it over.
  ASSERT_TRUE(LeasesExpired(first));
  Worker other = NewWorker();
  const std::vector<LeasedDelivery> second = Lease(*other.store, 10);
  ASSERT_THAT(second, SizeIs(1));
  ASSERT_EQ(second[0].id, first[0].id);
  EXPECT_EQ(second[0].attempt, 1);
  EXPECT_GT(second[0].lease_token, first[0].lease_token);
  EXPECT_EQ(InFlight("sub_s"), 1);
  const std::vector<std::string> before = StoreState();

  // The first worker's outcome arrives late: ignored.
  EXPECT_THAT(store().Complete({Delivered(first[0])}, Deadline()),
              IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store().Complete({Gone(first[0])}, Deadline()),
              IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store().Release({ReleaseOf(first[0])}, Deadline()),
              IsOkAndHolds(0));
  EXPECT_EQ(StoreState(), before);
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "true");

  // The current holder's applies.
  EXPECT_THAT(other.store->Complete({Delivered(second[0])}, Deadline()),
              IsOkAndHolds(ElementsAreArray({second[0].id})));
  EXPECT_EQ(DeliveryValue(second[0].id, "state"), "delivered");
  EXPECT_EQ(DeliveryValue(second[0].id, "attempts"), "1");
  EXPECT_EQ(DeliveryValue(second[0].id, "last_status"), "200");
  EXPECT_EQ(DeliveryValue(second[0].id, "leased_until IS NULL"), "true");
  EXPECT_EQ(AttemptRows(), 1);
  EXPECT_EQ(InFlight("sub_s"), 0);
}

// A batch written twice (a retry after its answer was lost) counts each
// attempt once: a retry outcome leaves the row pending with the same lease
// token, so the token alone cannot tell the repeat apart.
TEST_F(PgDeliveryStoreTest, WritingTheSameOutcomesTwiceCountsEachAttemptOnce) {
  CreateSubscription("sub_s", 10);
  AddDeliveries("sub_s", 2);
  const std::vector<LeasedDelivery> leased = Lease(10);
  ASSERT_THAT(leased, SizeIs(2));
  const std::vector<DeliveryOutcome> batch = {
      Retry(leased[0], absl::Now() + absl::Hours(1)), Delivered(leased[1])};
  EXPECT_THAT(store().Complete(batch, Deadline()),
              IsOkAndHolds(UnorderedElementsAreArray(Ids(leased))));
  EXPECT_EQ(InFlight("sub_s"), 0);
  const std::vector<std::string> written = StoreState();
  EXPECT_THAT(store().Complete(batch, Deadline()), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(StoreState(), written);
  EXPECT_EQ(DeliveryValue(leased[0].id, "state"), "pending");
  EXPECT_EQ(DeliveryValue(leased[0].id, "attempts"), "1");
  EXPECT_EQ(DeliveryValue(leased[1].id, "state"), "delivered");
  EXPECT_EQ(DeliveryValue(leased[1].id, "attempts"), "1");
  EXPECT_EQ(AttemptRows(), 2);
  EXPECT_EQ(InFlight("sub_s"), 0);
}

// The same, when the worker knows its first write may have been applied (its
// answer was lost): marked maybe_written, the outcomes that write applied
// are reported applied again, changing nothing, so that its counters count
// them once. A lease taken over and written by another worker is still
// fenced off, although its attempt has the same number.
TEST_F(PgDeliveryStoreTest, AnOutcomeMaybeWrittenBeforeIsReportedOnceWritten) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_g", 10);
  AddDeliveries("sub_s", 3);
  AddDeliveries("sub_g", 1);
  const std::vector<LeasedDelivery> leased = Lease(10);
  const std::vector<LeasedDelivery> s = Of(leased, "sub_s");
  const std::vector<LeasedDelivery> g = Of(leased, "sub_g");
  ASSERT_THAT(s, SizeIs(3));
  ASSERT_THAT(g, SizeIs(1));
  std::vector<DeliveryOutcome> batch = {
      Retry(s[0], absl::Now() + absl::Hours(1)), Delivered(s[1])};
  ASSERT_THAT(store().Complete(batch, Deadline()), IsOk());
  const std::vector<std::string> written = StoreState();
  for (DeliveryOutcome& o : batch) o.maybe_written = true;
  EXPECT_THAT(store().Complete(batch, Deadline()),
              IsOkAndHolds(UnorderedElementsAre(s[0].id, s[1].id)));
  EXPECT_EQ(StoreState(), written);
  EXPECT_EQ(AttemptRows(), 2);

  // Through the write that also disables (a 410), likewise.
  DeliveryOutcome gone = Gone(g[0]);
  ASSERT_THAT(store().Complete({gone}, Deadline()), IsOk());
  gone.maybe_written = true;
  EXPECT_THAT(store().Complete({gone}, Deadline()),
              IsOkAndHolds(ElementsAre(g[0].id)));
  EXPECT_EQ(AttemptRows(), 3);

  // s[2]: taken over after its lease expired and written by the other
  // worker (attempt 1 too, started later).
  ASSERT_TRUE(store().Release({ReleaseOf(s[2])}, Deadline()).ok());
  const std::vector<LeasedDelivery> mine = Lease(10, absl::Milliseconds(1));
  ASSERT_THAT(mine, SizeIs(1));
  ASSERT_TRUE(LeasesExpired(mine));
  Worker other = NewWorker();
  const std::vector<LeasedDelivery> theirs = Lease(*other.store, 10);
  ASSERT_THAT(theirs, SizeIs(1));
  ASSERT_EQ(theirs[0].attempt, mine[0].attempt);
  DeliveryOutcome late = Delivered(mine[0]);
  late.started_at -= absl::Seconds(1);
  ASSERT_THAT(other.store->Complete({Delivered(theirs[0])}, Deadline()),
              IsOkAndHolds(ElementsAre(theirs[0].id)));
  late.maybe_written = true;
  EXPECT_THAT(store().Complete({late}, Deadline()), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(AttemptRows(), 4);
}

TEST_F(PgDeliveryStoreTest, CompleteReturnsExactlyTheOutcomesApplied) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_o", 10);
  AddDeliveries("sub_s", 4);
  AddDeliveries("sub_o", 1);
  const std::vector<LeasedDelivery> s = Of(Lease(10), "sub_s");
  ASSERT_THAT(s, SizeIs(4));
  ASSERT_THAT(store().Complete({Delivered(s[3])}, Deadline()), IsOk());
  ASSERT_EQ(AttemptRows(), 1);

  DeliveryOutcome stale = Delivered(s[2]);
  stale.lease_token -= 1;
  DeliveryOutcome unknown = Delivered(s[0]);
  unknown.delivery_id = 999999;
  absl::StatusOr<std::vector<int64_t>> applied = store().Complete(
      {Delivered(s[0]), stale, Retry(s[1]), Delivered(s[3]), unknown},
      Deadline());
  EXPECT_THAT(applied,
              IsOkAndHolds(UnorderedElementsAreArray({s[0].id, s[1].id})));
  EXPECT_EQ(AttemptRows(), 3);
  EXPECT_EQ(DeliveryValue(s[2].id, "attempts"), "0");
  EXPECT_EQ(DeliveryValue(s[2].id, "leased_until IS NOT NULL"), "true");
  EXPECT_EQ(InFlight("sub_s"), 1);  // s[2], still leased
  EXPECT_EQ(InFlight("sub_o"), 1);  // not in the batch
}

// ---------------------------------------------------------------------------
// 5. Expired leases (a dead worker).

// A capped lane whose leases all expired is served again; the take-over
// moves the slot the lease held instead of taking another one.
TEST_F(PgDeliveryStoreTest, ExpiredLeasesOfACappedLaneAreTakenOverInPlace) {
  CreateSubscription("sub_s", 2);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 3);
  const std::vector<LeasedDelivery> first = Lease(10, absl::Milliseconds(1));
  // One lease hands out each delivery once (a delivery returned twice would
  // be sent twice, all but one of its outcomes then fenced off).
  EXPECT_THAT(Ids(first), SizeIs(2));
  std::vector<int64_t> first_ids = Ids(first);
  first_ids.erase(std::unique(first_ids.begin(), first_ids.end()),
                  first_ids.end());
  ASSERT_THAT(first_ids, ElementsAreArray({s[0], s[1]}));
  ASSERT_EQ(InFlight("sub_s"), 2);
  ASSERT_TRUE(LeasesExpired(first));
  ASSERT_TRUE(Eventually([&] {
    return LaneValue("sub_s", "lease_expires_at < now()") == "true";
  }));

  const std::vector<LeasedDelivery> second = Lease(10);
  ASSERT_THAT(Ids(second), ElementsAreArray({s[0], s[1]}));
  for (const LeasedDelivery& d : second) {
    EXPECT_EQ(d.attempt, 1);
    for (const LeasedDelivery& old : first) {
      if (old.id == d.id) {
        EXPECT_GT(d.lease_token, old.lease_token);
      }
    }
    EXPECT_EQ(DeliveryValue(d.id, "attempts"), "0");
  }
  EXPECT_EQ(InFlight("sub_s"), 2);
  EXPECT_EQ(DeliveryValue(s[2], "leased_until IS NULL"), "true");
  EXPECT_THAT(Lease(10), IsEmpty());
}

// Below the cap, an expired lease is taken over by the next lease of its
// lane alongside fresh rows, again in its own slot.
// A lane at its cap holds a dead worker's lease that expired, beside live
// leases that a worker keeps renewing by hand-offs: a lease does not take the
// expired one over (not every lease of the lane has expired) until
// ReclaimExpired marks the lane; then the next lease takes it over in place.
TEST_F(PgDeliveryStoreTest, ReclaimLetsALeaseTakeOverADeadLeaseBesideLiveOnes) {
  CreateSubscription("sub_s", 2);
  AddDeliveries("sub_s", 5);
  const std::vector<LeasedDelivery> leased = Lease(2);
  ASSERT_THAT(leased, SizeIs(2));
  // One lease expired (its worker died); the lane's latest expiry is still
  // ahead, as a live worker's hand-offs keep it.
  Query(absl::StrCat(
      "UPDATE deliveries SET leased_until = now() - interval '1 second' "
      "WHERE id = ",
      leased[0].id, " RETURNING 1"));
  EXPECT_THAT(Lease(10), IsEmpty());
  EXPECT_THAT(store().ReclaimExpired(Deadline()), IsOkAndHolds(1));
  const std::vector<LeasedDelivery> taken = Lease(10);
  ASSERT_THAT(taken, SizeIs(1));
  EXPECT_EQ(taken[0].id, leased[0].id);
  EXPECT_GT(taken[0].lease_token, leased[0].lease_token);
  EXPECT_EQ(InFlight("sub_s"), 2);
  // Nothing left to reclaim: every lease of the lane is live.
  EXPECT_THAT(store().ReclaimExpired(Deadline()), IsOkAndHolds(0));
  EXPECT_THAT(Lease(10), IsEmpty());

  // A reclaim that loses its race (the expired lease taken over by another
  // worker between the reclaim's snapshot and its lock) leaves a capped lane
  // whose leases are all live looking stuck. The next lease finds nothing to
  // take over and sets the expiry back to the lane's latest live lease, so
  // that the lane stops looking stuck.
  Query(
      "UPDATE delivery_lanes SET lease_expires_at = now() - interval '1 "
      "second' WHERE subscription_id = 'sub_s' RETURNING 1");
  EXPECT_THAT(Lease(10), IsEmpty());
  EXPECT_EQ(LaneValue("sub_s", "lease_expires_at > now()"), "true");
  EXPECT_EQ(LaneValue("sub_s",
                      "lease_expires_at = (SELECT max(leased_until) "
                      "FROM deliveries WHERE subscription_id = "
                      "'sub_s')"),
            "true");
  EXPECT_EQ(InFlight("sub_s"), 2);
}

TEST_F(PgDeliveryStoreTest, AnExpiredLeaseIsTakenOverWithoutASecondSlot) {
  CreateSubscription("sub_s", 3);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 1);
  const std::vector<LeasedDelivery> first = Lease(10, absl::Milliseconds(1));
  ASSERT_THAT(Ids(first), ElementsAreArray(s));
  const std::vector<int64_t> more = AddDeliveries("sub_s", 5);
  ASSERT_TRUE(LeasesExpired(first));

  const std::vector<LeasedDelivery> second = Lease(10);
  // The taken-over lease plus the two free slots.
  EXPECT_THAT(Ids(second), ElementsAreArray({s[0], more[0], more[1]}));
  for (const LeasedDelivery& d : second) {
    EXPECT_EQ(d.attempt, 1);
    if (d.id == s[0]) {
      EXPECT_GT(d.lease_token, first[0].lease_token);
    }
  }
  EXPECT_EQ(InFlight("sub_s"), 3);
  EXPECT_EQ(Leased("sub_s"), 3);
}

// ---------------------------------------------------------------------------
// 6. 410 Gone.

TEST_F(PgDeliveryStoreTest, GoneDisablesTheSubscriptionAndItsRestWaits) {
  CreateSubscription("sub_s", 1);
  const std::vector<int64_t> s = AddDeliveries("sub_s", 4);
  const std::vector<LeasedDelivery> leased = Lease(10);
  ASSERT_THAT(Ids(leased), ElementsAreArray({s[0]}));
  const std::string version = SubscriptionValue("sub_s", "version");
  const std::vector<std::string> rest =
      Query(absl::StrCat("SELECT id::text || '/' || xmin::text FROM deliveries "
                         "WHERE subscription_id = 'sub_s' AND id <> ",
                         s[0], " ORDER BY id"));

  EXPECT_THAT(store().Complete({Gone(leased[0])}, Deadline()),
              IsOkAndHolds(ElementsAreArray({s[0]})));
  EXPECT_EQ(DeliveryValue(s[0], "state"), "failed");
  EXPECT_EQ(DeliveryValue(s[0], "last_status"), "410");
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "false");
  EXPECT_EQ(SubscriptionValue("sub_s", "disabled_reason"), kGoneReason);
  EXPECT_EQ(SubscriptionValue("sub_s", "version"),
            absl::StrCat(ToInt(version) + 1));
  EXPECT_EQ(LaneValue("sub_s", "enabled"), "false");
  EXPECT_EQ(InFlight("sub_s"), 0);
  // The others are untouched, pending, and not leased.
  EXPECT_EQ(
      Query(absl::StrCat("SELECT id::text || '/' || xmin::text FROM deliveries "
                         "WHERE subscription_id = 'sub_s' AND id <> ",
                         s[0], " ORDER BY id")),
      rest);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries "
                  "WHERE subscription_id = 'sub_s' AND state = 'pending'"),
            3);
  EXPECT_THAT(Lease(10), IsEmpty());
}

// Outcomes are written in batches: a retry written in the same batch as a 410
// of its subscription stays pending and waits, like every other delivery of
// it, and is leased again once the subscription is enabled.
TEST_F(PgDeliveryStoreTest, RetryInTheSameBatchAsAGoneWaitsForEnabling) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_o", 10);
  AddDeliveries("sub_s", 3);
  AddDeliveries("sub_o", 1);
  const std::vector<LeasedDelivery> leased = Lease(10);
  const std::vector<LeasedDelivery> s = Of(leased, "sub_s");
  const std::vector<LeasedDelivery> o = Of(leased, "sub_o");
  ASSERT_THAT(s, SizeIs(3));
  ASSERT_THAT(o, SizeIs(1));
  const LeasedDelivery& gone = s[0];
  const LeasedDelivery& retry = s[1];
  const LeasedDelivery& untried = s[2];

  EXPECT_THAT(
      store().Complete({Gone(gone), Retry(retry), Delivered(o[0])}, Deadline()),
      IsOkAndHolds(UnorderedElementsAreArray({gone.id, retry.id, o[0].id})));
  EXPECT_THAT(store().Release({ReleaseOf(untried)}, Deadline()),
              IsOkAndHolds(1));

  EXPECT_EQ(DeliveryValue(gone.id, "state"), "failed");
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "false");
  EXPECT_EQ(DeliveryValue(retry.id, "state"), "pending");
  EXPECT_EQ(DeliveryValue(retry.id, "attempts"), "1");
  EXPECT_EQ(DeliveryValue(retry.id, "last_status"), "503");
  EXPECT_EQ(DeliveryValue(untried.id, "state"), "pending");
  EXPECT_EQ(DeliveryValue(untried.id, "attempts"), "0");
  EXPECT_EQ(InFlight("sub_s"), 0);
  // Due, but held: neither leased nor counted as due.
  EXPECT_THAT(Lease(10), IsEmpty());
  absl::StatusOr<QueueStats> stats = store().Stats(Deadline());
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->due, 0);

  SetEnabled("sub_s", true);
  const std::vector<LeasedDelivery> again = Lease(10);
  ASSERT_THAT(Ids(again), ElementsAreArray(Sorted({retry.id, untried.id})));
  for (const LeasedDelivery& d : again) {
    EXPECT_EQ(d.attempt, d.id == retry.id ? 2 : 1);
  }
}

// ---------------------------------------------------------------------------
// 7a. Enabling racing a 410 (the subscription row lock).

TEST_F(PgDeliveryStoreTest, GoneWaitsForTheSubscriptionLockOrChangesNothing) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_o", 10);
  AddDeliveries("sub_s", 2);
  AddDeliveries("sub_o", 2);
  const std::vector<LeasedDelivery> leased = Lease(2);
  const std::vector<LeasedDelivery> s = Of(leased, "sub_s");
  const std::vector<LeasedDelivery> o = Of(leased, "sub_o");
  ASSERT_THAT(s, SizeIs(1));
  ASSERT_THAT(o, SizeIs(1));
  const std::vector<DeliveryOutcome> batch = {Gone(s[0]), Delivered(o[0])};

  {
    // An API call holds the subscription: the 410 gives up after the lock
    // timeout, having changed nothing; leasing is not held up meanwhile.
    SideTransaction api(db().url());
    api.Exec("SELECT id FROM subscriptions WHERE id = 'sub_s' FOR UPDATE");
    const std::vector<std::string> before = StoreState();
    EXPECT_THAT(store().Complete(batch, Deadline()),
                StatusIs(absl::StatusCode::kDeadlineExceeded));
    EXPECT_EQ(StoreState(), before);
    EXPECT_THAT(Lease(10), SizeIs(2));  // the others of sub_s and sub_o
    api.Rollback();
  }
  {
    // With a longer lock timeout it waits, and applies once the lock goes.
    Worker patient = NewWorker(absl::Seconds(5));
    SideTransaction api(db().url());
    api.Exec("SELECT id FROM subscriptions WHERE id = 'sub_s' FOR UPDATE");
    auto complete = std::async(std::launch::async, [&] {
      return patient.store->Complete(batch, Deadline());
    });
    ASSERT_TRUE(LockWaiters(1));
    EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "true");
    api.Rollback();
    EXPECT_THAT(complete.get(),
                IsOkAndHolds(UnorderedElementsAreArray({s[0].id, o[0].id})));
  }
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "false");
  EXPECT_EQ(LaneValue("sub_s", "enabled"), "false");
}

class EnableRacingGoneTest : public PgDeliveryStoreTest {
 protected:
  // A subscription with three deliveries, two of them leased (`gone_` and
  // `retry_`), disabled by an operator meanwhile.
  void SetUpSubscription(const std::string& id) {
    CreateSubscription(id, 2);
    all_ = AddDeliveries(id, 3);
    const std::vector<LeasedDelivery> leased = Of(Lease(10), id);
    ASSERT_THAT(leased, SizeIs(2));
    gone_ = leased[0];
    retry_ = leased[1];
    SetEnabled(id, false);
  }

  // Whatever the order, a disabled subscription's deliveries are not
  // leasable and an enabled one's are: none is left unleasable while its
  // subscription is enabled.
  void ExpectConsistent(const std::string& id) {
    const std::string enabled = SubscriptionValue(id, "enabled");
    EXPECT_EQ(LaneValue(id, "enabled"), enabled);
    EXPECT_EQ(DeliveryValue(gone_.id, "state"), "failed");
    EXPECT_EQ(DeliveryValue(retry_.id, "state"), "pending");
    EXPECT_EQ(InFlight(id), 0);
    const std::vector<int64_t> waiting = {retry_.id, all_[2]};
    if (enabled == "true") {
      EXPECT_THAT(Ids(Of(Lease(10), id)), ElementsAreArray(Sorted(waiting)));
    } else {
      EXPECT_THAT(Of(Lease(10), id), IsEmpty());
      SetEnabled(id, true);
      EXPECT_THAT(Ids(Of(Lease(10), id)), ElementsAreArray(Sorted(waiting)));
    }
  }

  std::vector<int64_t> all_;
  LeasedDelivery gone_;
  LeasedDelivery retry_;
};

TEST_F(EnableRacingGoneTest, EnableThenGone) {
  SetUpSubscription("sub_s");
  SetEnabled("sub_s", true);
  EXPECT_THAT(store().Complete({Gone(gone_), Retry(retry_)}, Deadline()),
              IsOkAndHolds(SizeIs(2)));
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "false");
  EXPECT_EQ(SubscriptionValue("sub_s", "disabled_reason"), kGoneReason);
  ExpectConsistent("sub_s");
}

TEST_F(EnableRacingGoneTest, GoneThenEnable) {
  SetUpSubscription("sub_s");
  EXPECT_THAT(store().Complete({Gone(gone_), Retry(retry_)}, Deadline()),
              IsOkAndHolds(SizeIs(2)));
  // Already disabled: the operator's reason stays.
  EXPECT_EQ(SubscriptionValue("sub_s", "disabled_reason"),
            "paused by an operator");
  SetEnabled("sub_s", true);
  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "true");
  ExpectConsistent("sub_s");
}

// Both wait on the subscription row an API call holds, then run in whichever
// order PostgreSQL grants the lock.
TEST_F(EnableRacingGoneTest, BothWaitingOnTheSubscriptionLock) {
  SetUpSubscription("sub_s");
  Worker patient = NewWorker(absl::Seconds(5));
  SideTransaction api(db().url());
  api.Exec("SELECT id FROM subscriptions WHERE id = 'sub_s' FOR UPDATE");
  auto complete = std::async(std::launch::async, [&] {
    return patient.store->Complete({Gone(gone_), Retry(retry_)}, Deadline());
  });
  auto enable = std::async(std::launch::async, [&] {
    return subscriptions_->Update(EnabledUpdate("sub_s", true), Deadline());
  });
  ASSERT_TRUE(LockWaiters(2));
  api.Rollback();
  EXPECT_THAT(complete.get(), IsOkAndHolds(SizeIs(2)));
  EXPECT_THAT(enable.get(), IsOk());
  ExpectConsistent("sub_s");
}

// ---------------------------------------------------------------------------
// 7b. Publishing racing the settling of a lane (the interlock of 0003).

class PublishRacingSettleTest : public PgDeliveryStoreTest {
 protected:
  // Leases and writes everything of the subscription, then leases again, so
  // that its lane is settled: next_due_at = infinity.
  void Settle(const std::string& id) {
    for (int i = 0; i < 5; ++i) {
      const std::vector<LeasedDelivery> leased =
          Lease(100, absl::Milliseconds(1));
      std::vector<DeliveryOutcome> outcomes;
      for (const LeasedDelivery& d : leased) outcomes.push_back(Delivered(d));
      ASSERT_THAT(store().Complete(outcomes, Deadline()), IsOk());
      if (LaneValue(id, "next_due_at") == "infinity") return;
      // Due again when the (short) leases it was settled to would expire.
      ASSERT_TRUE(Eventually(
          [&] { return LaneValue(id, "next_due_at <= now()") == "true"; }));
    }
    FAIL() << "lane " << id << " not settled: next_due_at "
           << LaneValue(id, "next_due_at");
  }
};

TEST_F(PublishRacingSettleTest, PublishWakesASettledLane) {
  CreateSubscription("sub_s", 10);
  ASSERT_EQ(Publish("k1"), 1);
  Settle("sub_s");
  EXPECT_EQ(LaneValue("sub_s", "next_due_at"), "infinity");
  EXPECT_THAT(Lease(10), IsEmpty());

  ASSERT_EQ(Publish("k2"), 1);
  EXPECT_EQ(LaneValue("sub_s", "next_due_at <= now()"), "true");
  const std::vector<LeasedDelivery> leased = Lease(10);
  ASSERT_THAT(leased, SizeIs(1));
  EXPECT_EQ(leased[0].event_id, "evt_k2");
}

// A settle holds its lane FOR UPDATE while it raises next_due_at: a publish
// waits for it, and its wake-up then sees the raised value and lowers it.
TEST_F(PublishRacingSettleTest, PublishWaitsForASettleAndWakesTheLane) {
  CreateSubscription("sub_s", 10);
  CreateSubscription("sub_d", 10);
  ASSERT_EQ(Publish("k1"), 2);
  Settle("sub_s");
  Settle("sub_d");
  ASSERT_EQ(LaneValue("sub_s", "next_due_at"), "infinity");
  // sub_d's lane is due again (as after a retry), as a settle would find it.
  Query(
      "UPDATE delivery_lanes SET next_due_at = now() "
      "WHERE subscription_id = 'sub_d'");

  SideTransaction settle(db().url());
  settle.Exec(
      "SELECT subscription_id FROM delivery_lanes "
      "WHERE subscription_id IN ('sub_d', 'sub_s') ORDER BY 1 FOR UPDATE");
  auto publish = std::async(std::launch::async, [&] { return Publish("k2"); });
  ASSERT_TRUE(LockWaiters(1));
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries "
                  "WHERE event_id = 'evt_k2'"),
            0);
  settle.Exec(
      "UPDATE delivery_lanes SET next_due_at = 'infinity' "
      "WHERE subscription_id IN ('sub_d', 'sub_s')");
  settle.Commit();
  EXPECT_EQ(publish.get(), 2);

  EXPECT_EQ(LaneValue("sub_s", "next_due_at <= now()"), "true");
  EXPECT_EQ(LaneValue("sub_d", "next_due_at <= now()"), "true");
  const std::vector<LeasedDelivery> leased = Lease(10);
  ASSERT_THAT(leased, SizeIs(2));
  for (const LeasedDelivery& d : leased) EXPECT_EQ(d.event_id, "evt_k2");
}

// The race the interlock exists for: a delivery inserted and not yet
// committed while a lease finds its lane empty and settles it. Once the
// publisher commits, the next lease returns the delivery.
TEST_F(PublishRacingSettleTest, DeliveryInsertedDuringASettleIsNotStranded) {
  CreateSubscription("sub_s", 10);  // due, with one delivery
  CreateSubscription("sub_z", 10);  // settled, then the insert wakes it
  ASSERT_EQ(Publish("k1"), 2);
  Settle("sub_z");
  ASSERT_EQ(LaneValue("sub_z", "next_due_at"), "infinity");
  const std::vector<int64_t> s = AddDeliveries("sub_s", 1);

  SideTransaction publisher(db().url());
  publisher.Exec(absl::StrCat(
      "INSERT INTO events (id, tenant_id, type, idempotency_key, body, "
      "occurred_at) VALUES ('evt_late', '",
      kTenant, "', '", kEventType, "', 'late', '{}', now())"));
  publisher.Exec(absl::StrCat(
      "INSERT INTO deliveries (tenant_id, event_id, subscription_id) "
      "VALUES ('",
      kTenant, "', 'evt_late', 'sub_s'), ('", kTenant,
      "', 'evt_late', 'sub_z')"));

  // sub_s runs out of (visible) rows and is settled; sub_z, which the
  // uncommitted wake-up holds, is skipped.
  const std::vector<LeasedDelivery> leased = Lease(10);
  EXPECT_THAT(Ids(leased), ElementsAreArray(s));
  EXPECT_THAT(Lease(10), IsEmpty());
  publisher.Commit();

  const std::vector<LeasedDelivery> late = Lease(10);
  ASSERT_THAT(late, SizeIs(2));
  for (const LeasedDelivery& d : late) EXPECT_EQ(d.event_id, "evt_late");
}

// A publish racing a disable: its fan-out saw the subscription enabled, and
// the disable commits while the publish's delivery row waits for the lane
// (its foreign-key check, held up here by a side transaction). The row is
// simply held: no lease returns or reads it, the queue statistics leave it
// out, and it is leased as soon as the subscription is enabled again.
TEST_F(PublishRacingSettleTest, PublishRacingADisableLeavesItsDeliveryHeld) {
  CreateSubscription("sub_s", 10);
  SideTransaction lane(db().url());
  lane.Exec(
      "SELECT 1 FROM delivery_lanes WHERE subscription_id = 'sub_s' "
      "FOR UPDATE");
  auto publish = std::async(std::launch::async, [&] { return Publish("k1"); });
  ASSERT_TRUE(LockWaiters(1));
  auto disable =
      std::async(std::launch::async, [&] { SetEnabled("sub_s", false); });
  ASSERT_TRUE(LockWaiters(2));
  lane.Commit();
  EXPECT_EQ(publish.get(), 1);
  disable.get();

  EXPECT_EQ(SubscriptionValue("sub_s", "enabled"), "false");
  EXPECT_EQ(LaneValue("sub_s", "enabled"), "false");
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries "
                  "WHERE subscription_id = 'sub_s' AND state = 'pending'"),
            1);
  EXPECT_THAT(Lease(10), IsEmpty());
  absl::StatusOr<QueueStats> stats = store().Stats(Deadline());
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->due, 0);
  EXPECT_EQ(stats->oldest_due_age, absl::ZeroDuration());

  SetEnabled("sub_s", true);
  const std::vector<LeasedDelivery> leased = Lease(10);
  ASSERT_THAT(leased, SizeIs(1));
  EXPECT_EQ(leased[0].event_id, "evt_k1");
}

// ---------------------------------------------------------------------------
// 7c, 7d. Workers writing at once.

// Two workers write a 410 for the same subscription at once, each in a batch
// with another subscription's deliveries: both succeed, and the subscription
// is disabled once.
TEST_F(PgDeliveryStoreTest, TwoWorkersWritingAGoneForOneSubscription) {
  CreateSubscription("sub_m", 10);
  CreateSubscription("sub_a", 10);
  CreateSubscription("sub_z", 10);
  AddDeliveries("sub_m", 4);
  AddDeliveries("sub_a", 2);
  AddDeliveries("sub_z", 2);
  const std::vector<LeasedDelivery> leased = Lease(100);
  const std::vector<LeasedDelivery> m = Of(leased, "sub_m");
  const std::vector<LeasedDelivery> a = Of(leased, "sub_a");
  const std::vector<LeasedDelivery> z = Of(leased, "sub_z");
  ASSERT_THAT(m, SizeIs(4));
  ASSERT_THAT(a, SizeIs(2));
  ASSERT_THAT(z, SizeIs(2));
  const std::string version = SubscriptionValue("sub_m", "version");

  Worker one = NewWorker(absl::Seconds(5));
  Worker two = NewWorker(absl::Seconds(5));
  // Both start while the subscription is held, so that they run together
  // once it is released.
  SideTransaction api(db().url());
  api.Exec("SELECT id FROM subscriptions WHERE id = 'sub_m' FOR UPDATE");
  auto first = std::async(std::launch::async, [&] {
    return one.store->Complete(
        {Delivered(a[0]), Gone(m[0]), Retry(m[2]), Delivered(z[0])},
        Deadline());
  });
  auto second = std::async(std::launch::async, [&] {
    return two.store->Complete(
        {Delivered(z[1]), Gone(m[1]), Retry(m[3]), Delivered(a[1])},
        Deadline());
  });
  ASSERT_TRUE(LockWaiters(2));
  api.Rollback();
  EXPECT_THAT(first.get(), IsOkAndHolds(SizeIs(4)));
  EXPECT_THAT(second.get(), IsOkAndHolds(SizeIs(4)));

  EXPECT_EQ(SubscriptionValue("sub_m", "enabled"), "false");
  EXPECT_EQ(SubscriptionValue("sub_m", "version"),
            absl::StrCat(ToInt(version) + 1));
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE state = "
                  "'delivered'"),
            4);
  EXPECT_EQ(Count("SELECT count(*) FROM deliveries WHERE state = "
                  "'failed'"),
            2);
  EXPECT_EQ(AttemptRows(), 8);
  EXPECT_EQ(InFlight("sub_m"), 0);
  EXPECT_THAT(Lease(100), IsEmpty());
}

// A lane another transaction holds: a batch with it gives up after the lock
// timeout having changed nothing (the worker's batcher then splits it); a
// batch without it, and leasing, go on meanwhile.
TEST_F(PgDeliveryStoreTest, CompleteGivesUpOnALockedLaneAndChangesNothing) {
  CreateSubscription("sub_a", 10);
  CreateSubscription("sub_b", 10);
  AddDeliveries("sub_a", 2);
  AddDeliveries("sub_b", 4);
  const std::vector<LeasedDelivery> leased = Lease(4);
  const std::vector<LeasedDelivery> a = Of(leased, "sub_a");
  const std::vector<LeasedDelivery> b = Of(leased, "sub_b");
  ASSERT_THAT(a, SizeIs(2));
  ASSERT_THAT(b, SizeIs(2));

  SideTransaction holder(db().url());
  holder.Exec(
      "SELECT subscription_id FROM delivery_lanes "
      "WHERE subscription_id = 'sub_a' FOR UPDATE");
  const std::vector<std::string> before = StoreState();
  EXPECT_THAT(store().Complete({Delivered(b[0]), Delivered(a[0])}, Deadline()),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(store().Release({ReleaseOf(a[1])}, Deadline()),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(StoreState(), before);

  EXPECT_THAT(store().Complete({Delivered(b[0]), Retry(b[1])}, Deadline()),
              IsOkAndHolds(UnorderedElementsAreArray({b[0].id, b[1].id})));
  const std::vector<LeasedDelivery> meanwhile = Lease(10);
  EXPECT_THAT(Of(meanwhile, "sub_a"), IsEmpty());
  EXPECT_THAT(Of(meanwhile, "sub_b"), SizeIs(3));
  holder.Rollback();

  EXPECT_THAT(store().Complete({Delivered(a[0]), Delivered(a[1])}, Deadline()),
              IsOkAndHolds(SizeIs(2)));
  EXPECT_EQ(InFlight("sub_a"), 0);
}

// Two stores with different lock timeouts on one pool (one connection): each
// runs with its own, whichever used the connection last.
TEST_F(PgDeliveryStoreTest, EachStoreOnASharedPoolKeepsItsOwnLockTimeout) {
  CreateSubscription("sub_a", 10);
  AddDeliveries("sub_a", 2);
  absl::StatusOr<std::unique_ptr<PgPool>> pool =
      PgPool::Create({.database_url = db().url(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  auto patient =
      NewPgDeliveryStore(pool->get(), {.lock_timeout = absl::Seconds(30)});
  auto impatient =
      NewPgDeliveryStore(pool->get(), {.lock_timeout = absl::Milliseconds(50)});
  absl::StatusOr<std::vector<LeasedDelivery>> leased =
      patient->Lease({.owner = "w",
                      .limit = 2,
                      .lease_duration = absl::Seconds(60),
                      .excluded_tenants = {}},
                     Deadline());
  ASSERT_THAT(leased, IsOkAndHolds(SizeIs(2)));

  SideTransaction holder(db().url());
  holder.Exec(
      "SELECT subscription_id FROM delivery_lanes "
      "WHERE subscription_id = 'sub_a' FOR UPDATE");
  // The connection last ran with 30 s; this store's 50 ms still applies.
  const absl::Time start = absl::Now();
  EXPECT_THAT(impatient->Complete({Delivered((*leased)[0])}, Deadline()),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  holder.Rollback();
  EXPECT_THAT(patient->Complete({Delivered((*leased)[0])}, Deadline()),
              IsOkAndHolds(SizeIs(1)));
}

// The lock order (delivery_store.h) of a write with no 410, whose lane lock
// and outcome statement travel as one message: while it waits for a lane,
// it holds no delivery row (a subscription's delete, which takes the lane
// and then its deliveries, could otherwise deadlock with it).
TEST_F(PgDeliveryStoreTest, WriteWaitingForItsLaneHoldsNoDelivery) {
  EXPECT_TRUE(ProbeWhileAWriteWaits(
      [](const std::vector<LeasedDelivery>&) {
        return std::string(
            "SELECT subscription_id FROM delivery_lanes "
            "WHERE subscription_id = 'sub_a' FOR UPDATE");
      },
      [](const std::vector<LeasedDelivery>& leased) {
        return absl::StrCat("SELECT id FROM deliveries WHERE id IN (",
                            leased[0].id, ",", leased[1].id,
                            ") FOR UPDATE NOWAIT");
      }));
}

// ... and the lane stays locked while the write takes its deliveries: the
// lock and the outcome statement are one transaction, not two.
TEST_F(PgDeliveryStoreTest, WriteKeepsItsLaneLockedWhileItWaitsForADelivery) {
  EXPECT_FALSE(ProbeWhileAWriteWaits(
      [](const std::vector<LeasedDelivery>& leased) {
        return absl::StrCat("SELECT id FROM deliveries WHERE id = ",
                            leased[1].id, " FOR UPDATE");
      },
      [](const std::vector<LeasedDelivery>&) {
        return std::string(
            "SELECT subscription_id FROM delivery_lanes "
            "WHERE subscription_id = 'sub_a' FOR NO KEY UPDATE NOWAIT");
      }));
}

// The lock order (delivery_store.h): a writer locks the lanes of its batch
// in subscription id order. A 410 must not take its lane out of that order:
// while it waits for a lower lane, another writer holding that lower lane
// must be able to take the 410's lane, or the two deadlock.
TEST_F(PgDeliveryStoreTest, GoneKeepsTheLaneLockOrder) {
  CreateSubscription("sub_a", 10);
  CreateSubscription("sub_x", 10);
  AddDeliveries("sub_a", 1);
  AddDeliveries("sub_x", 1);
  const std::vector<LeasedDelivery> leased = Lease(10);
  const std::vector<LeasedDelivery> a = Of(leased, "sub_a");
  const std::vector<LeasedDelivery> x = Of(leased, "sub_x");
  ASSERT_THAT(a, SizeIs(1));
  ASSERT_THAT(x, SizeIs(1));

  // Another writer, with sub_a and sub_x in its batch, has locked sub_a.
  SideTransaction other(db().url());
  other.Exec(
      "SELECT subscription_id FROM delivery_lanes "
      "WHERE subscription_id = 'sub_a' FOR NO KEY UPDATE");
  auto complete = std::async(std::launch::async, [&] {
    return store().Complete({Delivered(a[0]), Gone(x[0])}, Deadline());
  });
  ASSERT_TRUE(LockWaiters(1));
  // ... and takes sub_x next, as its lock order says. If the 410's writer
  // holds sub_x's lane while it waits for sub_a's, the two deadlock, and the
  // 410's writer fails at its lock timeout.
  other.Exec("SET LOCAL lock_timeout = '5s'");
  other.Exec(
      "SELECT subscription_id FROM delivery_lanes "
      "WHERE subscription_id = 'sub_x' FOR NO KEY UPDATE");
  other.Rollback();
  EXPECT_THAT(complete.get(),
              IsOkAndHolds(UnorderedElementsAreArray({a[0].id, x[0].id})));
  EXPECT_EQ(SubscriptionValue("sub_x", "enabled"), "false");
}

// ---------------------------------------------------------------------------
// 8. Stats.

// Attempts have no foreign key (0004_attempts_without_foreign_key.sql): a
// trigger removes them with their deliveries, whichever way those go.
TEST_F(PgDeliveryStoreTest, AttemptsGoWithTheirDeliveries) {
  CreateSubscription("sub_a", 10);
  CreateSubscription("sub_b", 10);
  AddDeliveries("sub_a", 3);
  AddDeliveries("sub_b", 2);
  std::vector<DeliveryOutcome> outcomes;
  for (const LeasedDelivery& d : Lease(100)) outcomes.push_back(Retry(d));
  ASSERT_EQ(outcomes.size(), 5u);
  ASSERT_THAT(store().Complete(outcomes, Deadline()), IsOkAndHolds(SizeIs(5)));
  ASSERT_EQ(AttemptRows(), 5);

  // An event's deletion cascades to its delivery, and on to the attempt.
  Query(absl::StrCat(
      "DELETE FROM events WHERE id = (SELECT event_id FROM deliveries "
      "WHERE subscription_id = 'sub_a' ORDER BY id LIMIT 1)"));
  EXPECT_EQ(AttemptRows(), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM delivery_attempts a WHERE NOT EXISTS "
                  "(SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)"),
            0);

  // A subscription's deletion leaves its deliveries to the purge, whose
  // deletes take their attempts along (and so would the lane's cascade).
  ASSERT_THAT(subscriptions_->Delete(kTenant, "sub_a", Deadline()), IsOk());
  EXPECT_EQ(AttemptRows(), 4);
  Query("DELETE FROM delivery_lanes WHERE subscription_id = 'sub_a'");
  EXPECT_EQ(AttemptRows(), 2);

  Query("TRUNCATE deliveries");
  EXPECT_EQ(AttemptRows(), 0);
}

// The outcome write runs with a generic plan (pg_delivery_store.cc): its
// row estimates are guesses, so every table must be reached through an index
// condition, never by a scan of the whole table (which a join the planner
// turns into a hash join becomes, and which made generic plans slow before).
// Tables are filled so that a whole-table scan would not be chosen for
// their size alone.
TEST_F(PgDeliveryStoreTest, OutcomeWritesGenericPlanReadsNoTableWhole) {
  Query(
      "INSERT INTO subscriptions (id, tenant_id, target_url, event_types, "
      "custom_headers_sealed, signing_secret_sealed) "
      "SELECT 'sub_' || i, 't', 'https://example.com/', "
      "'{engagement_dispatched}', 'k1:h', 'k1:s' "
      "FROM generate_series(1, 5000) i");
  AddDeliveries("sub_1", 10000);
  AddDeliveries("sub_2", 10000);
  ASSERT_THAT(store().Lease({.owner = "w",
                             .limit = 100,
                             .lease_duration = absl::Seconds(60),
                             .excluded_tenants = {}},
                            Deadline()),
              IsOkAndHolds(Not(IsEmpty())));
  Query("ANALYZE");
  Query("SET plan_cache_mode = force_generic_plan");
  Query(absl::StrCat("PREPARE complete_plan AS ",
                     PgCompleteStatementForTesting()));
  const std::vector<std::string> plan = Query(
      "EXPLAIN (FORMAT JSON) EXECUTE complete_plan('{1,2}', '{1,1}', "
      "'{delivered,pending}', '{2026-01-01 00:00:00Z,2026-01-01 00:00:00Z}', "
      "'{1,1}', '{2026-01-01 00:00:00Z,2026-01-01 00:00:00Z}', '{1000,1000}', "
      "'{200,503}', '{success,http_5xx}', '{\"\\\\x\",\"\\\\x\"}', 'w', 10, "
      "60000)");
  ASSERT_THAT(plan, SizeIs(1));
  ASSERT_THAT(plan[0], ::testing::HasSubstr("\"Operation\": \"Update\""));
  // In EXPLAIN's JSON, a scan's "Relation Name" follows its "Node Type".
  std::vector<std::string> whole;
  const std::string seq = "\"Node Type\": \"Seq Scan\"";
  for (size_t at = plan[0].find(seq); at != std::string::npos;
       at = plan[0].find(seq, at + 1)) {
    const size_t name = plan[0].find("\"Relation Name\": \"", at);
    if (name == std::string::npos) break;
    const size_t start = name + std::string("\"Relation Name\": \"").size();
    whole.push_back(plan[0].substr(start, plan[0].find('"', start) - start));
  }
  EXPECT_THAT(whole, IsEmpty()) << plan[0];
}

TEST_F(PgDeliveryStoreTest, StatsCountDueWaitingAndInFlight) {
  // A disabled subscription: one leased before it was disabled, two older
  // than anything else, held.
  CreateSubscription("sub_d", 10);
  AddDeliveries("sub_d", 1, absl::Minutes(10));
  ASSERT_THAT(Lease(1), SizeIs(1));
  AddDeliveries("sub_d", 2, absl::Minutes(5));
  SetEnabled("sub_d", false);
  // An enabled one: four due (40 s to 10 s old), one leased of them, one due
  // in an hour.
  CreateSubscription("sub_e", 10);
  for (int age : {40, 30, 20, 10}) {
    AddDeliveries("sub_e", 1, absl::Seconds(age));
  }
  Query(
      "UPDATE deliveries SET next_attempt_at = now() + interval '1 hour' "
      "WHERE id = (" +
      absl::StrCat(AddDeliveries("sub_e", 1)[0]) + ")");
  const std::vector<LeasedDelivery> leased = Lease(1);
  ASSERT_THAT(leased, SizeIs(1));
  EXPECT_EQ(leased[0].subscription_id, "sub_e");

  absl::StatusOr<QueueStats> stats = store().Stats(Deadline());
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->due, 3);
  EXPECT_FALSE(stats->due_is_estimate);
  EXPECT_GE(stats->oldest_due_age, absl::Seconds(30));
  EXPECT_LT(stats->oldest_due_age, absl::Seconds(40));
  EXPECT_EQ(stats->in_flight, 2);

  // Nothing due: no age.
  std::vector<DeliveryOutcome> outcomes = {Delivered(leased[0])};
  for (const LeasedDelivery& d : Lease(10)) outcomes.push_back(Delivered(d));
  ASSERT_THAT(store().Complete(outcomes, Deadline()), IsOkAndHolds(SizeIs(4)));
  stats = store().Stats(Deadline());
  ASSERT_THAT(stats, IsOk());
  EXPECT_EQ(stats->due, 0);
  EXPECT_EQ(stats->oldest_due_age, absl::ZeroDuration());
  EXPECT_EQ(stats->in_flight, 1);
}

}  // namespace
}  // namespace webhooks::store
