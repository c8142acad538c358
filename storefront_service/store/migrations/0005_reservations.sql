-- Stock held for a marketplace order while it is being paid for. The marketplace owns the
-- order and its payment; this side only knows which units are held, at which unit prices.

CREATE TABLE reservations (
    -- The marketplace's order id: one reservation per order, which makes
    -- POST /internal/reservations idempotent under concurrent retries.
    order_id     uuid PRIMARY KEY,
    -- Not a foreign key: the marketplace vouches for the buyer (it verified their token).
    buyer_id     uuid NOT NULL,
    shop_id      uuid NOT NULL REFERENCES shops (id),
    status       text NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'committed', 'released')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz,
    released_at  timestamptz,
    -- Who returned the stock: the marketplace (cancel/expiry) or the sweeper safety net.
    released_by  text CHECK (released_by IN ('marketplace', 'sweeper')),
    CHECK ((status = 'committed') = (committed_at IS NOT NULL)),
    CHECK ((status = 'released') = (released_at IS NOT NULL AND released_by IS NOT NULL))
);

-- The sweeper scans only active reservations by deadline.
CREATE INDEX reservations_active_expiry_idx ON reservations (expires_at)
    WHERE status = 'active';

CREATE TABLE reservation_items (
    order_id        uuid NOT NULL REFERENCES reservations (order_id),
    product_id      uuid NOT NULL REFERENCES products (id),
    quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    -- The authoritative unit price, read under the same row lock that took the stock.
    unit_price      bigint NOT NULL CHECK (unit_price > 0),
    -- The product row version produced by this reservation's stock decrement (see
    -- products.version): ties the quoted price to the price history, for audits and tests.
    product_version bigint NOT NULL,
    title           text NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX reservation_items_product_idx ON reservation_items (product_id);
