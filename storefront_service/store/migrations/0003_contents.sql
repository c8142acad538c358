-- Creators' content (videos and live sessions) tagging products; the feed reads it.

CREATE TABLE contents (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id uuid NOT NULL REFERENCES accounts (id),
    kind       text NOT NULL CHECK (kind IN ('video', 'live')),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    media_url  text NOT NULL CHECK (media_url ~ '^https?://' AND length(media_url) <= 2048),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX contents_created_at_id_idx ON contents (created_at DESC, id DESC);
CREATE INDEX contents_creator_idx ON contents (creator_id, created_at DESC);

CREATE TABLE content_products (
    content_id uuid NOT NULL REFERENCES contents (id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products (id),
    -- The order in which the creator tagged the products (shown in that order).
    position   smallint NOT NULL CHECK (position BETWEEN 0 AND 19),
    PRIMARY KEY (content_id, product_id),
    UNIQUE (content_id, position)
);

CREATE INDEX content_products_product_idx ON content_products (product_id);
