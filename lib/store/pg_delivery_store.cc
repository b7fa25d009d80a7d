#include <algorithm>
#include <pqxx/pqxx>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/store/pg_connection.h"
#include "lib/store/pg_stores.h"
#include "lib/store/pg_values.h"

namespace webhooks::store {
namespace {

// The deliveries a statement has just leased (its CTE `leased`), with their
// events and subscriptions: the rows ReadLeasedRow reads, for the lease and
// for the hand-off of an outcome write alike. The body comes on one row per
// event.
constexpr char kLeasedRowsSql[] = R"sql(
SELECT l.id, l.lease_token, l.attempts + 1, l.tenant_id, l.event_id, e.type,
       CASE WHEN row_number() OVER (PARTITION BY l.event_id ORDER BY l.id) = 1
            THEN e.body END,
       (extract(epoch from e.created_at) * 1000000)::bigint,
       l.subscription_id, s.target_url, s.custom_headers_sealed, s.signing_secret_sealed,
       CASE WHEN s.previous_signing_secret_expires_at > now()
            THEN s.previous_signing_secret_sealed END
FROM leased l
CROSS JOIN LATERAL (SELECT type, body, created_at FROM events WHERE id = l.event_id) e
CROSS JOIN LATERAL (
  SELECT target_url, custom_headers_sealed, signing_secret_sealed,
         previous_signing_secret_expires_at, previous_signing_secret_sealed
  FROM subscriptions WHERE id = l.subscription_id) s
)sql";

// One statement, committed on return. Plan, in the order PostgreSQL runs it:
//   free_lanes:  Index Scan on delivery_lanes_due (next_due_at <= now()),
//                LIMIT $1, FOR NO KEY UPDATE SKIP LOCKED. Only lanes that are
//                enabled and below their cap are in that partial index, so a
//                capped or disabled lane is never read, whatever its backlog.
//   stuck_lanes: Index Scan on delivery_lanes_capped: lanes at their cap whose
//                leases have all expired (their worker died). Usually empty.
//   fresh:       per lane, Index Scan on deliveries_lane_due
//                (subscription_id = lane, next_attempt_at <= now()), LIMIT its
//                free slots and its share of the batch, FOR UPDATE SKIP LOCKED.
//   expired:     per lane, Index Scan on deliveries_lane_leased for leases
//                that expired: taken over, moving the slot they already hold.
//   chosen:      round-robin: every lane's first row, then every lane's
//                second, ... up to $1 rows.
// Lanes of the tenants in $4 (at their share of this worker's slots) are
// filtered out after the index walk: each such due lane costs a lease one
// index entry, bounded by the subscriptions a tenant may have.
// Rows read: about $1 plus one index probe per lane served. Serving a lane
// moves its turn (next_due_at) to now(), behind every lane that waited
// longer. Every lane served is reported too (id NULL), saying whether its due
// rows ran out (to be settled), it is now at its cap, or it may have more.
constexpr char kLeaseCtesSql[] = R"sql(
WITH free_lanes AS (
  SELECT subscription_id, max_in_flight - in_flight AS free
  FROM delivery_lanes
  WHERE enabled AND in_flight < max_in_flight AND next_due_at <= now()
    AND tenant_id <> ALL ($4::text[])
  ORDER BY next_due_at
  LIMIT $1
  FOR NO KEY UPDATE SKIP LOCKED),
stuck_lanes AS (
  SELECT subscription_id, 0 AS free
  FROM delivery_lanes
  WHERE enabled AND in_flight >= max_in_flight AND lease_expires_at <= now()
    AND tenant_id <> ALL ($4::text[])
  ORDER BY lease_expires_at
  LIMIT $1
  FOR NO KEY UPDATE SKIP LOCKED),
lanes AS (
  SELECT subscription_id, free, ceil($1::numeric / count(*) OVER ())::int AS share
  FROM (SELECT * FROM free_lanes UNION ALL SELECT * FROM stuck_lanes) l),
fresh AS (
  SELECT d.id, l.subscription_id, true AS fresh
  FROM lanes l CROSS JOIN LATERAL (
    SELECT id FROM deliveries d
    WHERE d.subscription_id = l.subscription_id AND d.state = 'pending'
      AND d.leased_until IS NULL AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT least(l.free, l.share)
    FOR UPDATE SKIP LOCKED) d),
expired AS (
  SELECT d.id, l.subscription_id, false AS fresh
  FROM lanes l CROSS JOIN LATERAL (
    SELECT id FROM deliveries d
    WHERE d.subscription_id = l.subscription_id AND d.leased_until IS NOT NULL
      AND d.leased_until <= now() AND d.state = 'pending'
    ORDER BY d.leased_until
    LIMIT l.share
    FOR UPDATE SKIP LOCKED) d),
chosen AS (
  SELECT id, subscription_id, fresh
  FROM (SELECT *, row_number() OVER (PARTITION BY subscription_id ORDER BY fresh, id) AS turn
        FROM (SELECT * FROM expired UNION ALL SELECT * FROM fresh) p) r
  ORDER BY turn
  LIMIT $1),
leased AS (
  UPDATE deliveries d
  SET lease_owner = $2,
      lease_token = d.lease_token + 1,
      leased_until = now() + $3 * interval '1 millisecond'
  FROM chosen c
  WHERE d.id = c.id
  RETURNING d.id, d.tenant_id, d.event_id, d.subscription_id, d.attempts, d.lease_token),
served AS (
  UPDATE delivery_lanes dl
  SET in_flight = dl.in_flight + s.taken_fresh,
      next_due_at = now(),
      lease_expires_at = CASE WHEN s.taken > 0
                              THEN greatest(dl.lease_expires_at, now() + $3 * interval '1 millisecond')
                              -- A capped lane that looked stuck (ReclaimExpired,
                              -- or a race with a write) but had nothing to take
                              -- over: its real latest expiry, so that it stops
                              -- looking stuck.
                              WHEN dl.lease_expires_at <= now() AND dl.in_flight >= dl.max_in_flight
                              THEN coalesce((SELECT max(d.leased_until) FROM deliveries d
                                             WHERE d.subscription_id = dl.subscription_id
                                               AND d.leased_until IS NOT NULL),
                                            dl.lease_expires_at)
                              ELSE dl.lease_expires_at END
  FROM (SELECT l.subscription_id,
               (SELECT count(*) FROM chosen c WHERE c.subscription_id = l.subscription_id) AS taken,
               (SELECT count(*) FROM chosen c
                WHERE c.subscription_id = l.subscription_id AND c.fresh) AS taken_fresh,
               (SELECT count(*) FROM fresh f WHERE f.subscription_id = l.subscription_id)
                 < least(l.free, l.share) AS ran_out
        FROM lanes l) s
  WHERE dl.subscription_id = s.subscription_id
  RETURNING dl.subscription_id, s.ran_out, dl.in_flight >= dl.max_in_flight AS capped)
)sql";
constexpr char kLeaseServedSql[] = R"sql(
UNION ALL
SELECT NULL, CASE WHEN ran_out THEN 1 WHEN capped THEN 2 ELSE 0 END, NULL, NULL, NULL,
       NULL, NULL, NULL,
       subscription_id, NULL, NULL, NULL, NULL
