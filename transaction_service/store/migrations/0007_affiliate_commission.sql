-- Creators' affiliate commission (DESIGN.md §8, §11).

-- Each order line's attribution as the showcase answered it at reservation (frozen, never
-- recomputed) and the commission it would earn if sold in full: line_total x rate // 10000.
ALTER TABLE order_items
    ADD COLUMN content_id text,
    ADD COLUMN creator_id text CHECK (creator_id <> '' AND position(':' in creator_id) = 0),
    ADD COLUMN commission_rate_bps integer CHECK (commission_rate_bps BETWEEN 0 AND 8000),
    ADD COLUMN commission bigint CHECK (commission >= 0),
    ADD CONSTRAINT order_items_attribution_check CHECK (
        (content_id IS NULL) = (creator_id IS NULL)
        AND (content_id IS NULL) = (commission_rate_bps IS NULL)
        AND (content_id IS NULL) = (commission IS NULL)),
    ADD CONSTRAINT order_items_commission_within_line CHECK (commission <= line_total);

CREATE INDEX order_items_creator ON order_items (creator_id, content_id)
    WHERE creator_id IS NOT NULL;

-- Payouts belong to a shop or to a creator: the same mechanism, the payee a parameter.
ALTER TABLE payouts
    ALTER COLUMN shop_id DROP NOT NULL,
    ADD COLUMN creator_id text CHECK (creator_id <> ''),
    ADD CONSTRAINT payouts_one_payee CHECK ((shop_id IS NULL) <> (creator_id IS NULL));
CREATE INDEX payouts_creator_created ON payouts (creator_id, created_at DESC, id DESC)
    WHERE creator_id IS NOT NULL;
