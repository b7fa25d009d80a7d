#include <pqxx/pqxx>

#include "lib/common/echo.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_stores.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

constexpr char kColumns[] =
    "id, tenant_id, name, target_url, event_types, custom_headers_sealed, "
    "signing_secret_sealed, enabled, disabled_reason, max_in_flight, "
    "(extract(epoch from created_at) * 1000000)::bigint, "
    "(extract(epoch from updated_at) * 1000000)::bigint, version, "
    "(extract(epoch from previous_signing_secret_expires_at) * "
    "1000000)::bigint, coalesce(previous_signing_secret_sealed, '')";

SubscriptionRecord ReadRecord(const pqxx::row& row) {
  SubscriptionRecord r;
  r.id = row[0].as<std::string>();
  r.tenant_id = row[1].as<std::string>();
  r.name = row[2].as<std::string>();
  r.target_url = row[3].as<std::string>();
  r.event_types = FromTextArray(row[4]);
  r.custom_headers_sealed = row[5].as<std::string>();
  r.signing_secret_sealed = row[6].as<std::string>();
  r.enabled = row[7].as<bool>();
  r.disabled_reason = row[8].as<std::string>();
  r.max_in_flight = row[9].as<int>();
  r.create_time = FromEpochMicros(row[10]);
  r.update_time = FromEpochMicros(row[11]);
  r.version = row[12].as<int64_t>();
  r.previous_signing_secret_sealed = row[14].as<std::string>();
  if (!row[13].is_null())
    r.previous_secret_expires_at = FromEpochMicros(row[13]);
  return r;
}

absl::Status NotFound(absl::string_view id) {
  return absl::NotFoundError(
      absl::StrCat("subscription ", common::Echo(id), " not found"));
}

class PgSubscriptionStore final : public SubscriptionStore {
 public:
  PgSubscriptionStore(PgPool* pool, PgSubscriptionStoreOptions options)
      : pool_(*pool), options_(options) {}

  absl::StatusOr<SubscriptionRecord> Create(const SubscriptionRecord& record,
                                            absl::Time deadline) override {
    return WithConnection<SubscriptionRecord>(
        pool_, deadline, "create subscription",
        [&](PgConnection& c) -> absl::StatusOr<SubscriptionRecord> {
          c.EnsurePrepared(
              "subscription_insert",
              absl::StrCat(
                  "INSERT INTO subscriptions (id, tenant_id, name, "
                  "target_url, event_types, custom_headers_sealed, "
                  "signing_secret_sealed, enabled, disabled_reason, "
                  "max_in_flight) "
                  "VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $9, $10) "
                  "ON CONFLICT (id) DO NOTHING RETURNING ",
                  kColumns));
          c.EnsurePrepared("subscription_by_id",
                           absl::StrCat("SELECT ", kColumns,
                                        " FROM subscriptions WHERE id = $1"));
          // Creates of one tenant one at a time, so that two at once cannot
          // both pass its limit; other tenants' creates do not wait.
          c.EnsurePrepared("subscription_tenant_lock",
                           "SELECT pg_advisory_xact_lock(hashtextextended("
                           "'webhooks/subscriptions/' || $1, 0))");
          c.EnsurePrepared(
              "subscription_count",
              "SELECT count(*) FROM subscriptions WHERE tenant_id = $1");
          pqxx::work tx(c.get());
          tx.exec_prepared("subscription_tenant_lock", record.tenant_id);
          // The id is taken. When it holds this very record, this is a retry
          // whose first answer was lost: the create succeeded. (The sealed
          // secret has a random nonce, so no other create can match it.)
          pqxx::result existing =
              tx.exec_prepared("subscription_by_id", record.id);
          if (!existing.empty()) {
            SubscriptionRecord stored = ReadRecord(existing[0]);
            if (stored.tenant_id == record.tenant_id &&
                stored.signing_secret_sealed == record.signing_secret_sealed) {
              return stored;
            }
            return absl::AlreadyExistsError(absl::StrCat(
                "subscription ", common::Echo(record.id), " already exists"));
          }
          if (options_.max_per_tenant > 0) {
            const int64_t count =
                tx.exec_prepared1("subscription_count", record.tenant_id)[0]
                    .as<int64_t>();
            if (count >= options_.max_per_tenant) {
              return absl::ResourceExhaustedError(
                  absl::StrCat("tenant_id: the tenant has ", count,
                               " subscriptions, the most allowed (",
                               options_.max_per_tenant, "); delete one first"));
            }
          }
          pqxx::result r = tx.exec_prepared(
              "subscription_insert", record.id, record.tenant_id, record.name,
              record.target_url, ToTextArrayLiteral(record.event_types),
              record.custom_headers_sealed, record.signing_secret_sealed,
              record.enabled, record.disabled_reason, record.max_in_flight);
          if (r.empty()) {
            return absl::AlreadyExistsError(absl::StrCat(
                "subscription ", common::Echo(record.id), " already exists"));
          }
          SubscriptionRecord created = ReadRecord(r[0]);
          tx.commit();
          return created;
        });
  }