FROM served
)sql";

// ReclaimExpired: capped lanes (delivery_lanes_capped) whose leases have not
// all expired, probed for one that has (deliveries_lane_leased: the lane's
// earliest lease expiry comes first), get lease_expires_at = now(): the next
// lease's stuck_lanes takes them, and its `expired` step takes the expired
// leases over in place. That lease sets lease_expires_at back above every
// live lease of the lane (greatest(..., now() + lease)).
constexpr char kReclaimSql[] = R"sql(
UPDATE delivery_lanes l SET lease_expires_at = now()
FROM (SELECT c.subscription_id FROM delivery_lanes c
      WHERE c.enabled AND c.in_flight >= c.max_in_flight AND c.lease_expires_at > now()
        AND EXISTS (SELECT 1 FROM deliveries d
                    WHERE d.subscription_id = c.subscription_id
                      AND d.leased_until IS NOT NULL AND d.leased_until <= now())
      ORDER BY c.lease_expires_at
      LIMIT $1
      FOR NO KEY UPDATE OF c SKIP LOCKED) s
WHERE l.subscription_id = s.subscription_id
)sql";

// Settling lanes whose due rows ran out: next_due_at rises to the lane's
// next retry or lease expiry (infinity when it has none), so that an idle lane
// costs leases nothing. The raise is safe against a concurrent publish only
// under FOR UPDATE: every inserted delivery holds a KEY SHARE lock on its lane
// (the foreign key) from its insert to its commit. SKIP LOCKED passes over
// lanes with such a publish in flight (they stay due), and a publish that
// comes after waits for this commit, after which its wake-up trigger sees the
// raised value and lowers it again (0003_delivery_lanes.sql).
constexpr char kSettleLockSql[] = R"sql(
SELECT subscription_id FROM delivery_lanes
WHERE subscription_id = ANY ($1::text[])
ORDER BY subscription_id
FOR UPDATE SKIP LOCKED
)sql";
constexpr char kSettleSql[] = R"sql(
UPDATE delivery_lanes l
SET next_due_at = coalesce(least(
      (SELECT min(d.next_attempt_at) FROM deliveries d
       WHERE d.subscription_id = l.subscription_id AND d.state = 'pending'
         AND d.leased_until IS NULL),
      (SELECT min(d.leased_until) FROM deliveries d
       WHERE d.subscription_id = l.subscription_id AND d.leased_until IS NOT NULL)),
    'infinity')
WHERE l.subscription_id = ANY ($1::text[])
)sql";

