-- Deleting a subscription costs two rows, whatever its history or backlog.
-- The delete used to cascade to every delivery (and attempt) of the
-- subscription in the same statement, which for a busy one ran past the
-- statement timeout every time. Now the subscription row goes and its lane
-- stays behind, disabled and marked deleted: nothing leases, publishes to,
-- reads or retries a deleted lane's deliveries, and `webhooks-api cleanup`
-- purges them in batches, then the lane (lib/store/retention.h).
ALTER TABLE delivery_lanes ADD COLUMN deleted boolean NOT NULL DEFAULT false;
ALTER TABLE delivery_lanes DROP CONSTRAINT delivery_lanes_subscription_id_fkey;

-- FOR UPDATE, not the UPDATE's own NO KEY lock: a publish fanning out to
-- this lane holds KEY SHARE on it, and must wait for the delete and then
-- see the lane deleted (it re-checks `NOT l.deleted` on the new row), as it
-- waited for the lane row's delete before.
CREATE FUNCTION webhooks_lane_retire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM delivery_lanes WHERE subscription_id = OLD.id FOR UPDATE;
  UPDATE delivery_lanes SET deleted = true, enabled = false
  WHERE subscription_id = OLD.id;
  RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_lane_retire AFTER DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION webhooks_lane_retire();

-- TRUNCATE of subscriptions fires no row trigger and, with the foreign key
-- gone, no longer reaches the lanes: retire every lane instead, as a delete
-- of every subscription would (cleanup then purges them).
CREATE FUNCTION webhooks_lanes_retire_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE delivery_lanes SET deleted = true, enabled = false WHERE NOT deleted;
  RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_truncate_lanes AFTER TRUNCATE ON subscriptions
  FOR EACH STATEMENT EXECUTE FUNCTION webhooks_lanes_retire_all();
