#include <algorithm>
#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "lib/common/echo.h"
#include "lib/store/delivery_waker.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_stores.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

// The fan-out rides in the same statement as the insert: one round trip per
// publish. `ev` is empty when the idempotency key was already used. The
// workers are woken after the commit, by the DeliveryWaker.
//
// FOR KEY SHARE OF l: the deliveries' foreign key is on the subscription's
// lane, which a DeleteSubscription marks deleted (under FOR UPDATE), and the
// purge later deletes. A lane whose delete commits while the publish runs is
// skipped (the lock waits for the delete, then re-checks the new row: it is
// deleted) instead of fanning out to it or failing the whole publish; a lane
// that stays cannot be deleted until the publish commits. It is the lock the
// foreign-key check takes on the same rows anyway, so it costs nothing new, and
// it conflicts only with deletes (the lease's FOR NO KEY UPDATE of lanes does
// not wait for it).
constexpr char kPublishSql[] = R"sql(
WITH ev AS (
  INSERT INTO events (id, tenant_id, type, idempotency_key, body, occurred_at)
  VALUES ($1, $2, $3, $4, $5, $6::timestamptz)
  ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
  RETURNING id, tenant_id, type),
d AS (
  INSERT INTO deliveries (tenant_id, event_id, subscription_id)
  SELECT ev.tenant_id, ev.id, s.id
  FROM ev JOIN subscriptions s
    ON s.tenant_id = ev.tenant_id AND ev.type = ANY (s.event_types)
  JOIN delivery_lanes l ON l.subscription_id = s.id AND NOT l.deleted
  FOR KEY SHARE OF l
  RETURNING 1)
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM d)
)sql";

// The batch form. Rows are inserted in key order, so two batches racing on
// overlapping keys wait on each other in the same order instead of
// deadlocking; among items repeating a key, the first in the request wins.
constexpr char kPublishBatchSql[] = R"sql(
WITH input AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
    WITH ORDINALITY AS t(id, type, idempotency_key, body, occurred_at, position)),
ev AS (
  INSERT INTO events (id, tenant_id, type, idempotency_key, body, occurred_at)
  SELECT id, $1, type, idempotency_key, body, occurred_at FROM input ORDER BY idempotency_key, position
  ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
  RETURNING id, tenant_id, type),
d AS (
  INSERT INTO deliveries (tenant_id, event_id, subscription_id)
  SELECT ev.tenant_id, ev.id, s.id
  FROM ev JOIN subscriptions s
    ON s.tenant_id = ev.tenant_id AND ev.type = ANY (s.event_types)
  JOIN delivery_lanes l ON l.subscription_id = s.id AND NOT l.deleted
  FOR KEY SHARE OF l
  RETURNING event_id)
SELECT ev.id, coalesce(c.deliveries, 0)
FROM ev
LEFT JOIN (SELECT event_id, count(*) AS deliveries FROM d GROUP BY event_id) c
  ON c.event_id = ev.id
)sql";

constexpr char kEventByKeySql[] =
    "SELECT id FROM events WHERE tenant_id = $1 AND idempotency_key = $2";
constexpr char kEventsByKeysSql[] =
    "SELECT idempotency_key, id FROM events "
    "WHERE tenant_id = $1 AND idempotency_key = ANY ($2::text[])";

// Both publishing statements once on a fresh connection (PgPool::WarmUp;
// rolled back). The empty tenant owns no subscription (the API refuses an
// empty tenant_id), so nothing is fanned out; the ids and keys carry the
// backend's pid so that connections warming up at once never wait on each
// other's uncommitted rows.
constexpr char kPublishWarmUpSql[] = R"sql(
EXECUTE event_publish('evt_warm_up_' || pg_backend_pid(), '', 'engagement_dispatched',
  'warm-up-' || pg_backend_pid(), '{}', '2026-01-01T00:00:00Z');
EXECUTE event_publish_batch('', ARRAY['evt_warm_up_batch_' || pg_backend_pid()],
  '{engagement_dispatched}', ARRAY['warm-up-batch-' || pg_backend_pid()], '{"{}"}',
  '{2026-01-01T00:00:00Z}');
)sql";

class PgEventStore final : public EventStore {
 public:
  PgEventStore(PgPool* pool, std::unique_ptr<PgPool> wake_pool)
      : pool_(*pool),
        wake_pool_(std::move(wake_pool)),
        waker_(NewPgDeliveryWaker(wake_pool_.get())) {
    // Prepared as each connection opens (PgPool::Warm), not on a request.
    pool->Prepare("event_publish", kPublishSql);
    pool->Prepare("event_by_key", kEventByKeySql);
    pool->Prepare("event_publish_batch", kPublishBatchSql);
    pool->Prepare("events_by_keys", kEventsByKeysSql);
    pool->WarmUp(kPublishWarmUpSql);
  }

  absl::StatusOr<PublishResult> Publish(absl::string_view tenant_id,
                                        const NewEvent& event,
                                        absl::Time deadline) override {
    absl::StatusOr<PublishResult> result =
        PublishOne(tenant_id, event, deadline);
    if (result.ok() && Wakes(*result)) waker_->Wake();
    return result;
  }

  absl::StatusOr<std::vector<PublishResult>> PublishBatch(
      absl::string_view tenant_id, const std::vector<NewEvent>& events,
      absl::Time deadline) override {
    absl::StatusOr<std::vector<PublishResult>> results =
        PublishMany(tenant_id, events, deadline);
    if (results.ok() &&
        std::any_of(results->begin(), results->end(), &PgEventStore::Wakes)) {
      waker_->Wake();
    }
    return results;
  }