// The lock order (delivery_store.h): subscriptions, lanes, deliveries. Rows
// are locked in id order so that two workers never wait on each other in a
// cycle.
constexpr char kLockSubscriptionsSql[] = R"sql(
SELECT id FROM subscriptions WHERE id = ANY ($1::text[]) ORDER BY id FOR NO KEY UPDATE
)sql";
constexpr char kLockLanesSql[] = R"sql(
SELECT subscription_id FROM delivery_lanes WHERE subscription_id = ANY ($1::text[])
ORDER BY subscription_id FOR NO KEY UPDATE
)sql";
// The same for an outcome write, which also switches the rest of its
// transaction to generic plans (set_config(..., true) is SET LOCAL, and costs
// no round trip of its own). Planning the write's statement afresh took
// 0.4-0.9 ms per write, a third of its time; its generic plan is as fast,
// because every table it reads is reached through an index condition on ids
// it is given or has just computed (= ANY, LATERAL), whatever the row
// estimates. Keep it so: a join the planner may turn into a hash join over a
// whole table is what made generic plans of these statements slow before.
constexpr char kLockLanesForWriteSql[] = R"sql(
WITH locked AS (
  SELECT subscription_id FROM delivery_lanes WHERE subscription_id = ANY ($1::text[])
  ORDER BY subscription_id FOR NO KEY UPDATE)
SELECT count(*), set_config('plan_cache_mode', 'force_generic_plan', true) FROM locked
)sql";

// A 410 disables its subscription: one row (and, by trigger, its lane). Its
// other deliveries are thereby held; none of them is touched. Fenced like the
// outcome: a worker whose lease was taken over disables nothing.
constexpr char kDisableSql[] = R"sql(
UPDATE subscriptions s
SET enabled = false, disabled_reason = i.reason, updated_at = now(), version = s.version + 1
FROM (SELECT DISTINCT ON (t.subscription_id) t.subscription_id, t.reason
      FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
        AS t(id, token, subscription_id, reason)
      JOIN deliveries d ON d.id = ANY ($1::bigint[]) AND d.id = t.id
                       AND d.lease_token = t.token
                       AND d.subscription_id = t.subscription_id
                       AND d.state = 'pending' AND d.lease_owner IS NOT NULL
      ORDER BY t.subscription_id) i
WHERE s.id = ANY ($3::text[]) AND s.id = i.subscription_id AND s.enabled
)sql";

// Auto-disable (DeliveryStore::DisableFailing): the subscription rows, then
// by trigger their lanes (the lock order); a lane's condition is re-read, so
// a success written since the write that asked cancels it.
constexpr char kAutoDisableSql[] = R"sql(
UPDATE subscriptions s
SET enabled = false, disabled_reason = i.reason, updated_at = now(), version = s.version + 1
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
       AS i(id, reason, min_failed, failing_before)
JOIN delivery_lanes l ON l.subscription_id = i.id
WHERE s.id = ANY ($1::text[]) AND s.id = i.id AND s.enabled
  AND ((i.min_failed > 0 AND l.failed_in_a_row >= i.min_failed)
       OR l.failing_since <= i.failing_before)
RETURNING s.id
)sql";

// Outcomes, fenced by lease token and an open lease (lease_owner, set and
// cleared with leased_until but in no index, so that no plan walks a partial
// index of every open lease; writing the same batch twice -- a retry after a
// lost answer -- thus counts each attempt once),
// their attempts, and the slots they free. A retry makes its lane due at its
// next attempt.
//
// The hand-off ($11 owner, $12 limit, $13 lease ms) leases, for each lane the
// batch frees slots of (and that is enabled: a 410 of this transaction has
// already disabled its lane), up to that many due deliveries through the same
// index probe as the lease (deliveries_lane_due, LIMIT the lane's room, FOR
// UPDATE SKIP LOCKED), interleaved across the lanes, $12 in all. The lanes
// are locked by this transaction already (kLockLanesSql), so `room` reads
// them as they are; the statement's snapshot shows the rows written by
// `done` as still leased, so none of them is taken again. With $12 = 0 the
// probes return at once. A lane handed deliveries keeps those slots (its
// in_flight falls only by what it did not get back) and its turn moves to
// now(), as a lease would move it.
constexpr char kCompleteCtesSql[] = R"sql(
WITH input AS (
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::timestamptz[],
                       $5::int[], $6::timestamptz[], $7::bigint[], $8::int[], $9::text[],
                       $10::bytea[])
    AS t(id, token, state, next_at, attempt, started_at, duration_us, status, error_class,
         excerpt)),
done AS (
  UPDATE deliveries d
  SET state = i.state,
      attempts = d.attempts + 1,
      next_attempt_at = CASE WHEN i.state = 'pending' THEN i.next_at ELSE d.next_attempt_at END,
      last_status = NULLIF(i.status, 0),
      last_error_class = i.error_class,
      lease_owner = NULL,
      leased_until = NULL,
      completed_at = CASE WHEN i.state = 'pending' THEN NULL ELSE now() END
  FROM input i
  WHERE d.id = ANY ($1::bigint[]) AND d.id = i.id AND d.lease_token = i.token
    AND d.state = 'pending' AND d.lease_owner IS NOT NULL
  RETURNING d.id, d.lease_token, d.subscription_id, d.state, d.next_attempt_at),
-- The input rows that applied, by id and token: a batch may carry one
-- delivery twice (a fenced outcome beside that of its re-lease), and only
-- the one that applied is recorded and counted.
applied AS (
  SELECT i.* FROM input i JOIN done ON done.id = i.id AND done.lease_token = i.token),
attempts AS (
  INSERT INTO delivery_attempts
    (delivery_id, attempt, started_at, duration_us, status, error_class, response_excerpt)
  SELECT a.id, a.attempt, a.started_at, a.duration_us, NULLIF(a.status, 0), a.error_class,
         a.excerpt
  FROM applied a
  ON CONFLICT DO NOTHING),