  absl::StatusOr<SubscriptionRecord> Get(absl::string_view tenant_id,
                                         absl::string_view id,
                                         absl::Time deadline) override {
    return WithConnection<SubscriptionRecord>(
        pool_, deadline, "get subscription",
        [&](PgConnection& c) -> absl::StatusOr<SubscriptionRecord> {
          c.EnsurePrepared(
              "subscription_get",
              absl::StrCat(
                  "SELECT ", kColumns,
                  " FROM subscriptions WHERE tenant_id = $1 AND id = $2"));
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "subscription_get", std::string(tenant_id), std::string(id));
          if (r.empty()) return NotFound(id);
          return ReadRecord(r[0]);
        });
  }

  absl::StatusOr<std::vector<SubscriptionRecord>> List(
      absl::string_view tenant_id, absl::string_view after_id, int limit,
      absl::Time deadline) override {
    return WithConnection<std::vector<SubscriptionRecord>>(
        pool_, deadline, "list subscriptions", [&](PgConnection& c) {
          c.EnsurePrepared(
              "subscription_list",
              absl::StrCat(
                  "SELECT ", kColumns,
                  " FROM subscriptions WHERE tenant_id = $1 AND id > $2 "
                  "ORDER BY id LIMIT $3"));
          pqxx::nontransaction tx(c.get());
          pqxx::result r =
              tx.exec_prepared("subscription_list", std::string(tenant_id),
                               std::string(after_id), limit);
          std::vector<SubscriptionRecord> out;
          out.reserve(r.size());
          for (const pqxx::row& row : r) out.push_back(ReadRecord(row));
          return out;
        });
  }

  absl::StatusOr<SubscriptionRecord> Update(const SubscriptionUpdate& u,
                                            absl::Time deadline) override {
    return WithConnection<SubscriptionRecord>(
        pool_, deadline, "update subscription",
        [&](PgConnection& c) -> absl::StatusOr<SubscriptionRecord> {
          // One statement and one subscription row, whatever the backlog;
          // each field is replaced only when its flag is set. The trigger
          // subscriptions_lane_mirror copies enabled and max_in_flight into
          // the subscription's delivery lane (so the lock order is
          // subscriptions, then delivery_lanes). That is all enabling or
          // disabling takes: no delivery row changes, since the pending
          // deliveries of a disabled subscription are simply not leased.
          c.EnsurePrepared(
              "subscription_update",
              absl::StrCat(
                  "UPDATE subscriptions SET "
                  "name = CASE WHEN $3 THEN $4 ELSE name END, "
                  "target_url = CASE WHEN $5 THEN $6 ELSE target_url END, "
                  "event_types = CASE WHEN $7 THEN $8::text[] ELSE event_types "
                  "END, "
                  "custom_headers_sealed = CASE WHEN $9 THEN $10 "
                  "  ELSE custom_headers_sealed END, "
                  "disabled_reason = CASE WHEN NOT $11 THEN disabled_reason "
                  "  WHEN $12 THEN '' WHEN enabled THEN $13 ELSE "
                  "disabled_reason END, "
                  "enabled = CASE WHEN $11 THEN $12 ELSE enabled END, "
                  "max_in_flight = CASE WHEN $14 THEN $15::integer "
                  "  ELSE max_in_flight END, "
                  "updated_at = now(), version = version + 1 "
                  "WHERE tenant_id = $1 AND id = $2 "
                  "AND ($16::bigint = 0 OR version = $16::bigint) RETURNING ",
                  kColumns));
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "subscription_update", u.tenant_id, u.id, u.name.has_value(),
              u.name.value_or(""), u.target_url.has_value(),
              u.target_url.value_or(""), u.event_types.has_value(),
              ToTextArrayLiteral(
                  u.event_types.value_or(std::vector<std::string>{})),
              u.custom_headers_sealed.has_value(),
              u.custom_headers_sealed.value_or(""), u.enabled.has_value(),
              u.enabled.value_or(false), u.disabled_reason,
              u.max_in_flight.has_value(), u.max_in_flight.value_or(0),
              u.expected_version);
          if (r.empty() && u.expected_version != 0 &&
              !tx.exec_params("SELECT 1 FROM subscriptions WHERE tenant_id = "
                              "$1 AND id = $2",
                              u.tenant_id, u.id)
                   .empty()) {
            return absl::AbortedError(absl::StrCat(
                "subscription ", u.id, " changed meanwhile; try again"));
          }
          if (r.empty()) return NotFound(u.id);
          return ReadRecord(r[0]);
        });
  }

  absl::StatusOr<SubscriptionRecord> RotateSigningSecret(
      const SigningSecretChange& change, absl::Time deadline) override {
    return WithConnection<SubscriptionRecord>(
        pool_, deadline, "rotate signing secret",
        [&](PgConnection& c) -> absl::StatusOr<SubscriptionRecord> {
          c.EnsurePrepared(
              "subscription_rotate",
              absl::StrCat(
                  "UPDATE subscriptions SET signing_secret_sealed = $3, "
                  "previous_signing_secret_sealed = $4, "
                  "previous_signing_secret_expires_at = $5::timestamptz, "
                  "updated_at = now(), version = version + 1 "
                  "WHERE tenant_id = $1 AND id = $2 AND version = $6 "
                  "RETURNING ",
                  kColumns));
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "subscription_rotate", change.tenant_id, change.id,
              change.secret_sealed, change.previous_sealed,
              ToTimestampText(change.previous_expires_at),
              change.expected_version);
          if (!r.empty()) return ReadRecord(r[0]);
          if (tx.exec_params("SELECT 1 FROM subscriptions WHERE tenant_id = "
                             "$1 AND id = $2",
                             change.tenant_id, change.id)
                  .empty()) {
            return NotFound(change.id);
          }
          return absl::AbortedError(absl::StrCat(
              "subscription ", change.id, " changed meanwhile; try again"));
        });
  }

  absl::Status Delete(absl::string_view tenant_id, absl::string_view id,
                      absl::Time deadline) override {
    return WithConnection<bool>(
               pool_, deadline, "delete subscription",
               [&](PgConnection& c) -> absl::StatusOr<bool> {
                 c.EnsurePrepared("subscription_delete",
                                  "DELETE FROM subscriptions WHERE tenant_id = "
                                  "$1 AND id = $2");
                 pqxx::nontransaction tx(c.get());
                 pqxx::result r =
                     tx.exec_prepared("subscription_delete",
                                      std::string(tenant_id), std::string(id));
                 if (r.affected_rows() == 0) return NotFound(id);
                 return true;
               })
        .status();
  }

 private:
  PgPool& pool_;
  const PgSubscriptionStoreOptions options_;
};

}  // namespace

std::unique_ptr<SubscriptionStore> NewPgSubscriptionStore(
    PgPool* pool, PgSubscriptionStoreOptions options) {
  return std::make_unique<PgSubscriptionStore>(pool, options);
}

}  // namespace webhooks::store
