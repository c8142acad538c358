-- One cart, many shops, one payment (DESIGN.md §5): a checkout groups one order per shop
-- under one provider payment. The provider's order_id is the checkout id; a checkout of a
-- single order shares that order's id, so single-shop orders keep their provider order_id.
CREATE TABLE checkouts (
    id uuid PRIMARY KEY,
    buyer_id text NOT NULL,
    status text NOT NULL DEFAULT 'UNPAID' CHECK (status IN (
        'UNPAID', 'PAID', 'EXPIRED', 'CANCELLED')),
    -- NULL while the checkout saga runs: invisible, like its orders.
    placed_at timestamptz,
    payment_method text NOT NULL CHECK (payment_method IN ('bank_transfer', 'ewallet')),
    currency text NOT NULL DEFAULT 'IDR',
    total bigint CHECK (total >= 0),
    provider text,
    provider_transaction_id text,
    va_number text,
    bank text,
    deeplink text,
    expires_at timestamptz,
    payment_deadline timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    paid_at timestamptz,
    closed_at timestamptz,
    CHECK (placed_at IS NULL OR total IS NOT NULL)
);
CREATE INDEX checkouts_buyer ON checkouts (buyer_id, created_at DESC) WHERE placed_at IS NOT NULL;
CREATE INDEX checkouts_unpaid_deadline ON checkouts (payment_deadline)
    WHERE status = 'UNPAID' AND placed_at IS NOT NULL;

-- Orders placed before checkouts existed have none.
ALTER TABLE orders ADD COLUMN checkout_id uuid REFERENCES checkouts (id);
CREATE INDEX orders_checkout ON orders (checkout_id);

-- A notification names the provider's order_id: an order (single-order checkouts, older
-- orders) or a checkout of several orders.
ALTER TABLE payment_notifications ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE payment_notifications ADD COLUMN checkout_id uuid REFERENCES checkouts (id);
ALTER TABLE payment_notifications ADD CONSTRAINT payment_notifications_names_one
    CHECK (order_id IS NOT NULL OR checkout_id IS NOT NULL);
