#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/common/echo.h"
#include "lib/store/delivery_log_store.h"
#include "lib/store/event_store.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_stores.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

// The columns ReadDelivery reads, from deliveries d, delivery_lanes l and
// events e.
constexpr char kDeliveryColumns[] =
    "d.id, d.tenant_id, d.event_id, e.type, d.subscription_id, d.state, "
    "l.enabled, d.leased_until IS NOT NULL, d.attempts, "
    "(extract(epoch from d.next_attempt_at) * 1000000)::bigint, "
    "coalesce(d.last_status, 0), coalesce(d.last_error_class, ''), "
    "(extract(epoch from d.created_at) * 1000000)::bigint, "
    "(extract(epoch from d.completed_at) * 1000000)::bigint";

DeliveryRecord ReadDelivery(const pqxx::row& row) {
  DeliveryRecord r;
  r.id = row[0].as<int64_t>();
  r.tenant_id = row[1].as<std::string>();
  r.event_id = row[2].as<std::string>();
  r.event_type = row[3].as<std::string>();
  r.subscription_id = row[4].as<std::string>();
  const std::string state = row[5].as<std::string>();
  if (state == "delivered") {
    r.state = DeliveryState::kDelivered;
  } else if (state == "failed") {
    r.state = DeliveryState::kFailed;
  } else if (state == "discarded") {
    r.state = DeliveryState::kDiscarded;
  } else if (row[7].as<bool>()) {
    r.state = DeliveryState::kInFlight;
  } else if (!row[6].as<bool>()) {
    r.state = DeliveryState::kHeld;
  } else {
    r.state = DeliveryState::kPending;
  }
  r.attempts = row[8].as<int>();
  r.next_attempt_at = FromEpochMicros(row[9]);
  r.last_status = row[10].as<int>();
  r.last_error_class = row[11].as<std::string>();
  r.created_at = FromEpochMicros(row[12]);
  if (!row[13].is_null()) r.completed_at = FromEpochMicros(row[13]);
  return r;
}

// The SQL condition on d (and l) for a state; 'pending' splits three ways.
std::string StateCondition(DeliveryState state) {
  switch (state) {
    case DeliveryState::kPending:
      return "d.state = 'pending' AND d.leased_until IS NULL AND l.enabled";
    case DeliveryState::kInFlight:
      return "d.state = 'pending' AND d.leased_until IS NOT NULL";
    case DeliveryState::kHeld:
      return "d.state = 'pending' AND d.leased_until IS NULL AND NOT "
             "l.enabled";
    case DeliveryState::kDelivered:
      return "d.state = 'delivered'";
    case DeliveryState::kFailed:
      return "d.state = 'failed'";
    case DeliveryState::kDiscarded:
      return "d.state = 'discarded'";
  }
  return "false";
}

absl::Status DeliveryNotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("delivery dlv_", id, " not found"));
}

absl::Status SubscriptionNotFound(absl::string_view id) {
  return absl::NotFoundError(
      absl::StrCat("subscription ", common::Echo(id), " not found"));
}

// Makes the rows of `ids_sql` (a subquery of delivery ids of one lane, which
// the caller has locked) due now with a new attempt budget.
constexpr char kMakeDueSql[] =
    "UPDATE deliveries SET state = 'pending', attempts = 0, "
    "next_attempt_at = now(), completed_at = NULL ";

class PgDeliveryLogStore final : public DeliveryLogStore {
 public:
  explicit PgDeliveryLogStore(PgPool* pool) : pool_(*pool) {}

