-- Each lane knows its subscription's tenant, so that a lease can pass over
-- the lanes of tenants that already hold their share of a worker's request
-- slots (the worker's --max_tenant_share) without reading subscriptions. A
-- subscription never changes tenant, so the copy never goes stale.
ALTER TABLE delivery_lanes ADD COLUMN tenant_id text;
UPDATE delivery_lanes l SET tenant_id = s.tenant_id
FROM subscriptions s WHERE s.id = l.subscription_id;
ALTER TABLE delivery_lanes ALTER COLUMN tenant_id SET NOT NULL;

CREATE OR REPLACE FUNCTION webhooks_lane_create() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO delivery_lanes (subscription_id, tenant_id, enabled, max_in_flight)
  VALUES (NEW.id, NEW.tenant_id, NEW.enabled, NEW.max_in_flight);
  RETURN NULL;
END $$;