freed AS (
  SELECT done.subscription_id, count(*)::int AS n,
         min(done.next_attempt_at) FILTER (WHERE done.state = 'pending') AS retry_at,
         count(*) FILTER (WHERE done.state = 'delivered')::int AS delivered,
         count(*) FILTER (WHERE done.state = 'failed')::int AS failed,
         min(a.started_at) FILTER (WHERE done.state <> 'delivered') AS first_error_at,
         max(a.started_at) FILTER (WHERE done.state <> 'delivered') AS last_error_at,
         max(a.started_at) FILTER (WHERE done.state = 'delivered') AS last_success_at
  FROM done JOIN applied a ON a.id = done.id
  GROUP BY done.subscription_id),
room AS (
  SELECT f.subscription_id, least(f.n, l.max_in_flight - (l.in_flight - f.n), $12) AS room
  FROM freed f JOIN delivery_lanes l ON l.subscription_id = f.subscription_id
  WHERE l.subscription_id = ANY (ARRAY(SELECT subscription_id FROM freed))
    AND l.enabled AND $12 > 0),
candidates AS (
  SELECT d.id, r.subscription_id,
         row_number() OVER (PARTITION BY r.subscription_id ORDER BY d.next_attempt_at, d.id)
           AS turn
  FROM room r CROSS JOIN LATERAL (
    SELECT id, next_attempt_at FROM deliveries d
    WHERE d.subscription_id = r.subscription_id AND d.state = 'pending'
      AND d.leased_until IS NULL AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT greatest(r.room, 0)
    FOR UPDATE SKIP LOCKED) d),
chosen AS (
  SELECT id, subscription_id FROM candidates ORDER BY turn, id LIMIT greatest($12, 0)),
leased AS (
  UPDATE deliveries d
  SET lease_owner = $11,
      lease_token = d.lease_token + 1,
      leased_until = now() + $13 * interval '1 millisecond'
  FROM chosen c
  WHERE d.id = ANY (ARRAY(SELECT id FROM chosen)) AND d.id = c.id
  RETURNING d.id, d.tenant_id, d.event_id, d.subscription_id, d.attempts, d.lease_token),
lanes AS (
  UPDATE delivery_lanes l
  SET in_flight = l.in_flight - f.n + coalesce(h.n, 0),
      next_due_at = CASE WHEN h.n > 0 THEN now()
                         ELSE least(l.next_due_at, f.retry_at) END,
      lease_expires_at = CASE WHEN h.n > 0
                              THEN greatest(l.lease_expires_at,
                                            now() + $13 * interval '1 millisecond')
                              ELSE l.lease_expires_at END,
      -- A success in the batch ends the streak; failures after it (within a
      -- batch, order is not known) start the next one.
      failed_in_a_row = CASE WHEN f.delivered > 0 THEN f.failed
                             ELSE l.failed_in_a_row + f.failed END,
      failing_since = CASE WHEN f.delivered > 0 AND f.first_error_at IS NULL THEN NULL
                           WHEN f.delivered > 0 THEN f.first_error_at
                           ELSE coalesce(l.failing_since, f.first_error_at) END,
      last_success_at = greatest(l.last_success_at, f.last_success_at),
      last_failure_at = greatest(l.last_failure_at, f.last_error_at)
  FROM freed f
  LEFT JOIN (SELECT subscription_id, count(*)::int AS n FROM chosen GROUP BY subscription_id) h
    ON h.subscription_id = f.subscription_id
  WHERE l.subscription_id = ANY (ARRAY(SELECT subscription_id FROM freed))
    AND l.subscription_id = f.subscription_id
  RETURNING l.subscription_id, l.failed_in_a_row, l.failing_since, l.enabled,
            f.first_error_at IS NOT NULL AS erred)
)sql";
// Then the applied outcomes (id set, token NULL), and the health of every
// enabled lane that had a failed attempt in this batch (id NULL: its failed
// deliveries in a row in the attempt column, failing_since in the created
// column, the lane in the subscription column), for the auto-disable.
constexpr char kCompleteDoneSql[] = R"sql(
UNION ALL
SELECT id, NULL::bigint, NULL::int, NULL::text, NULL::text, NULL::text, NULL::text,
       NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text
FROM done
UNION ALL
SELECT NULL::bigint, NULL::bigint, failed_in_a_row, NULL::text, NULL::text, NULL::text,
       NULL::text, (extract(epoch from failing_since) * 1000000)::bigint,
       subscription_id, NULL::text, NULL::text, NULL::text, NULL::text
FROM lanes WHERE erred AND enabled
)sql";

// For a batch that may have been written before by a write whose answer was
// lost (DeliveryOutcome::maybe_written, or a second try on a fresh connection
// within one call), before its write: which of its outcomes are in the
// database already, by their attempt rows (this attempt's number and start
// identify the outcome; a take-over by another worker has its own start).
// The write then fences those off, and they are reported applied too, so that
// counters count each once. Run first, so that its failure leaves nothing
// written to misreport. A rare path, kept out of the outcome statement and
// its generic plan: planned afresh for each call, it probes the attempts'
// primary key.
constexpr char kWrittenBeforeSql[] = R"sql(
SELECT t.id
FROM unnest($1::bigint[], $2::int[], $3::timestamptz[]) AS t(id, attempt, started_at)
WHERE EXISTS (SELECT 1 FROM delivery_attempts a
              WHERE a.delivery_id = t.id AND a.attempt = t.attempt
                AND a.started_at = t.started_at)
)sql";

