#include "lib/store/migrations.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_database.h"

namespace webhooks::store {
namespace {

using ::webhooks::testing::IsOk;
using ::webhooks::testing::IsOkAndHolds;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestDatabase;

TEST(MigrateTest, AppliesEveryMigrationOnceAndIsIdempotent) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db,
                                TestDatabase::Create(/*migrate=*/false));
  EXPECT_THAT(AppliedSchemaVersion(db->url()), IsOkAndHolds(0));

  absl::StatusOr<int> first = Migrate(db->url());
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_THAT(AppliedSchemaVersion(db->url()),
              IsOkAndHolds(LatestSchemaVersion()));
  EXPECT_EQ(db->Count("SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(EmbeddedMigrations().size()));
  for (const char* table :
       {"subscriptions", "events", "deliveries", "delivery_attempts"}) {
    EXPECT_EQ(db->QueryValue(absl::StrCat("SELECT to_regclass('", table,
                                          "') IS NOT NULL")),
              "t")
        << table;
  }

  absl::StatusOr<int> second = Migrate(db->url());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(*second, 0);
}

TEST(MigrateTest, ConcurrentRunnersApplyEachMigrationExactlyOnce) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db,
                                TestDatabase::Create(/*migrate=*/false));
  constexpr int kRunners = 6;
  std::vector<absl::StatusOr<int>> results(kRunners, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] { results[i] = Migrate(db->url()); });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    total += *r;
  }
  EXPECT_EQ(total, static_cast<int>(EmbeddedMigrations().size()));
  EXPECT_THAT(AppliedSchemaVersion(db->url()),
              IsOkAndHolds(LatestSchemaVersion()));
}

TEST(MigrateTest, ServersRefuseAnOlderSchema) {
  WEBHOOKS_ASSERT_OK_AND_ASSIGN(auto db,
                                TestDatabase::Create(/*migrate=*/false));
  EXPECT_THAT(CheckSchemaIsCurrent(db->url()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::HasSubstr("webhooks-api migrate")));
  ASSERT_THAT(Migrate(db->url()), IsOk());
  EXPECT_THAT(CheckSchemaIsCurrent(db->url()), IsOk());
}

TEST(MigrateTest, UnreachableDatabaseIsUnavailable) {
  EXPECT_THAT(
      Migrate("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"),
      StatusIs(absl::StatusCode::kUnavailable));
}

TEST(MigrationsTest, AreNumberedInOrder) {
  int previous = 0;
  for (const Migration& m : EmbeddedMigrations()) {
    const int version = std::atoi(m.name.c_str());
    EXPECT_EQ(version, previous + 1) << m.name;
    previous = version;
  }
  EXPECT_EQ(LatestSchemaVersion(), previous);
}

}  // namespace
}  // namespace webhooks::store