  absl::StatusOr<std::vector<DeliveryRecord>> List(
      const DeliveryQuery& q, absl::Time deadline) override {
    return WithConnection<std::vector<DeliveryRecord>>(
        pool_, deadline, "list deliveries", [&](PgConnection& c) {
          pqxx::nontransaction tx(c.get());
          // Built from quoted values, not parameters, so that each call is
          // planned for its own filters (a state filter of 'failed' uses the
          // partial index of failures; an event id the unique key).
          std::vector<std::string> inner = {"d.subscription_id = s.id"};
          if (!q.event_id.empty())
            inner.push_back(
                absl::StrCat("d.event_id = ", tx.quote(q.event_id)));
          if (q.state.has_value()) inner.push_back(StateCondition(*q.state));
          if (!q.event_type.empty())
            inner.push_back(absl::StrCat("e.type = ", tx.quote(q.event_type)));
          if (q.created_after != absl::InfinitePast()) {
            inner.push_back(absl::StrCat(
                "d.created_at >= ", tx.quote(ToTimestampText(q.created_after)),
                "::timestamptz"));
          }
          if (q.created_before != absl::InfiniteFuture()) {
            inner.push_back(absl::StrCat(
                "d.created_at < ", tx.quote(ToTimestampText(q.created_before)),
                "::timestamptz"));
          }
          if (q.before.has_value()) {
            inner.push_back(
                absl::StrCat("(d.created_at, d.id) < (",
                             tx.quote(ToTimestampText(q.before->first)),
                             "::timestamptz, ", q.before->second, ")"));
          }
          std::string outer =
              absl::StrCat("s.tenant_id = ", tx.quote(q.tenant_id));
          if (!q.subscription_id.empty()) {
            absl::StrAppend(&outer,
                            " AND s.id = ", tx.quote(q.subscription_id));
          }
          // Per subscription, its newest `limit` matches through its own
          // index; then the newest `limit` of those.
          const std::string sql = absl::StrCat(
              "SELECT ", kDeliveryColumns,
              " FROM subscriptions s JOIN delivery_lanes l ON "
              "l.subscription_id = s.id CROSS JOIN LATERAL (SELECT d.* FROM "
              "deliveries d JOIN events e ON e.id = d.event_id WHERE ",
              absl::StrJoin(inner, " AND "),
              " ORDER BY d.created_at DESC, d.id DESC LIMIT ", q.limit,
              ") d JOIN events e ON e.id = d.event_id WHERE ", outer,
              " ORDER BY d.created_at DESC, d.id DESC LIMIT ", q.limit);
          pqxx::result r = tx.exec(sql);
          std::vector<DeliveryRecord> out;
          out.reserve(r.size());
          for (const pqxx::row& row : r) out.push_back(ReadDelivery(row));
          return out;
        });
  }

  absl::StatusOr<DeliveryRecord> Get(absl::string_view tenant_id, int64_t id,
                                     absl::Time deadline) override {
    return WithConnection<DeliveryRecord>(
        pool_, deadline, "get delivery",
        [&](PgConnection& c) -> absl::StatusOr<DeliveryRecord> {
          pqxx::nontransaction tx(c.get());
          absl::StatusOr<DeliveryRecord> d = ReadOne(tx, tenant_id, id);
          if (!d.ok()) return d.status();
          pqxx::result attempts = tx.exec_params(
              "SELECT attempt, (extract(epoch from started_at) * "
              "1000000)::bigint, duration_us, coalesce(status, 0), "
              "error_class, coalesce(response_excerpt, '') FROM "
              "delivery_attempts WHERE delivery_id = $1 ORDER BY started_at, "
              "attempt",
              id);
          for (const pqxx::row& row : attempts) {
            AttemptRecord a;
            a.number = row[0].as<int>();
            a.started_at = FromEpochMicros(row[1]);
            a.duration = absl::Microseconds(row[2].as<int64_t>());
            a.http_status = row[3].as<int>();
            a.error_class = row[4].as<std::string>();
            const pqxx::binarystring excerpt(row[5]);
            a.response_excerpt = excerpt.str();
            d->attempt_log.push_back(std::move(a));
          }
          return d;
        });
  }