// Handed back untried: the delivery keeps its place in line (next_attempt_at
// is untouched) and its lane is due at once.
constexpr char kReleaseSql[] = R"sql(
WITH done AS (
  UPDATE deliveries d
  SET lease_owner = NULL, leased_until = NULL
  FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)
  WHERE d.id = r.id AND d.lease_token = r.token AND d.state = 'pending'
    AND d.leased_until IS NOT NULL
  RETURNING d.subscription_id),
lanes AS (
  UPDATE delivery_lanes l
  SET in_flight = l.in_flight - c.n, next_due_at = least(l.next_due_at, now())
  FROM (SELECT subscription_id, count(*) AS n FROM done GROUP BY subscription_id) c
  WHERE l.subscription_id = c.subscription_id)
SELECT count(*) FROM done
)sql";

// Bounded reads: the due count stops at kExactDueLimit + 1 rows (above it the
// planner's row estimate of the partial index stands in); the oldest due row
// is one index probe per due lane; in-flight sums the lanes. The ORDER BY and
// LIMIT inside the count's LATERAL keep it a walk of the lane's index: without
// them the planner may scan every pending delivery, lanes disabled included,
// for a lane whose share of the table it overestimates (159 ms behind a
// disabled backlog of 1,000,000, against 4 ms).
constexpr char kStatsSql[] = R"sql(
SELECT
  (SELECT count(*) FROM (
     SELECT 1 FROM delivery_lanes l CROSS JOIN LATERAL (
       SELECT 1 FROM deliveries d
       WHERE d.subscription_id = l.subscription_id AND d.state = 'pending'
         AND d.leased_until IS NULL AND d.next_attempt_at <= now()
       ORDER BY d.next_attempt_at LIMIT $1 + 1) x
     WHERE l.enabled AND l.next_due_at <= now()
     LIMIT $1 + 1) c),
  (SELECT reltuples::bigint FROM pg_class WHERE relname = 'deliveries_lane_due'),
  (SELECT coalesce((extract(epoch from now() - min(x.t)) * 1000000)::bigint, 0)
   FROM delivery_lanes l CROSS JOIN LATERAL (
     SELECT d.next_attempt_at AS t FROM deliveries d
     WHERE d.subscription_id = l.subscription_id AND d.state = 'pending'
       AND d.leased_until IS NULL AND d.next_attempt_at <= now()
     ORDER BY d.next_attempt_at LIMIT 1) x
   WHERE l.enabled AND l.next_due_at <= now()),
  (SELECT coalesce(sum(in_flight), 0) FROM delivery_lanes WHERE NOT deleted)
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

