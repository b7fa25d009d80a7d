-- Enabling a subscription starts its failure count afresh: otherwise the
-- counts that auto-disabled it would disable it again at its first failed
-- attempt after an operator fixed the endpoint and enabled it.
CREATE OR REPLACE FUNCTION webhooks_lane_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE delivery_lanes
  SET enabled = NEW.enabled, max_in_flight = NEW.max_in_flight,
      next_due_at = CASE WHEN NEW.enabled AND NOT OLD.enabled
                         THEN least(next_due_at, now()) ELSE next_due_at END,
      failed_in_a_row = CASE WHEN NEW.enabled AND NOT OLD.enabled
                             THEN 0 ELSE failed_in_a_row END,
      failing_since = CASE WHEN NEW.enabled AND NOT OLD.enabled
                           THEN NULL ELSE failing_since END
  WHERE subscription_id = NEW.id;
  RETURN NULL;
END $$;