  absl::StatusOr<DeliveryRecord> Retry(absl::string_view tenant_id, int64_t id,
                                       absl::Time deadline) override {
    return WithConnection<DeliveryRecord>(
        pool_, deadline, "retry delivery",
        [&](PgConnection& c) -> absl::StatusOr<DeliveryRecord> {
          pqxx::work tx(c.get());
          // The lock order: the lane before the delivery.
          pqxx::result lane = tx.exec_params(
              "SELECT l.subscription_id FROM deliveries d JOIN delivery_lanes "
              "l ON l.subscription_id = d.subscription_id AND NOT l.deleted "
              "WHERE d.id = $1 AND d.tenant_id = $2 FOR NO KEY UPDATE OF l",
              id, std::string(tenant_id));
          if (lane.empty()) return DeliveryNotFound(id);
          const std::string subscription = lane[0][0].as<std::string>();
          pqxx::result made = tx.exec_params(
              absl::StrCat(kMakeDueSql,
                           "WHERE id = $1 AND (state IN ('failed', "
                           "'discarded') OR (state = 'pending' AND "
                           "leased_until IS NULL)) RETURNING 1"),
              id);
          if (made.empty()) {
            absl::StatusOr<DeliveryRecord> d = ReadOne(tx, tenant_id, id);
            if (!d.ok()) return d.status();
            return absl::FailedPreconditionError(
                d->state == DeliveryState::kDelivered
                    ? absl::StrCat("delivery dlv_", id,
                                   " was delivered; nothing to retry")
                    : absl::StrCat("delivery dlv_", id,
                                   " is being attempted now; retry it once "
                                   "this attempt is recorded"));
          }
          LowerLaneAndWake(tx, subscription);
          absl::StatusOr<DeliveryRecord> d = ReadOne(tx, tenant_id, id);
          tx.commit();
          return d;
        });
  }

  absl::StatusOr<int64_t> RecoverFailed(absl::string_view tenant_id,
                                        absl::string_view subscription_id,
                                        absl::Time since, absl::Time until,
                                        absl::Time deadline) override {
    int64_t total = 0;
    // A keyset position moving forward through the window, so that a row
    // recovered here that fails again meanwhile is not recovered (and
    // counted) a second time.
    std::string after_at = "-infinity";
    int64_t after_id = 0;
    while (true) {
      struct Batch {
        int scanned = 0;
        int made = 0;
      };
      absl::StatusOr<Batch> batch = WithConnection<Batch>(
          pool_, deadline, "recover failed deliveries",
          [&](PgConnection& c) -> absl::StatusOr<Batch> {
            pqxx::work tx(c.get());
            if (!LockLane(tx, tenant_id, subscription_id))
              return SubscriptionNotFound(subscription_id);
            pqxx::result r = tx.exec_params(
                "WITH batch AS (SELECT id, created_at FROM deliveries WHERE "
                "subscription_id = $1 AND state = 'failed' AND created_at >= "
                "$2::timestamptz AND created_at < $3::timestamptz AND "
                "(created_at, id) > ($4::timestamptz, $5::bigint) ORDER BY "
                "created_at, id LIMIT $6 FOR UPDATE), "
                "made AS (UPDATE deliveries d SET state = 'pending', attempts "
                "= 0, next_attempt_at = now(), completed_at = NULL FROM batch "
                "b WHERE d.id = b.id AND d.state = 'failed' RETURNING 1), "
                "last AS (SELECT created_at, id FROM batch ORDER BY created_at "
                "DESC, id DESC LIMIT 1) "
                "SELECT (SELECT count(*) FROM batch), (SELECT count(*) FROM "
                "made), (SELECT created_at::text FROM last), (SELECT id FROM "
                "last)",
                std::string(subscription_id), ToTimestampText(since),
                ToTimestampText(until), after_at, after_id, kOperatorBatch);
            Batch b;
            b.scanned = r[0][0].as<int>();
            b.made = r[0][1].as<int>();
            if (b.made > 0) LowerLaneAndWake(tx, std::string(subscription_id));
            tx.commit();
            if (b.scanned > 0) {
              after_at = r[0][2].as<std::string>();
              after_id = r[0][3].as<int64_t>();
            }
            return b;
          });
      if (!batch.ok()) return batch.status();
      total += batch->made;
      if (batch->scanned < kOperatorBatch) return total;
    }
  }

