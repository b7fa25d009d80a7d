// Versioned SQL migrations, embedded in the binary from lib/store/migrations.
#ifndef WEBHOOKS_LIB_STORE_MIGRATIONS_H_
#define WEBHOOKS_LIB_STORE_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace webhooks::store {

struct Migration {
  std::string name;  // "0001_initial.sql": the leading number is the version
  std::string sql;
};

// Every migration in the repository, in version order.
const std::vector<Migration>& EmbeddedMigrations();

// The version the binary expects: the number of the last embedded migration.
int LatestSchemaVersion();

// Applies the migrations not yet applied, each in its own transaction with its
// row in schema_migrations. Serialised by a session advisory lock, so any
// number of processes may run it at once: one applies, the others wait and
// find nothing left to do. Returns how many it applied. UNAVAILABLE when the
// database cannot be reached; INTERNAL when a migration fails (it is rolled
// back).
absl::StatusOr<int> Migrate(const std::string& database_url);

// The highest applied version (0 for an empty database).
absl::StatusOr<int> AppliedSchemaVersion(const std::string& database_url);

// OK when the database is at LatestSchemaVersion() or newer;
// FAILED_PRECONDITION saying to run `webhooks-api migrate` when older;
// UNAVAILABLE when it cannot be reached. For servers to check at start-up.
absl::Status CheckSchemaIsCurrent(const std::string& database_url);

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_MIGRATIONS_H_
