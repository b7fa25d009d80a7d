-- The delivery log and the operators' actions on it (DeliveryService).

-- A retry by hand gives a delivery a new attempt budget: its attempts count
-- starts again at 0, so attempt numbers repeat across budgets and an attempt
-- is told apart by its start as well. (The outcome write's lookup of a write
-- whose answer was lost already identifies an attempt this way.)
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_pkey;
ALTER TABLE delivery_attempts ADD PRIMARY KEY (delivery_id, attempt, started_at);

-- Held deliveries an operator chose not to send.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
  CHECK (state IN ('pending', 'delivered', 'failed', 'discarded'));

-- A subscription's failures by creation time, for listing them and for
-- recovering a window of them without walking every delivered row.
CREATE INDEX deliveries_subscription_failed ON deliveries (subscription_id, created_at)
  WHERE state = 'failed';