  absl::StatusOr<int64_t> DiscardHeld(absl::string_view tenant_id,
                                      absl::string_view subscription_id,
                                      absl::Time before,
                                      absl::Time deadline) override {
    int64_t total = 0;
    // Batches walk the lane's index of unleased pending rows in order, from
    // where the last one stopped, so rows kept (created after `before`) are
    // read once, not once per batch.
    std::string after_at = "-infinity";
    int64_t after_id = 0;
    for (bool first = true;; first = false) {
      struct Batch {
        int scanned = 0;
        int discarded = 0;
        bool enabled = false;
      };
      absl::StatusOr<Batch> batch = WithConnection<Batch>(
          pool_, deadline, "discard held deliveries",
          [&](PgConnection& c) -> absl::StatusOr<Batch> {
            pqxx::work tx(c.get());
            // The subscription row first (the lock order), so that it
            // cannot be enabled while this batch runs.
            pqxx::result s = tx.exec_params(
                "SELECT enabled FROM subscriptions WHERE tenant_id = $1 AND "
                "id = $2 FOR NO KEY UPDATE",
                std::string(tenant_id), std::string(subscription_id));
            if (s.empty()) return SubscriptionNotFound(subscription_id);
            Batch b;
            b.enabled = s[0][0].as<bool>();
            if (b.enabled) return b;
            LockLane(tx, tenant_id, subscription_id);
            pqxx::result r = tx.exec_params(
                "WITH scanned AS (SELECT id, next_attempt_at, created_at < "
                "$4::timestamptz AS take FROM deliveries WHERE "
                "subscription_id = $1 AND state = 'pending' AND leased_until "
                "IS NULL AND (next_attempt_at, id) > ($2::timestamptz, $3) "
                "ORDER BY next_attempt_at, id LIMIT $5 FOR UPDATE), "
                "ended AS (UPDATE deliveries d SET state = 'discarded', "
                "completed_at = now() FROM scanned s WHERE d.id = s.id AND "
                "s.take RETURNING 1) "
                "SELECT (SELECT count(*) FROM scanned), (SELECT count(*) FROM "
                "ended), (SELECT max(next_attempt_at)::text FROM scanned), "
                "(SELECT max(id) FROM scanned s WHERE s.next_attempt_at = "
                "(SELECT max(next_attempt_at) FROM scanned))",
                std::string(subscription_id), after_at, after_id,
                ToTimestampText(before), kOperatorBatch);
            b.scanned = r[0][0].as<int>();
            b.discarded = r[0][1].as<int>();
            if (b.scanned > 0) {
              after_at = r[0][2].as<std::string>();
              after_id = r[0][3].as<int64_t>();
            }
            tx.commit();
            return b;
          });
      if (!batch.ok()) return batch.status();
      if (batch->enabled) {
        if (first) {
          return absl::FailedPreconditionError(
              absl::StrCat("subscription ", common::Echo(subscription_id),
                           " is enabled: its deliveries are not held"));
        }
        return total;
      }
      total += batch->discarded;
      if (batch->scanned < kOperatorBatch) return total;
    }
  }

