-- Auto-disable: how a subscription's deliveries have been ending lately, kept
-- on its lane, which every outcome write updates anyway (the subscription row
-- is wide and the API's).
--   failed_in_a_row: deliveries ended 'failed' since the last one delivered.
--   failing_since:   the start of the first failed attempt since the last
--                    delivery that succeeded (NULL when the last attempt
--                    succeeded, or none failed yet).
ALTER TABLE delivery_lanes ADD COLUMN failed_in_a_row integer NOT NULL DEFAULT 0;
ALTER TABLE delivery_lanes ADD COLUMN failing_since timestamptz;
