-- Deliveries of a disabled subscription are held, not dropped, and resume when
-- it is enabled again. Keeping them out of 'pending' keeps them out of the
-- partial index that leasing reads, so a disabled subscription with a large
-- backlog costs the lease query nothing.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
  CHECK (state IN ('pending', 'held', 'delivered', 'failed'));
CREATE INDEX deliveries_held ON deliveries (subscription_id) WHERE state = 'held';
