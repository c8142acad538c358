-- One cart per buyer: the buyer's account id is the cart's identity.

CREATE TABLE cart_items (
    buyer_id         uuid NOT NULL REFERENCES accounts (id),
    product_id       uuid NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    -- The price when the product was first put in the cart, so the cart can tell the
    -- buyer it became cheaper or dearer since.
    price_when_added bigint NOT NULL CHECK (price_when_added > 0),
    added_at         timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, product_id)
);