// The distinct subscription ids of a batch.
template <typename Item>
std::vector<std::string> SubscriptionsOf(const std::vector<Item>& items) {
  std::vector<std::string> ids;
  ids.reserve(items.size());
  for (const Item& item : items) ids.push_back(item.subscription_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

class PgDeliveryStore final : public DeliveryStore {
 public:
  PgDeliveryStore(PgPool* pool, PgDeliveryStoreOptions options)
      : pool_(*pool), options_(options) {}

  absl::StatusOr<std::vector<LeasedDelivery>> Lease(
      const LeaseRequest& request, absl::Time deadline) override {
    std::vector<LeasedDelivery> out;
    absl::flat_hash_map<int64_t, size_t> index;  // delivery id -> out
    std::vector<std::string> ran_out;
    // A lane's share of the batch is limit / lanes; lanes with fewer due rows
    // than their share leave the batch short while others have more. A few
    // more rounds fill it (each one a lease of its own, committed).
    constexpr int kMaxRounds = 4;
    for (int round = 0; round < kMaxRounds; ++round) {
      const int limit = request.limit - static_cast<int>(out.size());
      if (limit <= 0) break;
      bool more = false;
      absl::StatusOr<std::vector<LeasedDelivery>> leased =
          WithConnection<std::vector<LeasedDelivery>>(
              pool_, deadline, "lease deliveries", [&](PgConnection& c) {
                more = false;
                SetSessionOptions(c);
                c.EnsurePrepared("delivery_lease", lease_sql_);
                pqxx::nontransaction tx(c.get());
                pqxx::result r = tx.exec_prepared(
                    "delivery_lease", limit, request.owner,
                    absl::ToInt64Milliseconds(request.lease_duration),
                    ToTextArrayLiteral(request.excluded_tenants));
                return ReadLeased(r, &ran_out, &more);
              });
      if (!leased.ok()) {
        // What earlier rounds leased is ours: hand it out.
        if (out.empty()) return leased.status();
        break;
      }
      const bool empty = leased->empty();
      for (LeasedDelivery& d : *leased) {
        // A later round may take over a lease of an earlier one that already
        // expired (a lease shorter than a round): keep the newer lease only.
        auto [it, added] = index.try_emplace(d.id, out.size());
        if (added) {
          out.push_back(std::move(d));
        } else {
          out[it->second] = std::move(d);
        }
      }
      if (empty || !more) break;
    }
    if (!ran_out.empty()) {
      std::sort(ran_out.begin(), ran_out.end());
      ran_out.erase(std::unique(ran_out.begin(), ran_out.end()), ran_out.end());
      // Settling is an optimisation: when it fails, the lanes stay due and
      // the next lease probes them again.
      (void)Settle(ran_out, deadline);
    }
    return out;
  }

  absl::StatusOr<CompleteResult> CompleteAndHandOff(
      const std::vector<DeliveryOutcome>& outcomes, const HandOff& hand_off,
      absl::Time deadline) override {
    if (outcomes.empty()) return CompleteResult{};
    std::vector<int64_t> ids, tokens, durations;
    std::vector<int> attempts, statuses;
    std::vector<std::string> states, next_at, started_at, classes, excerpts;
    std::vector<int64_t> disable_ids, disable_tokens;
    std::vector<std::string> disable_subscriptions, disable_reasons;
    for (const DeliveryOutcome& o : outcomes) {
      ids.push_back(o.delivery_id);
      tokens.push_back(o.lease_token);
      states.emplace_back(StateName(o.state));
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
      if (o.disable_subscription) {
        disable_ids.push_back(o.delivery_id);
        disable_tokens.push_back(o.lease_token);
        disable_subscriptions.push_back(o.subscription_id);
        disable_reasons.push_back(o.disable_reason);
      }
    }
    const bool maybe_written =
        std::any_of(outcomes.begin(), outcomes.end(),
                    [](const DeliveryOutcome& o) { return o.maybe_written; });
    const std::vector<std::string> lanes = SubscriptionsOf(outcomes);
    bool tried = false;  // by an earlier run of the body in this call
    return WithConnection<CompleteResult>(
        pool_, deadline, "complete deliveries", [&](PgConnection& c) {
          // A first try that failed on its connection may have committed.
          const bool check = maybe_written || tried;
          tried = true;
          CompleteResult result;
          if (check) {
            pqxx::nontransaction lookup(c.get());
            for (const pqxx::row& row :
                 lookup.exec_params(kWrittenBeforeSql, IntArrayLiteral(ids),
                                    IntArrayLiteral(attempts),
                                    ToTextArrayLiteral(started_at))) {
              result.applied.push_back(row[0].as<int64_t>());
            }
          }
          PrepareWrites(c);
          c.EnsurePrepared("delivery_complete", complete_sql_);
          c.EnsurePrepared("delivery_disable", kDisableSql);
          SetSessionOptions(c);
          pqxx::result r;
          if (disable_ids.empty()) {
            r = WriteInOneRoundTrip(
                c, ToTextArrayLiteral(lanes),
                {IntArrayLiteral(ids), IntArrayLiteral(tokens),
                 ToTextArrayLiteral(states), ToTextArrayLiteral(next_at),
                 IntArrayLiteral(attempts), ToTextArrayLiteral(started_at),
                 IntArrayLiteral(durations), IntArrayLiteral(statuses),
                 ToTextArrayLiteral(classes), ToTextArrayLiteral(excerpts),
                 hand_off.owner, absl::StrCat(std::max(0, hand_off.limit)),
                 absl::StrCat(
                     absl::ToInt64Milliseconds(hand_off.lease_duration))});
          } else {
            pqxx::work tx(c.get());
            // Subscriptions, then lanes, then deliveries. The disable comes
            // after the lanes are locked: its trigger writes a lane, which
            // must already be ours, taken in order with the others.
            tx.exec_prepared("delivery_lock_subscriptions",
                             ToTextArrayLiteral(disable_subscriptions));
            tx.exec_prepared("delivery_lock_lanes_for_write",
                             ToTextArrayLiteral(lanes));
            tx.exec_prepared("delivery_disable", IntArrayLiteral(disable_ids),
                             IntArrayLiteral(disable_tokens),
                             ToTextArrayLiteral(disable_subscriptions),
                             ToTextArrayLiteral(disable_reasons));
            r = tx.exec_prepared(
                "delivery_complete", IntArrayLiteral(ids),
                IntArrayLiteral(tokens), ToTextArrayLiteral(states),
                ToTextArrayLiteral(next_at), IntArrayLiteral(attempts),
                ToTextArrayLiteral(started_at), IntArrayLiteral(durations),
                IntArrayLiteral(statuses), ToTextArrayLiteral(classes),
                ToTextArrayLiteral(excerpts), hand_off.owner,
                std::max(0, hand_off.limit),
                absl::ToInt64Milliseconds(hand_off.lease_duration));
            tx.commit();
          }
          const BodiesByEvent bodies = CollectBodies(r);
          for (const pqxx::row& row : r) {
            if (row[0].is_null()) {
              LaneHealth h;
              h.subscription_id = row[8].as<std::string>();
              h.failed_in_a_row = row[2].as<int>();
              if (!row[7].is_null()) h.failing_since = FromEpochMicros(row[7]);
              result.failing.push_back(std::move(h));
            } else if (row[1].is_null()) {
              result.applied.push_back(row[0].as<int64_t>());
            } else {
              result.handed_off.push_back(ReadLeasedRow(row, bodies));
            }
          }
          return result;
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
    const std::vector<std::string> lanes = SubscriptionsOf(releases);
    return WithConnection<int>(
        pool_, deadline, "release deliveries", [&](PgConnection& c) {
          PrepareWrites(c);
          c.EnsurePrepared("delivery_release", kReleaseSql);
          SetSessionOptions(c);
          pqxx::work tx(c.get());
          tx.exec_prepared("delivery_lock_lanes", ToTextArrayLiteral(lanes));
          pqxx::result r =
              tx.exec_prepared("delivery_release", IntArrayLiteral(ids),
                               IntArrayLiteral(tokens));
          tx.commit();
          return r[0][0].as<int>();
        });
  }

  absl::StatusOr<std::vector<std::string>> DisableFailing(
      const std::vector<FailingSubscription>& failing,
      absl::Time deadline) override {
    if (failing.empty()) return std::vector<std::string>{};
    std::vector<std::string> ids, reasons, before;
    std::vector<int64_t> min_failed;
    // In id order, as every statement that locks several subscriptions.
    std::vector<FailingSubscription> sorted = failing;
    std::sort(sorted.begin(), sorted.end(),
              [](const FailingSubscription& a, const FailingSubscription& b) {
                return a.subscription_id < b.subscription_id;
              });
    for (const FailingSubscription& f : sorted) {
      ids.push_back(f.subscription_id);
      reasons.push_back(f.reason);
      min_failed.push_back(f.min_failed_in_a_row);
      before.push_back(ToTimestampText(f.failing_before));
    }
    return WithConnection<std::vector<std::string>>(
        pool_, deadline, "auto-disable subscriptions", [&](PgConnection& c) {
          SetSessionOptions(c);
          PrepareWrites(c);
          c.EnsurePrepared("delivery_auto_disable", kAutoDisableSql);
          pqxx::work tx(c.get());
          // The rows first, in id order (an UPDATE locks in its join's
          // order), then their lanes by trigger: the lock order.
          tx.exec_prepared("delivery_lock_subscriptions",
                           ToTextArrayLiteral(ids));
          std::vector<std::string> out;
          for (const pqxx::row& row : tx.exec_prepared(
                   "delivery_auto_disable", ToTextArrayLiteral(ids),
                   ToTextArrayLiteral(reasons), IntArrayLiteral(min_failed),
                   ToTextArrayLiteral(before))) {
            out.push_back(row[0].as<std::string>());
          }
          tx.commit();
          return out;
        });
  }

  absl::StatusOr<int> ReclaimExpired(absl::Time deadline) override {
    return WithConnection<int>(
        pool_, deadline, "reclaim expired leases", [&](PgConnection& c) {
          SetSessionOptions(c);
          c.EnsurePrepared("delivery_reclaim", kReclaimSql);
          pqxx::nontransaction tx(c.get());
          return static_cast<int>(
              tx.exec_prepared("delivery_reclaim", kReclaimLimit)
                  .affected_rows());
        });
  }

  absl::StatusOr<QueueStats> Stats(absl::Time deadline) override {
    return WithConnection<QueueStats>(
        pool_, deadline, "queue stats", [&](PgConnection& c) {
          c.EnsurePrepared("delivery_stats", kStatsSql);
          pqxx::nontransaction tx(c.get());
          pqxx::result r = tx.exec_prepared("delivery_stats", kExactDueLimit);
          QueueStats stats;
          stats.due = r[0][0].as<int64_t>();
          if (stats.due > kExactDueLimit) {
            stats.due_is_estimate = true;
            stats.due = std::max(kExactDueLimit, r[0][1].as<int64_t>(0));
          }
          stats.oldest_due_age = absl::Microseconds(r[0][2].as<int64_t>(0));
          stats.in_flight = r[0][3].as<int64_t>(0);
          return stats;
        });
  }

 private:
  using BodiesByEvent =
      absl::flat_hash_map<std::string, std::shared_ptr<const std::string>>;

  // The body comes once per event (on one of its rows, column 6): collect
  // them first, so that every delivery of the event shares that one copy.
  static BodiesByEvent CollectBodies(const pqxx::result& r) {
    BodiesByEvent bodies;
    for (const pqxx::row& row : r) {
      if (!row[0].is_null() && !row[6].is_null()) {
        bodies[row[4].c_str()] =
            std::make_shared<const std::string>(row[6].c_str(), row[6].size());
      }
    }
    return bodies;
  }

  // A leased delivery, in the columns of kLeasedRowsSql.
  static LeasedDelivery ReadLeasedRow(const pqxx::row& row,
                                      const BodiesByEvent& bodies) {
    LeasedDelivery d;
    d.id = row[0].as<int64_t>();
    d.lease_token = row[1].as<int64_t>();
    d.attempt = row[2].as<int>();
    d.tenant_id = row[3].as<std::string>();
    d.event_id = row[4].as<std::string>();
    d.event_type = row[5].as<std::string>();
    if (auto it = bodies.find(d.event_id); it != bodies.end())
      d.body = it->second;
    d.event_created_at = FromEpochMicros(row[7]);
    d.subscription_id = row[8].as<std::string>();
    d.target_url = row[9].as<std::string>();
    d.custom_headers_sealed = row[10].as<std::string>();
    d.signing_secret_sealed = row[11].as<std::string>();
    if (!row[12].is_null())
      d.previous_signing_secret_sealed = row[12].as<std::string>();
    return d;
  }

  static std::vector<LeasedDelivery> ReadLeased(
      const pqxx::result& r, std::vector<std::string>* ran_out, bool* more) {
    const BodiesByEvent bodies = CollectBodies(r);
    std::vector<LeasedDelivery> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) {
      if (row[0].is_null()) {  // a lane served
        const int lane = row[1].as<int>();
        if (lane == 1) ran_out->push_back(row[8].as<std::string>());
        if (lane == 0) *more = true;
        continue;
      }
      out.push_back(ReadLeasedRow(row, bodies));
    }
    return out;
  }

  absl::Status Settle(const std::vector<std::string>& lanes,
                      absl::Time deadline) {
    return WithConnection<bool>(
               pool_, deadline, "settle lanes",
               [&](PgConnection& c) {
                 c.EnsurePrepared("delivery_settle_lock", kSettleLockSql);
                 c.EnsurePrepared("delivery_settle", kSettleSql);
                 pqxx::work tx(c.get());
                 pqxx::result locked = tx.exec_prepared(
                     "delivery_settle_lock", ToTextArrayLiteral(lanes));
                 if (!locked.empty()) {
                   std::vector<std::string> ids;
                   for (const pqxx::row& row : locked)
                     ids.push_back(row[0].as<std::string>());
                   tx.exec_prepared("delivery_settle", ToTextArrayLiteral(ids));
                 }
                 tx.commit();
                 return true;
               })
        .status();
  }

  // The lane lock and the outcome statement of a write that disables
  // nothing, sent as one simple-query message: PostgreSQL runs the
  // statements of one message as one implicit transaction, in order (the
  // lanes are locked before any delivery, and held to the end, as with BEGIN
  // ... COMMIT; the lock's SET LOCAL of generic plans applies to the
  // statement), commits it at the end and answers once; an error in either
  // rolls back both. BEGIN, the lock and COMMIT were three round trips of
  // their own, about 0.45 ms of a 2.5-3.4 ms write on a loaded machine. The
  // parameters travel as quoted literals to EXECUTE of the same prepared
  // statements; exec returns the last statement's result. (Not
  // pqxx::pipeline: it sends each query as soon as the one before is out,
  // one transaction each.)
  static pqxx::result WriteInOneRoundTrip(
      PgConnection& c, const std::string& lanes,
      const std::vector<std::string>& complete_args) {
    // No-ops once prepared on this connection (libpqxx remembers, and forgets
    // on a reconnect).
    c.get().prepare_now("delivery_lock_lanes_for_write");
    c.get().prepare_now("delivery_complete");
    pqxx::nontransaction tx(c.get());
    std::string message =
        absl::StrCat("EXECUTE delivery_lock_lanes_for_write(", tx.quote(lanes),
                     "); EXECUTE delivery_complete(");
    for (size_t i = 0; i < complete_args.size(); ++i) {
      if (i > 0) message.push_back(',');
      message += tx.quote(complete_args[i]);
    }
    message.push_back(')');
    return tx.exec(message);
  }

  static void PrepareWrites(PgConnection& c) {
    c.EnsurePrepared("delivery_lock_subscriptions", kLockSubscriptionsSql);
    c.EnsurePrepared("delivery_lock_lanes", kLockLanesSql);
    c.EnsurePrepared("delivery_lock_lanes_for_write", kLockLanesForWriteSql);
  }

  // This store's lock_timeout, as a session setting outside any transaction
  // (so that no rollback undoes it), made only when the connection does not
  // have it already (it may have last run for another store with other
  // options: tests give one pool several stores): no round trip per write.
  // (Forcing generic plans here was tried and measured: the lease's generic
  // plan is 25 times slower behind a backlog of 1,000,000, see
  // BENCHMARKS.md.)
  void SetSessionOptions(PgConnection& c) const {
    const std::string ms = absl::StrCat(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.lock_timeout)));
    if (!c.SettingChanged("lock_timeout", ms)) return;
    pqxx::nontransaction tx(c.get());
    tx.exec(absl::StrCat("SET lock_timeout = ", ms));
  }

  PgPool& pool_;
  const PgDeliveryStoreOptions options_;
  // The two statements that lease, sharing the rows they return.
  const std::string lease_sql_ =
      absl::StrCat(kLeaseCtesSql, kLeasedRowsSql, kLeaseServedSql);
  const std::string complete_sql_ = PgCompleteStatementForTesting();
};

}  // namespace

std::unique_ptr<DeliveryStore> NewPgDeliveryStore(
    PgPool* pool, PgDeliveryStoreOptions options) {
  return std::make_unique<PgDeliveryStore>(pool, options);
}

std::string PgCompleteStatementForTesting() {
  return absl::StrCat(kCompleteCtesSql, kLeasedRowsSql, kCompleteDoneSql);
}

}  // namespace webhooks::store
