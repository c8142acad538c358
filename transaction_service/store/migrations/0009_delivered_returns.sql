-- DELIVERED (DESIGN.md §5 step 6) and returns, refunds and disputes after delivery (§12).

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'UNPAID', 'AWAITING_SHIPMENT', 'IN_TRANSIT', 'DELIVERED', 'COMPLETED', 'EXPIRED',
    'CANCELLED'));
ALTER TABLE orders ADD COLUMN delivered_at timestamptz;
-- The auto-complete worker counts from delivery.
CREATE INDEX orders_delivered ON orders (delivered_at) WHERE status = 'DELIVERED';

CREATE TABLE returns (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id uuid NOT NULL REFERENCES orders (id),
    -- Copied from the order so lists filter without a join (an order never changes hands).
    buyer_id text NOT NULL,
    shop_id text NOT NULL,
    type text NOT NULL CHECK (type IN ('refund_only', 'return_and_refund')),
    reason text NOT NULL CHECK (reason IN (
        'damaged', 'wrong_item', 'not_as_described', 'not_received', 'other')),
    note text CHECK (length(note) <= 1000),
    status text NOT NULL DEFAULT 'REQUESTED' CHECK (status IN (
        'REQUESTED', 'APPROVED', 'AWAITING_BUYER_SHIPMENT', 'BUYER_SHIPPED', 'RECEIVED',
        'REFUND_PENDING', 'REFUNDED', 'REJECTED', 'OFFERED', 'DISPUTED', 'CLOSED',
        'CANCELLED')),
    -- The returned lines' value from the order's price snapshot (never the client's).
    lines_value bigint NOT NULL CHECK (lines_value > 0),
    offer_amount bigint CHECK (offer_amount > 0 AND offer_amount < lines_value),
    -- What this return refunds (set when the refund is asked for).
    refund_amount bigint CHECK (refund_amount > 0 AND refund_amount <= lines_value),
    refund_id uuid REFERENCES refunds (id),
    reject_reason text CHECK (length(reject_reason) <= 500),
    tracking_number text CHECK (length(tracking_number) <= 100),
    resolution text CHECK (resolution IN ('refund', 'close')),
    resolution_note text CHECK (length(resolution_note) <= 1000),
    -- Whether the restock of the returned units was queued (on RECEIVED).
    restock_queued boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    responded_at timestamptz,
    shipped_at timestamptz,
    received_at timestamptz,
    refunded_at timestamptz,
    closed_at timestamptz,
    CHECK (status <> 'OFFERED' OR offer_amount IS NOT NULL),
    CHECK (status NOT IN ('REFUND_PENDING', 'REFUNDED') OR refund_id IS NOT NULL)
);
-- One open return per order, whatever the concurrency.
CREATE UNIQUE INDEX returns_one_open_per_order ON returns (order_id)
    WHERE status NOT IN ('REFUNDED', 'CLOSED', 'CANCELLED');
CREATE INDEX returns_order ON returns (order_id, created_at);
CREATE INDEX returns_buyer_list ON returns (buyer_id, created_at DESC, id DESC);
CREATE INDEX returns_shop_list ON returns (shop_id, created_at DESC, id DESC);
CREATE INDEX returns_all_list ON returns (created_at DESC, id DESC);
-- The auto-approve worker: sellers silent past the response time.
CREATE INDEX returns_requested ON returns (created_at) WHERE status = 'REQUESTED';

CREATE TABLE return_items (
    return_id uuid NOT NULL REFERENCES returns (id),
    product_id text NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    -- This line's part of the return's refund (its commission base drops by it).
    refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= unit_price * quantity),
    PRIMARY KEY (return_id, product_id)
);

ALTER TABLE refunds ADD CONSTRAINT refunds_return_fk
    FOREIGN KEY (return_id) REFERENCES returns (id);
