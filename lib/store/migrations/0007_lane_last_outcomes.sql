-- When a subscription's last attempt succeeded and when its last one failed
-- (GetSubscriptionStats), kept on its lane by the outcome write, since no
-- index finds a subscription's attempts by time.
ALTER TABLE delivery_lanes ADD COLUMN last_success_at timestamptz;
ALTER TABLE delivery_lanes ADD COLUMN last_failure_at timestamptz;
