// Conversions between our values and PostgreSQL text forms (private to
// lib/store). libpqxx 6.4 binds no arrays or times, so we pass text.
#ifndef WEBHOOKS_LIB_STORE_PG_VALUES_H_
#define WEBHOOKS_LIB_STORE_PG_VALUES_H_

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_errors.h"
#include "lib/store/pg_pool.h"

namespace webhooks::store {

// A text[] literal: {"a","b\"c"}; every element quoted, \ and " escaped.
std::string ToTextArrayLiteral(const std::vector<std::string>& values);
// Reads a text[] column.
std::vector<std::string> FromTextArray(const pqxx::field& field);

// RFC 3339 with microseconds in UTC, for a $n::timestamptz parameter;
// "infinity" and "-infinity" for the infinite times.
std::string ToTimestampText(absl::Time time);
// Select timestamps as (extract(epoch from t) * 1000000)::bigint.
absl::Time FromEpochMicros(const pqxx::field& field);

// Runs `body(connection)` with a pooled connection and translates pqxx
// exceptions. A pooled connection may have died while idle (a database
// restart kills every session): after a connection error the connection is
// discarded and `body` runs once more on another, so callers see no error from
// it. Every store operation is safe to repeat: publishing is idempotent by
// key, the others are single statements or transactions that reach the
// same state when run again (a retry by hand that its first run already
// made due succeeds again, unless a worker leased it in between).
template <typename T, typename Body>
absl::StatusOr<T> WithConnection(PgPool& pool, absl::Time deadline,
                                 absl::string_view operation, Body&& body) {
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<PgPool::Lease> lease = pool.Acquire(deadline);
    if (!lease.ok()) return lease.status();
    try {
      return body(lease->connection());
    } catch (...) {
      status = TranslateCurrentException(operation);
      if (!IsConnectionError(status)) return status;
      lease->MarkBroken();
    }
  }
  return status;
}

}  // namespace webhooks::store

#endif  // WEBHOOKS_LIB_STORE_PG_VALUES_H_
