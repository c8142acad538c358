-- Orders with their price snapshot, the payment of each order, provider notifications,
-- idempotency keys and the transactional outbox. Money is integer rupiah (bigint).

CREATE TABLE orders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    buyer_id text NOT NULL,
    -- Known once the showcase has reserved the items (an order belongs to one shop).
    shop_id text,
    status text NOT NULL DEFAULT 'UNPAID' CHECK (status IN (
        'UNPAID', 'AWAITING_SHIPMENT', 'IN_TRANSIT', 'COMPLETED', 'EXPIRED', 'CANCELLED')),
    -- NULL while the checkout saga runs: the order is invisible to every API until the
    -- reservation and the payment instructions both exist ("not created" otherwise).
    placed_at timestamptz,
    -- Why a checkout never completed (storefront or provider unavailable, abandoned).
    checkout_failure text,
    payment_method text NOT NULL CHECK (payment_method IN ('bank_transfer', 'ewallet')),
    shipping_address jsonb NOT NULL,
    currency text NOT NULL DEFAULT 'IDR',
    subtotal bigint CHECK (subtotal >= 0),
    shipping_fee bigint NOT NULL DEFAULT 0 CHECK (shipping_fee >= 0),
    total bigint CHECK (total >= 0),
    reservation_expires_at timestamptz,
    payment_deadline timestamptz,
    tracking_number text,
    cancel_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    paid_at timestamptz,
    shipped_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    expired_at timestamptz,
    CHECK (placed_at IS NULL OR (shop_id IS NOT NULL AND total IS NOT NULL))
);

CREATE INDEX orders_buyer_list ON orders (buyer_id, created_at DESC, id DESC)
    WHERE placed_at IS NOT NULL;
CREATE INDEX orders_shop_list ON orders (shop_id, created_at DESC, id DESC)
    WHERE placed_at IS NOT NULL;
CREATE INDEX orders_all_list ON orders (created_at DESC, id DESC) WHERE placed_at IS NOT NULL;
CREATE INDEX orders_unpaid_deadline ON orders (payment_deadline)
    WHERE status = 'UNPAID' AND placed_at IS NOT NULL;
CREATE INDEX orders_unplaced ON orders (created_at) WHERE status = 'UNPAID' AND placed_at IS NULL;
CREATE INDEX orders_in_transit ON orders (shipped_at) WHERE status = 'IN_TRANSIT';

CREATE TABLE order_items (
    order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position smallint NOT NULL,
    product_id text NOT NULL,
    title text NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    line_total bigint NOT NULL CHECK (line_total = unit_price * quantity),
    PRIMARY KEY (order_id, position),
    UNIQUE (order_id, product_id)
);

-- One payment per order: the provider's order_id is our order id.
CREATE TABLE payments (
    order_id uuid PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    provider text NOT NULL,
    method text NOT NULL CHECK (method IN ('bank_transfer', 'ewallet')),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'settled', 'expired', 'cancelled', 'failed', 'refund_pending', 'refunded')),
    amount bigint NOT NULL CHECK (amount >= 0),
    provider_transaction_id text,
    va_number text,
    bank text,
    deeplink text,
    expires_at timestamptz,
    paid_at timestamptz,
    refund_key text,
    refunded_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every accepted provider notification. The UNIQUE constraint is the dedup: the insert
-- happens in the same transaction as the state change it causes.
CREATE TABLE payment_notifications (
    id bigserial PRIMARY KEY,
    provider text NOT NULL,
    transaction_id text NOT NULL,
    transaction_status text NOT NULL,
    order_id uuid NOT NULL REFERENCES orders (id),
    status_code text NOT NULL,
    gross_amount bigint NOT NULL,
    payment_type text,
    fraud_status text,
    outcome text NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, transaction_id, transaction_status)
);
CREATE INDEX payment_notifications_order ON payment_notifications (order_id, received_at);

-- Stripe-style idempotency keys, per caller.
CREATE TABLE idempotency_keys (
    account_id text NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
    -- Whoever holds the current token may complete the key; a stale holder (one whose
    -- lock was retaken after a crash) can no longer overwrite the result.
    lock_token uuid NOT NULL,
    locked_at timestamptz NOT NULL DEFAULT now(),
    response_status integer,
    response_body text,
    response_content_type text,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Transactional outbox: calls to the showcase and the provider, written in the same
-- transaction as the state change that requires them and relayed with retries.
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    order_id uuid,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    -- done | superseded | conflict (a permanent refusal that needs a human)
    outcome text,
    last_error text
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE processed_at IS NULL;
CREATE INDEX outbox_order ON outbox (order_id, kind);
