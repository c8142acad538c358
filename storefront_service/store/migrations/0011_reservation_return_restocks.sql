-- Returned units back on the shelf (DESIGN.md §12): a marketplace return that was
-- RECEIVED restocks exactly its units of a committed reservation, once per return
-- (POST /internal/reservations/{order_id}/returns/{return_id}).
CREATE TABLE reservation_return_restocks (
    return_id uuid PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES reservations (order_id),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reservation_return_restock_items (
    return_id uuid NOT NULL REFERENCES reservation_return_restocks (return_id),
    product_id uuid NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (return_id, product_id)
);
