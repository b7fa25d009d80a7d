#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_stores.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

// The partial index deliveries_due serves `due`; FOR UPDATE ... SKIP LOCKED
// lets many workers lease at once without waiting on each other. The body is
// returned once per event (the first row of each), not once per delivery.
constexpr char kLeaseSql[] = R"sql(
WITH due AS (
  SELECT d.id
  FROM deliveries d
  JOIN subscriptions s ON s.id = d.subscription_id AND s.enabled
  WHERE d.state = 'pending' AND d.next_attempt_at <= now()
    AND d.subscription_id <> ALL ($4::text[])
  ORDER BY d.next_attempt_at
  LIMIT $1
  FOR UPDATE OF d SKIP LOCKED),
leased AS (
  UPDATE deliveries d
  SET lease_owner = $2,
      lease_token = d.lease_token + 1,
      leased_until = now() + $3 * interval '1 millisecond',
      next_attempt_at = now() + $3 * interval '1 millisecond'
  FROM due
  WHERE d.id = due.id
  RETURNING d.id, d.tenant_id, d.event_id, d.subscription_id, d.attempts, d.lease_token)
SELECT l.id, l.lease_token, l.attempts + 1, l.tenant_id, l.event_id, e.type,
       CASE WHEN row_number() OVER (PARTITION BY l.event_id ORDER BY l.id) = 1
            THEN e.body END,
       (extract(epoch from e.created_at) * 1000000)::bigint,
       l.subscription_id, s.target_url, s.custom_headers_sealed, s.signing_secret_sealed,
       CASE WHEN s.previous_signing_secret_expires_at > now()
            THEN s.previous_signing_secret_sealed END
FROM leased l
JOIN events e ON e.id = l.event_id
JOIN subscriptions s ON s.id = l.subscription_id
ORDER BY l.event_id, l.id
)sql";

// One statement per batch: outcomes (fenced by lease token and an open lease,
// so writing the same batch twice -- a retry after a lost answer -- counts
// each attempt once), their attempts,
// and any subscription disabled by a 410 with its other pending deliveries
// held. Rows of this batch are excluded from `hold` so no row is updated twice
// in one statement; a retry in the batch of a subscription that this batch
// disables (`gone`: same condition as `done`) is held in `done` instead, since
// every part of the statement sees the subscription as still enabled.
constexpr char kCompleteSql[] = R"sql(
WITH input AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[],
                       $5::int[], $6::timestamptz[], $7::bigint[], $8::int[], $9::text[],
                       $10::bytea[], $11::bool[], $12::text[])
    AS t(id, token, state, next_at, attempt, started_at, duration_us, status, error_class,
         excerpt, disable, disable_reason)),
gone AS (
  SELECT DISTINCT d.subscription_id AS id
  FROM input i JOIN deliveries d ON d.id = i.id AND d.lease_token = i.token
  WHERE i.disable AND d.state IN ('pending', 'held') AND d.leased_until IS NOT NULL),
done AS (
  UPDATE deliveries d
  SET state = CASE WHEN i.state = 'pending'
                        AND (NOT s.enabled OR s.id IN (SELECT id FROM gone))
                   THEN 'held' ELSE i.state END,
      attempts = d.attempts + 1,
      next_attempt_at = CASE WHEN i.state = 'pending' THEN i.next_at ELSE d.next_attempt_at END,
      last_status = NULLIF(i.status, 0),
      last_error_class = i.error_class,
      lease_owner = NULL,
      leased_until = NULL,
      completed_at = CASE WHEN i.state = 'pending' THEN NULL ELSE now() END
  FROM input i, subscriptions s
  WHERE d.id = i.id AND d.lease_token = i.token AND d.state IN ('pending', 'held')
    AND d.leased_until IS NOT NULL AND s.id = d.subscription_id
  RETURNING d.id, d.subscription_id),
attempts AS (
  INSERT INTO delivery_attempts
    (delivery_id, attempt, started_at, duration_us, status, error_class, response_excerpt)
  SELECT i.id, i.attempt, i.started_at, i.duration_us, NULLIF(i.status, 0), i.error_class,
         i.excerpt
  FROM input i JOIN done ON done.id = i.id
  ON CONFLICT DO NOTHING),
disabled AS (
  UPDATE subscriptions s
  SET enabled = false, disabled_reason = i.disable_reason, updated_at = now(),
      version = s.version + 1
  FROM input i JOIN done ON done.id = i.id
  WHERE i.disable AND s.id = done.subscription_id AND s.enabled
  RETURNING s.id),
held AS (
  UPDATE deliveries d SET state = 'held'
  FROM disabled
  WHERE d.subscription_id = disabled.id AND d.state = 'pending'
    AND d.id <> ALL ($1::bigint[]))
SELECT count(*) FROM done
)sql";

// A delivery held meanwhile (its subscription disabled) is handed back too,
// staying held: due at once, with no stale lease, when it is enabled again.
constexpr char kReleaseSql[] = R"sql(
UPDATE deliveries d
SET next_attempt_at = now(), lease_owner = NULL, leased_until = NULL
FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)
WHERE d.id = r.id AND d.lease_token = r.token AND d.state IN ('pending', 'held')
)sql";

constexpr char kStatsSql[] = R"sql(
SELECT count(*),
       coalesce((extract(epoch from now() - min(next_attempt_at)) * 1000000)::bigint, 0)
FROM deliveries
WHERE state = 'pending' AND next_attempt_at <= now()
)sql";

const char* StateName(DeliveryOutcome::State state) {
  switch (state) {
    case DeliveryOutcome::State::kDelivered:
      return "delivered";
    case DeliveryOutcome::State::kRetry:
      return "pending";
    case DeliveryOutcome::State::kFailed:
      return "failed";
  }
  return "failed";
}

