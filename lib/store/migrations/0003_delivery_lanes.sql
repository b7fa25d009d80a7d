-- Delivery engine v2: one lane per subscription, through which leasing finds
-- work (lib/store/delivery_store.h explains the model).

-- The per-subscription cap on requests in flight, across every worker.
ALTER TABLE subscriptions ADD COLUMN max_in_flight integer NOT NULL DEFAULT 64
  CHECK (max_in_flight >= 1);

-- Written by lease, complete and release (in_flight, next_due_at), and by the
-- triggers below (enabled, max_in_flight mirror the subscription). Narrow and
-- apart from subscriptions, whose wide rows the API updates.
--   in_flight:        deliveries of the lane with leased_until set, exactly.
--   next_due_at:      when the lane next may have leasable work; among due
--                     lanes, the one waiting longest is served first (a lease
--                     sets it to now() after serving the lane: round-robin).
--                     Only ever lowered, except by the settling step of a
--                     lease, which raises it under a lock that publishers
--                     wait for (see deliveries_wake_lanes).
--   lease_expires_at: the latest expiry of any lease granted; a lane at its
--                     cap whose leases have all expired is served again.
CREATE TABLE delivery_lanes (
  subscription_id  text PRIMARY KEY REFERENCES subscriptions (id) ON DELETE CASCADE,
  enabled          boolean NOT NULL,
  max_in_flight    integer NOT NULL,
  in_flight        integer NOT NULL DEFAULT 0,
  next_due_at      timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
-- What a lease walks: lanes that are enabled and below their cap, by turn.
-- A lane at its cap or disabled is not in it, so it costs a lease nothing.
CREATE INDEX delivery_lanes_due ON delivery_lanes (next_due_at)
  WHERE enabled AND in_flight < max_in_flight;
-- Lanes at their cap, for taking over leases that all expired (a dead worker).
CREATE INDEX delivery_lanes_capped ON delivery_lanes (lease_expires_at)
  WHERE enabled AND in_flight >= max_in_flight;

INSERT INTO delivery_lanes (subscription_id, enabled, max_in_flight, in_flight)
SELECT s.id, s.enabled, s.max_in_flight,
       (SELECT count(*) FROM deliveries d
        WHERE d.subscription_id = s.id AND d.state IN ('pending', 'held')
          AND d.leased_until IS NOT NULL)
FROM subscriptions s;

-- "Held" follows from the lane being disabled; it is no longer a state.
UPDATE deliveries SET state = 'pending' WHERE state = 'held';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
  CHECK (state IN ('pending', 'delivered', 'failed'));
DROP INDEX deliveries_held;
DROP INDEX deliveries_due;
-- A lease's rows of one lane: pending, not leased, due, oldest first.
CREATE INDEX deliveries_lane_due ON deliveries (subscription_id, next_attempt_at)
  WHERE state = 'pending' AND leased_until IS NULL;
-- A lane's open leases, for taking over expired ones.
CREATE INDEX deliveries_lane_leased ON deliveries (subscription_id, leased_until)
  WHERE leased_until IS NOT NULL;
-- Every leased row is pending: a written outcome clears the lease.
UPDATE deliveries SET leased_until = NULL, lease_owner = NULL
WHERE state <> 'pending' AND leased_until IS NOT NULL;

-- A delivery belongs to a lane; the foreign-key check of every insert takes a
-- KEY SHARE lock on the lane row, which the settling step's FOR UPDATE waits
-- for (and skips) -- the interlock that keeps a raise from hiding new work.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_subscription_id_fkey;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_lane_fkey
  FOREIGN KEY (subscription_id) REFERENCES delivery_lanes (subscription_id)
  ON DELETE CASCADE;

CREATE FUNCTION webhooks_lane_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO delivery_lanes (subscription_id, enabled, max_in_flight)
  VALUES (NEW.id, NEW.enabled, NEW.max_in_flight);
  RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_lane_create AFTER INSERT ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION webhooks_lane_create();

-- Enabling or disabling a subscription is one lane row, whatever its backlog.
CREATE FUNCTION webhooks_lane_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE delivery_lanes
  SET enabled = NEW.enabled, max_in_flight = NEW.max_in_flight,
      next_due_at = CASE WHEN NEW.enabled AND NOT OLD.enabled
                         THEN least(next_due_at, now()) ELSE next_due_at END
  WHERE subscription_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_lane_mirror AFTER UPDATE OF enabled, max_in_flight
  ON subscriptions FOR EACH ROW
  WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled
        OR OLD.max_in_flight IS DISTINCT FROM NEW.max_in_flight)
  EXECUTE FUNCTION webhooks_lane_mirror();

-- New deliveries make their lanes due. A statement trigger fires after the
-- row-level foreign-key checks, and each statement of a volatile function
-- takes a fresh snapshot: this UPDATE therefore runs after the KEY SHARE lock
-- on the lane is held and sees any raise that committed before it. Under load
-- the lane is already due and the UPDATE writes nothing.
-- The lanes to lower are locked first, in id order, so that two publishes
-- waking the same lanes never wait on each other in a cycle; rows that need
-- no change are not locked.
CREATE FUNCTION webhooks_lanes_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM delivery_lanes l
  JOIN (SELECT subscription_id, min(next_attempt_at) AS due
        FROM new_deliveries GROUP BY subscription_id) n
    ON l.subscription_id = n.subscription_id
  WHERE l.next_due_at > n.due
  ORDER BY l.subscription_id
  FOR NO KEY UPDATE OF l;
  IF FOUND THEN
    UPDATE delivery_lanes l SET next_due_at = n.due
    FROM (SELECT subscription_id, min(next_attempt_at) AS due
          FROM new_deliveries GROUP BY subscription_id) n
    WHERE l.subscription_id = n.subscription_id AND l.next_due_at > n.due;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER deliveries_wake_lanes AFTER INSERT ON deliveries
  REFERENCING NEW TABLE AS new_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION webhooks_lanes_wake();
