-- Creators' affiliate commission (DESIGN.md §11). The showcase holds only catalogue data
-- and attribution facts: a product's offered rate, which content a cart item was added
-- from, and the attribution frozen into a reservation line. No commission amount, balance
-- or payable lives here: the marketplace computes and settles those.

-- 0 = not offered to creators; at most 80 %.
ALTER TABLE products ADD COLUMN commission_rate_bps integer NOT NULL DEFAULT 0
    CONSTRAINT products_commission_rate_bps_check CHECK (commission_rate_bps BETWEEN 0 AND 8000);

-- The content the buyer last added the product from (last touch wins) and when; it counts
-- at checkout for ATTRIBUTION_WINDOW_SECONDS after attributed_at.
ALTER TABLE cart_items
    ADD COLUMN content_id uuid REFERENCES contents (id) ON DELETE SET NULL,
    ADD COLUMN attributed_at timestamptz;

-- Frozen at sale: a later rate change or a re-tag never touches a placed order.
ALTER TABLE reservation_items
    ADD COLUMN content_id uuid,
    ADD COLUMN creator_id uuid,
    ADD COLUMN commission_rate_bps integer
        CONSTRAINT reservation_items_commission_rate_bps_check
        CHECK (commission_rate_bps BETWEEN 0 AND 8000),
    ADD CONSTRAINT reservation_items_attribution_check CHECK (
        (content_id IS NULL) = (creator_id IS NULL)
        AND (content_id IS NULL) = (commission_rate_bps IS NULL));
