#include "lib/store/pg_pool.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/store/pg_stores.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {
namespace {

using ::webhooks::testing::IsOk;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestDatabase;

TEST(PgPoolTest, RejectsSizeBelowOne) {
  EXPECT_THAT(PgPool::Create({.database_url = "postgresql:///x", .size = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PgPoolTest, ReusesReturnedConnectionsAndBoundsTheWait) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(),
                                 .size = 2,
                                 .acquire_timeout = absl::Milliseconds(200)}));
  {
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease a, pool->Acquire());
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease b, pool->Acquire());
    EXPECT_EQ(pool->InUse(), 2);
    const absl::Time start = absl::Now();
    EXPECT_THAT(pool->Acquire(),
                StatusIs(absl::StatusCode::kResourceExhausted));
    // Gave up at the acquire timeout, not before and not much after.
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
    // A caller deadline earlier than the timeout wins.
    EXPECT_THAT(pool->Acquire(absl::Now() + absl::Milliseconds(10)),
                StatusIs(absl::StatusCode::kResourceExhausted));
  }
  EXPECT_EQ(pool->InUse(), 0);
  EXPECT_THAT(pool->Acquire(), IsOk());
  // Both connections were kept open for reuse.
  EXPECT_EQ(db->Count("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                      "current_database() "
                      "AND pid <> pg_backend_pid()"),
            2);
}

TEST(PgPoolTest, UnreachableDatabaseIsUnavailableAndFreesTheSlot) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool,
      PgPool::Create({.database_url = "postgresql://postgres@127.0.0.1:1/x",
                      .size = 1,
                      .acquire_timeout = absl::Milliseconds(200)}));
  EXPECT_THAT(pool->Acquire(), StatusIs(absl::StatusCode::kUnavailable));
  // The failed connect gave its slot back: the next try fails the same way,
  // rather than waiting for a slot that is never freed.
  EXPECT_THAT(pool->Acquire(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(pool->InUse(), 0);
}

TEST(PgPoolTest, ReplacesConnectionsTheServerKilled) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 2}));
  auto store = NewPgSubscriptionStore(pool.get());
  // Two idle connections, both about to be killed.
  {
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease a, pool->Acquire());
    WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease b, pool->Acquire());
  }
  EXPECT_THAT(store->Get("t", "sub_x", absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kNotFound));
  // What a database restart does to every open session.
  db->Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
      "current_database() "
      "AND pid <> pg_backend_pid()");
  // The dead connection is dropped and the call retried on a fresh one: the
  // caller sees no error.
  EXPECT_THAT(store->Get("t", "sub_x", absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->Get("t", "sub_x", absl::InfiniteFuture()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(pool->InUse(), 0);
}

// Backends of the test database whose last statement was `query` (a
// statement only the pool's connections run).
int64_t Backends(TestDatabase& db, const std::string& query) {
  return db.Count(
      absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                   "current_database() AND query = '",
                   query, "'"));
}

// Warm with time to spare.
absl::Status WarmTo(PgPool& pool, int connections) {
  return pool.Warm(connections, absl::Now() + absl::Seconds(10));
}

TEST(PgPoolTest, WarmOpensConfiguredConnectionsWithTheirStatementsPrepared) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 4}));
  const std::string probe = "SELECT 42 AS warm_probe";
  pool->Prepare("warm_probe", probe);
  ASSERT_THAT(WarmTo(*pool, 3), IsOk());
  EXPECT_EQ(pool->InUse(), 0);
  // Each one's last statement was the PREPARE, after its settings (only
  // the pool's connections ran it, so nothing else is counted).
  EXPECT_EQ(Backends(*db, probe), 3);
  // Warm already: nothing more.
  ASSERT_THAT(WarmTo(*pool, 3), IsOk());
  EXPECT_EQ(Backends(*db, probe), 3);
  // Never more than the pool's size.
  ASSERT_THAT(WarmTo(*pool, 10), IsOk());
  EXPECT_EQ(Backends(*db, probe), 4);
}

