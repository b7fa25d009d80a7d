#include "lib/store/retention.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/common/ids.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

// A subscription's delivered and discarded rows created before $2, oldest
// first from the keyset position ($3, $4): walking past rows it keeps (old
// failed or pending ones) only once per pass. Returns the position reached
// (NULL when nothing was read) and how many it deleted.
constexpr char kDeleteDeliveredSql[] = R"sql(
WITH scanned AS (
  SELECT id, created_at, state FROM deliveries
  WHERE subscription_id = $1 AND created_at < $2::timestamptz
    AND (created_at, id) > ($3::timestamptz, $4::bigint)
  ORDER BY created_at, id LIMIT $5),
gone AS (
  DELETE FROM deliveries d USING scanned s
  WHERE d.id = s.id AND s.state IN ('delivered', 'discarded')
    -- On the row itself too: a retry by hand that committed after this
    -- statement's snapshot made it pending, and the row is re-checked.
    AND d.state IN ('delivered', 'discarded')
  RETURNING 1),
last AS (SELECT created_at, id FROM scanned ORDER BY created_at DESC, id DESC LIMIT 1)
SELECT (SELECT count(*) FROM scanned), (SELECT count(*) FROM gone),
       (SELECT created_at::text FROM last), (SELECT id FROM last)
)sql";

// Failed rows have an index of their own: no row is walked in vain. The
// state is checked on the deleted row as well (a recovery by hand may have
// made it pending since the subquery read it).
constexpr char kDeleteFailedSql[] = R"sql(
DELETE FROM deliveries WHERE state = 'failed' AND id IN (
  SELECT id FROM deliveries
  WHERE subscription_id = $1 AND state = 'failed' AND created_at < $2::timestamptz
  ORDER BY created_at LIMIT $3)
)sql";

// Events by id (time-ordered) below $2, from $1 on; deleted when no delivery
// refers to them.
constexpr char kDeleteEventsSql[] = R"sql(
WITH scanned AS (
  SELECT id FROM events WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3),
gone AS (
  DELETE FROM events e USING scanned s
  WHERE e.id = s.id AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
  RETURNING 1)
SELECT (SELECT count(*) FROM scanned), (SELECT count(*) FROM gone),
       (SELECT max(id) FROM scanned)
)sql";

// A page of retired lanes from $1 on, by id: those of deleted subscriptions,
// and any lane whose subscription row is gone without the trigger (a delete
// with triggers off), which is retired here first so that nothing leases it
// while its deliveries go. Each lane's deliveries then go whatever their age
// or state, in batches of $2 with their attempts, and the lane last, once
// empty (its foreign key's cascade then has nothing left to do but a
// delivery a publish added meanwhile).
constexpr char kDeletedLanesSql[] = R"sql(
WITH page AS (
  SELECT subscription_id, deleted FROM delivery_lanes c
  WHERE c.subscription_id > $1
    AND (c.deleted OR NOT EXISTS (SELECT 1 FROM subscriptions s
                                  WHERE s.id = c.subscription_id))
  ORDER BY c.subscription_id LIMIT $2),
retired AS (
  UPDATE delivery_lanes l SET deleted = true, enabled = false
  FROM page p WHERE l.subscription_id = p.subscription_id AND NOT p.deleted)
SELECT subscription_id FROM page ORDER BY subscription_id
)sql";
constexpr char kPurgeDeliveriesSql[] = R"sql(
DELETE FROM deliveries WHERE id IN (
  SELECT id FROM deliveries WHERE subscription_id = $1 ORDER BY created_at LIMIT $2)
)sql";
constexpr char kPurgeLaneSql[] =
    "DELETE FROM delivery_lanes WHERE subscription_id = $1 AND deleted";

}  // namespace

