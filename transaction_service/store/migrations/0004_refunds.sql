-- Refunds (DESIGN.md §7, §8, §12): any number of refunds of one payment, each with its own
-- refund_key, through the provider or (where the provider cannot refund, bank-transfer
-- VAs) as a manual refund an admin transfers by hand.
--
-- A refund names the payment its money came from (`payment_id`: the payment row, keyed by
-- the provider's order id) and the order whose money it is (`order_id`), so one payment
-- shared by several shops' orders refunds exactly one order's part, and a return refunds
-- against its order (`return_id`). The database enforces that neither the payment's nor
-- the order's refunds ever add up to more than was paid.

-- Requested or made refunds of the payment (every refund that is not `failed`).
ALTER TABLE payments ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0;
ALTER TABLE payments ADD CONSTRAINT payments_refunds_within_amount
    CHECK (refunded_amount >= 0 AND refunded_amount <= amount);
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN (
    'pending', 'settled', 'expired', 'cancelled', 'failed', 'refund_pending',
    'partially_refunded', 'refunded'));

CREATE TABLE refunds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_id uuid NOT NULL REFERENCES payments (order_id),
    order_id uuid NOT NULL REFERENCES orders (id),
    -- The return this refund settles (§12), when it settles one.
    return_id uuid,
    -- Sent to the provider as its refund_key: the same key is the same refund there too.
    refund_key text NOT NULL UNIQUE
        CHECK (refund_key ~ '^[A-Za-z0-9_-]{1,100}$'),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR'),
    reason text NOT NULL DEFAULT '' CHECK (length(reason) <= 255),
    -- provider: POST /v2/{order_id}/refund; manual: an admin transfers to the buyer's bank.
    method text NOT NULL CHECK (method IN ('provider', 'manual')),
    -- provider: pending -> succeeded | failed (then retried as a manual refund);
    -- manual: awaiting_account -> awaiting_transfer -> succeeded.
    status text NOT NULL CHECK (status IN (
        'pending', 'awaiting_account', 'awaiting_transfer', 'succeeded', 'failed')),
    requested_by text,
    provider_refund_id text,
    -- Where a manual refund goes (given by the buyer) and the admin's record of it.
    destination_bank text,
    destination_account_number text CHECK (destination_account_number ~ '^[0-9]{6,20}$'),
    destination_account_name text,
    account_given_at timestamptz,
    transfer_reference text,
    completed_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    succeeded_at timestamptz,
    CHECK (method = 'manual' OR status IN ('pending', 'succeeded', 'failed')),
    CHECK (status <> 'awaiting_transfer' OR destination_account_number IS NOT NULL),
    CHECK (method = 'provider' OR status <> 'succeeded' OR transfer_reference IS NOT NULL)
);
CREATE INDEX refunds_order ON refunds (order_id, created_at);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_manual_open ON refunds (created_at DESC, id DESC)
    WHERE method = 'manual';

-- Σ refunds <= what was paid, per payment and per order, under concurrency: every refund
-- of a payment updates its payment row (a row lock that serialises them, and the CHECK
-- above), and the order's sum is read after that lock is held.
CREATE OR REPLACE FUNCTION refunds_within_paid() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    order_total bigint;
    order_refunded bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'failed' THEN
            RETURN NEW;
        END IF;
        UPDATE payments SET refunded_amount = refunded_amount + NEW.amount,
                            updated_at = now()
         WHERE order_id = NEW.payment_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'refund of unknown payment %', NEW.payment_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        SELECT total INTO order_total FROM orders WHERE id = NEW.order_id;
        SELECT coalesce(sum(amount), 0) INTO order_refunded FROM refunds
         WHERE order_id = NEW.order_id AND status <> 'failed';
        IF order_refunded + NEW.amount > coalesce(order_total, 0) THEN
            RAISE EXCEPTION 'refunds of order % (% + %) exceed its total %',
                NEW.order_id, order_refunded, NEW.amount, order_total
                USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_within_order_total';
        END IF;
    ELSIF OLD.status <> 'failed' AND NEW.status = 'failed' THEN
        UPDATE payments SET refunded_amount = refunded_amount - OLD.amount,
                            updated_at = now()
         WHERE order_id = OLD.payment_id;
    ELSIF OLD.status = 'failed' AND NEW.status <> 'failed' THEN
        RAISE EXCEPTION 'a failed refund is not revived; request a new one'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.amount <> OLD.amount OR NEW.payment_id <> OLD.payment_id
                             OR NEW.order_id <> OLD.order_id) THEN
        RAISE EXCEPTION 'a refund''s amount, payment and order never change'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER refunds_within_paid
    BEFORE INSERT OR UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_within_paid();

-- Refund notifications: each new refund of a transaction is its own `partial_refund` (or
-- `refund`) notification, told apart by the total refunded so far; a redelivery of the
-- same one is still a duplicate.
ALTER TABLE payment_notifications ADD COLUMN refund_amount bigint NOT NULL DEFAULT 0;
DO $$
DECLARE
    old_name text;
BEGIN
    SELECT conname INTO old_name FROM pg_constraint
     WHERE conrelid = 'payment_notifications'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE payment_notifications DROP CONSTRAINT %I', old_name);
END;
$$;
ALTER TABLE payment_notifications ADD CONSTRAINT payment_notifications_dedup
    UNIQUE (provider, transaction_id, transaction_status, refund_amount);

-- When the marketplace last asked the provider for this payment's status (a notification
-- Midtrans gave up retrying is found by asking).
ALTER TABLE payments ADD COLUMN provider_checked_at timestamptz;
CREATE INDEX payments_pending_check ON payments (provider_checked_at NULLS FIRST)
    WHERE status = 'pending';
