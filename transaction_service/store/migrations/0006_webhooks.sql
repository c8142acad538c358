-- Webhooks for integrators (DESIGN.md §13, Standard Webhooks): endpoints, the events
-- written in the same transaction as the change they announce, one delivery per
-- (event, endpoint) and every attempt made for it.

CREATE TABLE webhook_endpoints (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Whose events it receives: a shop's (owner_id = shop id), a creator's (account id)
    -- or, for an admin, every event (the admin's account id: one admin never sees
    -- another's endpoints either).
    owner_kind text NOT NULL CHECK (owner_kind IN ('shop', 'creator', 'admin')),
    owner_id text NOT NULL CHECK (owner_id <> ''),
    created_by text NOT NULL,
    url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
    description text NOT NULL DEFAULT '',
    -- Fernet tokens (key from the environment): a database reader cannot sign.
    secret_encrypted text NOT NULL,
    -- After a rotation the previous secret signs beside the new one until it expires.
    previous_secret_encrypted text,
    previous_secret_expires_at timestamptz,
    disabled boolean NOT NULL DEFAULT false,
    disabled_reason text,
    disabled_at timestamptz,
    -- First failed attempt since the last success (NULL while healthy).
    failing_since timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_kind, owner_id, created_at DESC, id DESC);

-- Registrations per owner, kept for the rate limit (deleting an endpoint does not reset it).
CREATE TABLE webhook_registrations (
    id bigserial PRIMARY KEY,
    owner_kind text NOT NULL,
    owner_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_registrations_owner ON webhook_registrations (owner_kind, owner_id, created_at);

CREATE TABLE webhook_events (
    -- The `webhook-id` header: the same on every attempt, so receivers can deduplicate.
    id text PRIMARY KEY DEFAULT ('msg_' || replace(gen_random_uuid()::text, '-', '')),
    type text NOT NULL,
    -- Whose event it is (who may receive it besides admins).
    shop_id text,
    creator_id text,
    -- Set for a test send: that endpoint only.
    endpoint_id uuid REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The exact bytes sent: {"type", "timestamp", "data"}.
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_test ON webhook_events (endpoint_id, created_at) WHERE endpoint_id IS NOT NULL;

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    error text,
    -- At most 1 KiB of what the receiver answered.
    response_body text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