absl::StatusOr<RetentionReport> DeleteExpired(PgPool& pool,
                                              const RetentionPolicy& policy,
                                              absl::Time now,
                                              absl::Time deadline) {
  RetentionReport report;
  const std::string delivered_before = ToTimestampText(now - policy.delivered);
  const std::string failed_before = ToTimestampText(now - policy.failed);
  auto out_of_time = [&]() -> absl::Status {
    if (absl::Now() < deadline) return absl::OkStatus();
    return absl::DeadlineExceededError(
        absl::StrCat("retention: out of time after ", report.deliveries,
                     " deliveries and ", report.events, " events"));
  };
  // Each statement below commits on its own (nontransaction): short, and
  // nothing to roll back but itself.
  auto run = [&](const char* what, auto&& body) {
    ++report.statements;
    return WithConnection<pqxx::result>(pool, deadline, what,
                                        [&](PgConnection& c) {
                                          pqxx::nontransaction tx(c.get());
                                          return body(tx);
                                        });
  };

  std::string after_lane;
  while (true) {
    absl::StatusOr<pqxx::result> lanes =
        run("retention: deleted subscriptions", [&](pqxx::nontransaction& tx) {
          return tx.exec_params(kDeletedLanesSql, after_lane, policy.batch);
        });
    if (!lanes.ok()) return lanes.status();
    if (lanes->empty()) break;
    for (const pqxx::row& row : *lanes) {
      const std::string sub = row[0].as<std::string>();
      after_lane = sub;
      while (true) {
        if (absl::Status s = out_of_time(); !s.ok()) return s;
        absl::StatusOr<pqxx::result> r =
            run("retention: deleted subscription's deliveries",
                [&](pqxx::nontransaction& tx) {
                  return tx.exec_params(kPurgeDeliveriesSql, sub, policy.batch);
                });
        if (!r.ok()) return r.status();
        const auto n = static_cast<int64_t>(r->affected_rows());
        report.deliveries += n;
        if (n < policy.batch) break;
      }
      absl::StatusOr<pqxx::result> r =
          run("retention: deleted subscription's lane",
              [&](pqxx::nontransaction& tx) {
                return tx.exec_params(kPurgeLaneSql, sub);
              });
      if (!r.ok()) return r.status();
      report.subscriptions += static_cast<int64_t>(r->affected_rows());
    }
  }

  std::string after_subscription;
  while (true) {
    absl::StatusOr<pqxx::result> subs =
        run("retention: subscriptions", [&](pqxx::nontransaction& tx) {
          return tx.exec_params(
              "SELECT id FROM subscriptions WHERE id > $1 ORDER BY id LIMIT $2",
              after_subscription, policy.batch);
        });
    if (!subs.ok()) return subs.status();
    if (subs->empty()) break;
    for (const pqxx::row& row : *subs) {
      const std::string sub = row[0].as<std::string>();
      after_subscription = sub;
      std::string at = "-infinity";
      int64_t id = 0;
      while (true) {
        if (absl::Status s = out_of_time(); !s.ok()) return s;
        absl::StatusOr<pqxx::result> r =
            run("retention: delivered", [&](pqxx::nontransaction& tx) {
              return tx.exec_params(kDeleteDeliveredSql, sub, delivered_before,
                                    at, id, policy.batch);
            });
        if (!r.ok()) return r.status();
        const int64_t scanned = (*r)[0][0].as<int64_t>();
        report.deliveries += (*r)[0][1].as<int64_t>();
        if (scanned < policy.batch) break;
        at = (*r)[0][2].as<std::string>();
        id = (*r)[0][3].as<int64_t>();
      }
      while (true) {
        if (absl::Status s = out_of_time(); !s.ok()) return s;
        absl::StatusOr<pqxx::result> r =
            run("retention: failed", [&](pqxx::nontransaction& tx) {
              return tx.exec_params(kDeleteFailedSql, sub, failed_before,
                                    policy.batch);
            });
        if (!r.ok()) return r.status();
        const auto n = static_cast<int64_t>(r->affected_rows());
        report.deliveries += n;
        if (n < policy.batch) break;
      }
    }
  }

  const std::string below =
      common::FirstIdAt(common::kEventIdPrefix, now - policy.delivered);
  std::string after_event;
  while (true) {
    if (absl::Status s = out_of_time(); !s.ok()) return s;
    absl::StatusOr<pqxx::result> r =
        run("retention: events", [&](pqxx::nontransaction& tx) {
          return tx.exec_params(kDeleteEventsSql, after_event, below,
                                policy.batch);
        });
    if (!r.ok()) return r.status();
    const int64_t scanned = (*r)[0][0].as<int64_t>();
    report.events += (*r)[0][1].as<int64_t>();
    if (scanned < policy.batch) break;
    after_event = (*r)[0][2].as<std::string>();
  }
  return report;
}

}  // namespace webhooks::store