template <typename Int>
std::string IntArrayLiteral(const std::vector<Int>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, values[i]);
  }
  out.push_back('}');
  return out;
}

class PgDeliveryStore final : public DeliveryStore {
 public:
  explicit PgDeliveryStore(PgPool* pool) : pool_(*pool) {}

  absl::StatusOr<std::vector<LeasedDelivery>> Lease(
      const LeaseRequest& request, absl::Time deadline) override {
    if (request.limit <= 0) return std::vector<LeasedDelivery>{};
    return WithConnection<std::vector<LeasedDelivery>>(
        pool_, deadline, "lease deliveries", [&](PgConnection& c) {
          c.EnsurePrepared("delivery_lease", kLeaseSql);
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "delivery_lease", request.limit, request.owner,
              absl::ToInt64Milliseconds(request.lease_duration),
              ToTextArrayLiteral(request.exclude_subscriptions));
          std::vector<LeasedDelivery> out;
          out.reserve(r.size());
          std::shared_ptr<const std::string> body;
          for (const pqxx::row& row : r) {
            LeasedDelivery d;
            d.id = row[0].as<int64_t>();
            d.lease_token = row[1].as<int64_t>();
            d.attempt = row[2].as<int>();
            d.tenant_id = row[3].as<std::string>();
            d.event_id = row[4].as<std::string>();
            d.event_type = row[5].as<std::string>();
            // Rows are ordered by event: a NULL body repeats the previous one.
            if (!row[6].is_null())
              body = std::make_shared<const std::string>(row[6].c_str(),
                                                         row[6].size());
            d.body = body;
            d.event_created_at = FromEpochMicros(row[7]);
            d.subscription_id = row[8].as<std::string>();
            d.target_url = row[9].as<std::string>();
            d.custom_headers_sealed = row[10].as<std::string>();
            d.signing_secret_sealed = row[11].as<std::string>();
            if (!row[12].is_null())
              d.previous_signing_secret_sealed = row[12].as<std::string>();
            out.push_back(std::move(d));
          }
          return out;
        });
  }

  absl::StatusOr<int> Complete(const std::vector<DeliveryOutcome>& outcomes,
                               absl::Time deadline) override {
    if (outcomes.empty()) return 0;
    std::vector<int64_t> ids, tokens, durations;
    std::vector<int> attempts, statuses;
    std::vector<std::string> states, next_at, started_at, classes, excerpts,
        disable, reasons;
    for (const DeliveryOutcome& o : outcomes) {
      ids.push_back(o.delivery_id);
      tokens.push_back(o.lease_token);
      states.push_back(StateName(o.state));
      next_at.push_back(ToTimestampText(
          o.state == DeliveryOutcome::State::kRetry ? o.next_attempt_at
                                                    : o.started_at));
      attempts.push_back(o.attempt);
      started_at.push_back(ToTimestampText(o.started_at));
      durations.push_back(absl::ToInt64Microseconds(o.duration));
      statuses.push_back(o.http_status);
      classes.push_back(o.error_class);
      excerpts.push_back(
          absl::StrCat("\\x", absl::BytesToHexString(o.response_excerpt)));
      disable.push_back(o.disable_subscription ? "t" : "f");
      reasons.push_back(o.disable_reason);
    }
    return WithConnection<int>(
        pool_, deadline, "complete deliveries", [&](PgConnection& c) {
          c.EnsurePrepared("delivery_complete", kCompleteSql);
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "delivery_complete", IntArrayLiteral(ids),
              IntArrayLiteral(tokens), ToTextArrayLiteral(states),
              ToTextArrayLiteral(next_at), IntArrayLiteral(attempts),
              ToTextArrayLiteral(started_at), IntArrayLiteral(durations),
              IntArrayLiteral(statuses), ToTextArrayLiteral(classes),
              ToTextArrayLiteral(excerpts), ToTextArrayLiteral(disable),
              ToTextArrayLiteral(reasons));
          return r[0][0].as<int>();
        });
  }

  absl::StatusOr<int> Release(const std::vector<LeaseRelease>& releases,
                              absl::Time deadline) override {
    if (releases.empty()) return 0;
    std::vector<int64_t> ids, tokens;
    for (const LeaseRelease& r : releases) {
      ids.push_back(r.delivery_id);
      tokens.push_back(r.lease_token);
    }
    return WithConnection<int>(
        pool_, deadline, "release deliveries", [&](PgConnection& c) {
          c.EnsurePrepared("delivery_release", kReleaseSql);
          pqxx::nontransaction tx(c.get());
          pqxx::result r =
              tx.exec_prepared("delivery_release", IntArrayLiteral(ids),
                               IntArrayLiteral(tokens));
          return static_cast<int>(r.affected_rows());
        });
  }

  absl::StatusOr<QueueStats> Stats(absl::Time deadline) override {
    return WithConnection<QueueStats>(
        pool_, deadline, "queue stats", [&](PgConnection& c) {
          c.EnsurePrepared("delivery_stats", kStatsSql);
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared("delivery_stats");
          QueueStats stats;
          stats.due = r[0][0].as<int64_t>();
          stats.oldest_due_age = absl::Microseconds(r[0][1].as<int64_t>());
          return stats;
        });
  }

 private:
  PgPool& pool_;
};

}  // namespace

std::unique_ptr<DeliveryStore> NewPgDeliveryStore(PgPool* pool) {
  return std::make_unique<PgDeliveryStore>(pool);
}

}  // namespace webhooks::store