  absl::StatusOr<SubscriptionStatsRecord> Stats(
      absl::string_view tenant_id, absl::string_view subscription_id,
      absl::Time deadline) override {
    return WithConnection<SubscriptionStatsRecord>(
        pool_, deadline, "subscription stats",
        [&](PgConnection& c) -> absl::StatusOr<SubscriptionStatsRecord> {
          pqxx::nontransaction tx(c.get());
          // Each count reads at most `cap` index entries: the open ones
          // through the lane's partial indexes, the last day's through
          // (subscription_id, created_at).
          pqxx::result r = tx.exec_params(
              "SELECT s.enabled, s.disabled_reason, l.failed_in_a_row, "
              "(extract(epoch from l.failing_since) * 1000000)::bigint, "
              "(extract(epoch from l.last_success_at) * 1000000)::bigint, "
              "(extract(epoch from l.last_failure_at) * 1000000)::bigint, "
              "(SELECT count(*) FROM (SELECT 1 FROM deliveries d WHERE "
              "d.subscription_id = s.id AND d.state = 'pending' AND "
              "d.leased_until IS NULL LIMIT $3) x), "
              "(SELECT count(*) FROM (SELECT 1 FROM deliveries d WHERE "
              "d.subscription_id = s.id AND d.leased_until IS NOT NULL LIMIT "
              "$3) x), "
              "day.delivered, day.failed, day.discarded, day.n "
              "FROM subscriptions s JOIN delivery_lanes l ON "
              "l.subscription_id = s.id CROSS JOIN LATERAL (SELECT count(*) "
              "FILTER (WHERE state = 'delivered') AS delivered, count(*) "
              "FILTER (WHERE state = 'failed') AS failed, count(*) FILTER "
              "(WHERE state = 'discarded') AS discarded, count(*) AS n FROM "
              "(SELECT state FROM deliveries d WHERE d.subscription_id = s.id "
              "AND d.created_at >= now() - interval '24 hours' ORDER BY "
              "d.created_at DESC LIMIT $4) r) day "
              "WHERE s.tenant_id = $1 AND s.id = $2",
              std::string(tenant_id), std::string(subscription_id),
              kStatsCountCap, kStatsCountCap);
          if (r.empty()) return SubscriptionNotFound(subscription_id);
          const pqxx::row row = r[0];
          auto time = [&](int i) -> std::optional<absl::Time> {
            if (row[i].is_null()) return std::nullopt;
            return FromEpochMicros(row[i]);
          };
          SubscriptionStatsRecord st;
          st.enabled = row[0].as<bool>();
          st.disabled_reason = row[1].as<std::string>();
          st.failed_in_a_row = row[2].as<int>();
          st.failing_since = time(3);
          st.last_success_at = time(4);
          st.last_failure_at = time(5);
          (st.enabled ? st.pending : st.held) = row[6].as<int64_t>();
          st.in_flight = row[7].as<int64_t>();
          st.delivered_24h = row[8].as<int64_t>();
          st.failed_24h = row[9].as<int64_t>();
          st.discarded_24h = row[10].as<int64_t>();
          st.capped_24h = row[11].as<int64_t>() >= kStatsCountCap;
          return st;
        });
  }

 private:
  static absl::StatusOr<DeliveryRecord> ReadOne(pqxx::transaction_base& tx,
                                                absl::string_view tenant_id,
                                                int64_t id) {
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kDeliveryColumns,
                     " FROM deliveries d JOIN delivery_lanes l ON "
                     "l.subscription_id = d.subscription_id AND NOT l.deleted "
                     "JOIN events e ON e.id = d.event_id WHERE d.id = $1 AND "
                     "d.tenant_id = $2"),
        id, std::string(tenant_id));
    if (r.empty()) return DeliveryNotFound(id);
    return ReadDelivery(r[0]);
  }

  // Locks the subscription's lane (FOR NO KEY UPDATE) if the subscription is
  // the tenant's; false when it is not.
  static bool LockLane(pqxx::transaction_base& tx, absl::string_view tenant_id,
                       absl::string_view subscription_id) {
    return !tx.exec_params(
                  "SELECT l.subscription_id FROM delivery_lanes l JOIN "
                  "subscriptions s ON s.id = l.subscription_id WHERE s.id = $1 "
                  "AND s.tenant_id = $2 AND NOT l.deleted FOR NO KEY UPDATE "
                  "OF l",
                  std::string(subscription_id), std::string(tenant_id))
                .empty();
  }

  // A delivery of the lane became due now: the lane must say so (see
  // delivery_store.h), and the workers may be asleep. An operator action is
  // rare, so the NOTIFY rides in this transaction.
  static void LowerLaneAndWake(pqxx::transaction_base& tx,
                               const std::string& subscription_id) {
    tx.exec_params(
        "UPDATE delivery_lanes SET next_due_at = least(next_due_at, now()) "
        "WHERE subscription_id = $1",
        subscription_id);
    tx.exec_params("SELECT pg_notify($1, '')", std::string(kDeliveriesChannel));
  }

  PgPool& pool_;
};

}  // namespace

std::unique_ptr<DeliveryLogStore> NewPgDeliveryLogStore(PgPool* pool) {
  return std::make_unique<PgDeliveryLogStore>(pool);
}

}  // namespace webhooks::store
