-- Subscriptions, events, deliveries and attempts.

CREATE TABLE subscriptions (
  id                    text PRIMARY KEY,
  tenant_id             text NOT NULL,
  name                  text NOT NULL DEFAULT '',
  target_url            text NOT NULL,
  event_types           text[] NOT NULL,
  -- Sealed (AES-256-GCM, "<key id>:<base64>") encodings; never plaintext.
  custom_headers_sealed text NOT NULL,
  signing_secret_sealed text NOT NULL,
  -- During a secret rotation: the previous secret, accepted until it expires.
  previous_signing_secret_sealed     text,
  previous_signing_secret_expires_at timestamptz,
  enabled               boolean NOT NULL DEFAULT true,
  disabled_reason       text NOT NULL DEFAULT '',
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  version               bigint NOT NULL DEFAULT 1
);
-- Listing a tenant's subscriptions in id (= creation) order, and fan-out.
CREATE INDEX subscriptions_tenant_id_id ON subscriptions (tenant_id, id);

CREATE TABLE events (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  type            text NOT NULL,
  idempotency_key text NOT NULL,
  -- The exact JSON bytes POSTed to subscribers, rendered once at publish time.
  body            text NOT NULL,
  occurred_at     timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_tenant_idempotency_key UNIQUE (tenant_id, idempotency_key)
);

-- One row per (event, subscription). A leased delivery stays 'pending' with
-- next_attempt_at moved to the lease expiry, so an expired lease is simply due
-- again and the partial index below is the only thing the lease query reads.
CREATE TABLE deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id        text NOT NULL,
  event_id         text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  subscription_id  text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  state            text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_owner      text,
  lease_token      bigint NOT NULL DEFAULT 0,
  leased_until     timestamptz,
  last_status      integer,
  last_error_class text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  CONSTRAINT deliveries_event_subscription UNIQUE (event_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_subscription_created ON deliveries (subscription_id, created_at);

CREATE TABLE delivery_attempts (
  delivery_id      bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt          integer NOT NULL,
  started_at       timestamptz NOT NULL,
  duration_us      bigint NOT NULL,
  status           integer,
  error_class      text NOT NULL,
  -- At most the first 4 KiB of the response body.
  response_excerpt bytea,
  PRIMARY KEY (delivery_id, attempt)
);
