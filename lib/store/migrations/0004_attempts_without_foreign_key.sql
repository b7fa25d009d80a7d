-- Every outcome write inserts an attempt row, and the foreign key to
-- deliveries checked each one (an index probe and a KEY SHARE lock of the
-- delivery row the same statement has just updated): measured at 10-20% of
-- PostgreSQL's CPU per delivery. Only the outcome write inserts attempts, for
-- deliveries it has just updated in the same statement, so the check never
-- refuses anything. What the key's ON DELETE CASCADE did is done here once
-- per deleting statement instead (the deletes of events, subscriptions and
-- retention), and TRUNCATE of deliveries empties the attempts with it (by a
-- DELETE, instant when the same TRUNCATE names delivery_attempts too, which
-- a TRUNCATE from a trigger could not do).
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_delivery_id_fkey;

CREATE FUNCTION webhooks_attempts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM delivery_attempts a USING old_deliveries o WHERE a.delivery_id = o.id;
  RETURN NULL;
END $$;
CREATE TRIGGER deliveries_delete_attempts AFTER DELETE ON deliveries
  REFERENCING OLD TABLE AS old_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION webhooks_attempts_delete();

CREATE FUNCTION webhooks_attempts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM delivery_attempts;
  RETURN NULL;
END $$;
CREATE TRIGGER deliveries_truncate_attempts AFTER TRUNCATE ON deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION webhooks_attempts_truncate();
