-- A checkout's Idempotency-Key records the order it placed in the same transaction that
-- makes the order visible (DESIGN.md §6): if the response could not be stored afterwards
-- (the database dropped, the process died), a retry with the key finds the order and
-- replays it instead of running the checkout a second time. UNIQUE: one key, one order.
ALTER TABLE idempotency_keys
    ADD COLUMN order_id uuid UNIQUE REFERENCES orders (id);