  absl::StatusOr<EventRecord> Get(absl::string_view tenant_id,
                                  absl::string_view event_id,
                                  absl::Time deadline) override {
    return WithConnection<EventRecord>(
        pool_, deadline, "get event",
        [&](PgConnection& c) -> absl::StatusOr<EventRecord> {
          c.EnsurePrepared(
              "event_get",
              "SELECT id, tenant_id, type, idempotency_key, body, "
              "(extract(epoch from occurred_at) * 1000000)::bigint, "
              "(extract(epoch from created_at) * 1000000)::bigint "
              "FROM events WHERE tenant_id = $1 AND id = $2");
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared("event_get", std::string(tenant_id),
                                            std::string(event_id));
          if (r.empty()) {
            return absl::NotFoundError(
                absl::StrCat("event ", common::Echo(event_id), " not found"));
          }
          EventRecord e;
          e.id = r[0][0].as<std::string>();
          e.tenant_id = r[0][1].as<std::string>();
          e.type = r[0][2].as<std::string>();
          e.idempotency_key = r[0][3].as<std::string>();
          e.body = r[0][4].as<std::string>();
          e.occurred_at = FromEpochMicros(r[0][5]);
          e.create_time = FromEpochMicros(r[0][6]);
          return e;
        });
  }

 private:
  // Whether a published event calls for waking the workers: it made
  // deliveries, or it is a duplicate, which may be the retry of a publish
  // whose answer, and so whose wake-up, was lost (wakes are coalesced, so a
  // spare one costs little).
  static bool Wakes(const PublishResult& r) {
    return r.deliveries_created > 0 || r.duplicate;
  }

  absl::StatusOr<PublishResult> PublishOne(absl::string_view tenant_id,
                                           const NewEvent& event,
                                           absl::Time deadline) {
    return WithConnection<PublishResult>(
        pool_, deadline, "publish event", [&](PgConnection& c) {
          c.EnsurePrepared("event_publish", kPublishSql);
          c.EnsurePrepared("event_by_key", kEventByKeySql);
          // A single statement is atomic on its own: no BEGIN/COMMIT round
          // trips.
          pqxx::nontransaction tx(c.get());
          const std::string tenant(tenant_id);
          pqxx::result r =
              tx.exec_prepared("event_publish", event.id, tenant, event.type,
                               event.idempotency_key, event.body,
                               ToTimestampText(event.occurred_at));
          PublishResult result;
          if (r[0][0].as<int64_t>() == 1) {
            result.event_id = event.id;
            result.deliveries_created = r[0][1].as<int>();
            return result;
          }
          // ON CONFLICT waited for the first insert to commit, so it is visible
          // now.
          pqxx::result existing =
              tx.exec_prepared("event_by_key", tenant, event.idempotency_key);
          result.event_id = existing[0][0].as<std::string>();
          result.duplicate = true;
          return result;
        });
  }

  absl::StatusOr<std::vector<PublishResult>> PublishMany(
      absl::string_view tenant_id, const std::vector<NewEvent>& events,
      absl::Time deadline) {
    if (events.empty()) return std::vector<PublishResult>{};
    return WithConnection<std::vector<PublishResult>>(
        pool_, deadline, "publish events", [&](PgConnection& c) {
          c.EnsurePrepared("event_publish_batch", kPublishBatchSql);
          c.EnsurePrepared("events_by_keys", kEventsByKeysSql);
          std::vector<std::string> ids, types, keys, bodies, times;
          for (const NewEvent& e : events) {
            ids.push_back(e.id);
            types.push_back(e.type);
            keys.push_back(e.idempotency_key);
            bodies.push_back(e.body);
            times.push_back(ToTimestampText(e.occurred_at));
          }
          const std::string tenant(tenant_id);
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared(
              "event_publish_batch", tenant, ToTextArrayLiteral(ids),
              ToTextArrayLiteral(types), ToTextArrayLiteral(keys),
              ToTextArrayLiteral(bodies), ToTextArrayLiteral(times));
          absl::flat_hash_map<std::string, int>
              created;  // inserted id -> deliveries
          for (const pqxx::row& row : r)
            created[row[0].as<std::string>()] = row[1].as<int>();

          std::vector<PublishResult> results(events.size());
          std::vector<std::string> missing_keys;
          for (std::size_t i = 0; i < events.size(); ++i) {
            auto it = created.find(events[i].id);
            if (it != created.end()) {
              results[i].event_id = events[i].id;
              results[i].deliveries_created = it->second;
            } else {
              results[i].duplicate = true;
              missing_keys.push_back(events[i].idempotency_key);
            }
          }
          if (!missing_keys.empty()) {
            absl::flat_hash_map<std::string, std::string> by_key;
            for (const pqxx::row& row :
                 tx.exec_prepared("events_by_keys", tenant,
                                  ToTextArrayLiteral(missing_keys))) {
              by_key[row[0].as<std::string>()] = row[1].as<std::string>();
            }
            for (std::size_t i = 0; i < events.size(); ++i) {
              if (results[i].duplicate)
                results[i].event_id = by_key[events[i].idempotency_key];
            }
          }
          return results;
        });
  }

  PgPool& pool_;
  // Declared before the waker, which uses it until its thread has stopped.
  const std::unique_ptr<PgPool> wake_pool_;
  const std::unique_ptr<DeliveryWaker> waker_;
};

}  // namespace

std::unique_ptr<EventStore> NewPgEventStore(PgPool* pool) {
  // The waker's own connection, so that a notification never waits behind
  // publishes for one of theirs. Create fails only for a size below 1.
  PgPoolOptions options = pool->options();
  options.size = 1;
  absl::StatusOr<std::unique_ptr<PgPool>> wake_pool =
      PgPool::Create(std::move(options));
  return std::make_unique<PgEventStore>(pool, *std::move(wake_pool));
}

}  // namespace webhooks::store
