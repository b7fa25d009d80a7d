#include "lib/store/reseal.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/echo.h"
#include "lib/security/sealed_fields.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

constexpr char kPageSql[] =
    "SELECT id, custom_headers_sealed, signing_secret_sealed, "
    "coalesce(previous_signing_secret_sealed, '') FROM subscriptions "
    "WHERE id > $1 ORDER BY id LIMIT $2";

struct Row {
  std::string id;
  std::string sealed[3];
};

// The column of each sealed field, and the field name in its associated
// data.
struct Field {
  const char* column;
  absl::string_view aad_field;
};
const Field kFields[3] = {
    {"custom_headers_sealed", security::kCustomHeadersField},
    {"signing_secret_sealed", security::kSigningSecretField},
    {"previous_signing_secret_sealed", security::kPreviousSigningSecretField},
};

bool SealedUnder(const std::string& sealed, const std::string& key_id) {
  return absl::StartsWith(sealed, absl::StrCat(key_id, ":"));
}

}  // namespace

absl::StatusOr<ResealReport> ResealAll(PgPool& pool,
                                       const security::Sealer& sealer,
                                       int batch, absl::Time deadline) {
  ResealReport report;
  std::string after;  // keyset position: ids above it are still to read
  while (true) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("reseal: stopped at the deadline after ",
                       report.subscriptions, " subscriptions"));
    }
    absl::StatusOr<std::vector<Row>> page = WithConnection<std::vector<Row>>(
        pool, deadline, "reseal: read",
        [&](PgConnection& c) -> absl::StatusOr<std::vector<Row>> {
          c.EnsurePrepared("reseal_page", kPageSql);
          pqxx::nontransaction tx(c.get());
          std::vector<Row> rows;
          for (const auto& r : tx.exec_prepared("reseal_page", after, batch)) {
            Row row;
            row.id = r[0].as<std::string>();
            for (int f = 0; f < 3; ++f)
              row.sealed[f] = r[f + 1].as<std::string>();
            rows.push_back(std::move(row));
          }
          return rows;
        });
    if (!page.ok()) return page.status();
    if (page->empty()) return report;
    for (const Row& row : *page) {
      ++report.subscriptions;
      for (int f = 0; f < 3; ++f) {
        const std::string& old = row.sealed[f];
        if (old.empty() || SealedUnder(old, sealer.primary_key_id())) continue;
        const std::string aad =
            security::SubscriptionFieldAad(row.id, kFields[f].aad_field);
        absl::StatusOr<std::string> plain = sealer.Open(old, aad);
        if (!plain.ok()) {
          return absl::Status(
              plain.status().code(),
              absl::StrCat("reseal: subscription ", common::Echo(row.id), " ",
                           kFields[f].aad_field, ": ",
                           plain.status().message()));
        }
        absl::StatusOr<std::string> sealed = sealer.Seal(*plain, aad);
        if (!sealed.ok()) return sealed.status();
        // Only if nobody rewrote the field since it was read.
        absl::StatusOr<bool> written = WithConnection<bool>(
            pool, deadline, "reseal: write", [&](PgConnection& c) {
              pqxx::nontransaction tx(c.get());
              const pqxx::result r = tx.exec_params(
                  absl::StrCat("UPDATE subscriptions SET ", kFields[f].column,
                               " = $1 WHERE id = $2 AND ", kFields[f].column,
                               " = $3"),
                  *sealed, row.id, old);
              return absl::StatusOr<bool>(r.affected_rows() == 1);
            });
        if (!written.ok()) return written.status();
        ++(*written ? report.fields : report.changed_meanwhile);
      }
    }
    after = page->back().id;
  }
}

}  // namespace webhooks::store