TEST(PgPoolTest, WarmCountsBusyConnectionsAndNeverWaitsForThem) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 3}));
  const std::string probe = "SELECT 43 AS warm_probe";
  pool->Prepare("warm_probe", probe);
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease a, pool->Acquire());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease b, pool->Acquire());
  ASSERT_THAT(WarmTo(*pool, 2), IsOk());
  EXPECT_EQ(Backends(*db, probe), 2);
  // A third opens beside the two on loan, and waits for neither.
  ASSERT_THAT(WarmTo(*pool, 3), IsOk());
  EXPECT_EQ(Backends(*db, probe), 3);
  EXPECT_EQ(pool->InUse(), 2);
}

// A statement the server refuses (here: a table that does not exist, as
// with a schema older than the binary) fails its own calls, not every
// connection of the pool.
TEST(PgPoolTest, AStatementThatCannotBePreparedLeavesThePoolWorking) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 2}));
  pool->Prepare("broken", "SELECT * FROM no_such_table");
  const std::string probe = "SELECT 44 AS warm_probe";
  pool->Prepare("warm_probe", probe);
  ASSERT_THAT(WarmTo(*pool, 2), IsOk());
  EXPECT_EQ(Backends(*db, probe), 2);
  EXPECT_THAT(pool->Ping(absl::Now() + absl::Seconds(10)), IsOk());
}

// The warm-up runs on every new connection, after its statements are
// prepared (it may EXECUTE them), and what it writes is rolled back: the
// sequence (which no rollback resets) shows it ran, the table that it
// stays empty.
TEST(PgPoolTest, WarmUpRunsOnceOnEachNewConnectionAndIsRolledBack) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  db->Query(
      "CREATE SEQUENCE warm_up_runs; CREATE TABLE warm_up_rows (n bigint)");
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 3}));
  pool->Prepare("warm_insert",
                "INSERT INTO warm_up_rows SELECT nextval('warm_up_runs')");
  pool->WarmUp("EXECUTE warm_insert");
  ASSERT_THAT(WarmTo(*pool, 2), IsOk());
  EXPECT_EQ(db->Count("SELECT last_value FROM warm_up_runs"), 2);
  ASSERT_THAT(WarmTo(*pool, 2), IsOk());  // warm already: no new connection
  EXPECT_EQ(db->Count("SELECT last_value FROM warm_up_runs"), 2);
  // A connection opened on demand warms up too.
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease a, pool->Acquire());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease b, pool->Acquire());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(PgPool::Lease c, pool->Acquire());
  EXPECT_EQ(db->Count("SELECT last_value FROM warm_up_runs"), 3);
  EXPECT_EQ(db->Count("SELECT count(*) FROM warm_up_rows"), 0);
}

// A warm-up the server refuses is logged, and leaves its connection usable
// (not inside an aborted transaction).
TEST(PgPoolTest, AFailingWarmUpLeavesTheConnectionUsable) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 1}));
  pool->WarmUp("SELECT * FROM no_such_table");
  ASSERT_THAT(WarmTo(*pool, 1), IsOk());
  EXPECT_THAT(pool->Ping(absl::Now() + absl::Seconds(10)), IsOk());
}

// The event store's warm-up (both publishing statements) runs as written
// against the real schema: a refusal would only be logged, so the log is
// what is checked. It publishes nothing.
TEST(PgPoolTest, TheEventStoresWarmUpRunsCleanlyAndLeavesNoEvent) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db, TestDatabase::Create());
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool, PgPool::Create({.database_url = db->url(), .size = 2}));
  auto events = NewPgEventStore(pool.get());
  ::testing::internal::CaptureStderr();
  const absl::Status warmed = WarmTo(*pool, 2);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_THAT(warmed, IsOk());
  EXPECT_EQ(log, "");
  EXPECT_EQ(db->Count("SELECT count(*) FROM events"), 0);
}

TEST(PgPoolTest, WarmAgainstAnUnreachableDatabaseIsUnavailableAndFreesItsSlot) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(
      auto pool,
      PgPool::Create({.database_url = "postgresql://postgres@127.0.0.1:1/x",
                      .size = 1,
                      .acquire_timeout = absl::Milliseconds(200)}));
  EXPECT_THAT(WarmTo(*pool, 1), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(pool->Acquire(), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace webhooks::store
