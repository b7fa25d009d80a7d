#include "lib/store/migrations.h"

#include <cstdlib>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "lib/common/log.h"
#include "lib/store/connection_options.h"
#include "lib/store/pg_errors.h"

namespace webhooks::store {
namespace {

// Arbitrary, fixed: the advisory lock key that serialises migrations.
constexpr long long kMigrationLockKey = 7310431820519425153LL;

int VersionOf(const Migration& migration) {
  return std::atoi(migration.name.c_str());
}

}  // namespace

int LatestSchemaVersion() {
  const auto& migrations = EmbeddedMigrations();
  return migrations.empty() ? 0 : VersionOf(migrations.back());
}

absl::StatusOr<int> Migrate(const std::string& database_url) {
  try {
    pqxx::connection connection(WithClientTimeouts(database_url));
    {
      pqxx::nontransaction tx(connection);
      // Session lock: held across the per-migration transactions below,
      // released when this connection closes even if we crash.
      tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY,"
          " name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
    }
    int applied = 0;
    for (const Migration& migration : EmbeddedMigrations()) {
      pqxx::work tx(connection);
      const int version = VersionOf(migration);
      if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1",
                          version)
               .empty()) {
        continue;
      }
      tx.exec(migration.sql);
      tx.exec_params(
          "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
          version, migration.name);
      tx.commit();
      ++applied;
      common::LogInfo("applied migration ", migration.name);
    }
    pqxx::nontransaction tx(connection);
    tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    return applied;
  } catch (...) {
    return TranslateCurrentException("migrate");
  }
}

absl::StatusOr<int> AppliedSchemaVersion(const std::string& database_url) {
  try {
    pqxx::connection connection(WithClientTimeouts(database_url));
    pqxx::nontransaction tx(connection);
    pqxx::result exists =
        tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return 0;
    pqxx::result r =
        tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
    return r[0][0].as<int>();
  } catch (...) {
    return TranslateCurrentException("read schema version");
  }
}

absl::Status CheckSchemaIsCurrent(const std::string& database_url) {
  absl::StatusOr<int> version = AppliedSchemaVersion(database_url);
  if (!version.ok()) return version.status();
  if (*version < LatestSchemaVersion()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema is at version ", *version, ", this build needs ",
        LatestSchemaVersion(), ": run `webhooks-api migrate` first"));
  }
  return absl::OkStatus();
}

}  // namespace webhooks::store
