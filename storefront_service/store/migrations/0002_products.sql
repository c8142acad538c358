-- Products with full-text search, and a price history that makes every price a
-- reservation ever quoted traceable to the price change that set it.

CREATE TABLE products (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shop_id     uuid NOT NULL REFERENCES shops (id),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    -- Integer rupiah; never a float.
    price       bigint NOT NULL CHECK (price > 0),
    -- The last line of defence against overselling: stock can never go below zero.
    stock       integer NOT NULL CHECK (stock >= 0),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    images      text[] NOT NULL DEFAULT '{}' CHECK (cardinality(images) <= 10),
    -- Bumped by a trigger on every UPDATE (price edits and stock movements alike), so the
    -- row's history is totally ordered: a reservation records the version its stock
    -- decrement produced and the price history records the version of each price change.
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- 'simple' configuration: Indonesian has no Postgres stemmer, and product titles mix
    -- Indonesian, English and brand names; exact-word matching is the predictable choice.
    search      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A')
        || setweight(to_tsvector('simple', description), 'B')
    ) STORED
);

CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_shop_created_idx ON products (shop_id, created_at DESC, id DESC);
CREATE INDEX products_active_created_idx ON products (created_at DESC, id DESC)
    WHERE status = 'active';

CREATE FUNCTION products_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER products_touch BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION products_touch();

-- Written by triggers, so no code path can change a price without leaving a trace.
CREATE TABLE product_price_changes (
    product_id uuid NOT NULL REFERENCES products (id),
    version    bigint NOT NULL,
    price      bigint NOT NULL CHECK (price > 0),
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, version)
);

CREATE FUNCTION products_record_price() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.price IS DISTINCT FROM OLD.price THEN
        INSERT INTO product_price_changes (product_id, version, price)
        VALUES (NEW.id, NEW.version, NEW.price);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_record_price AFTER INSERT OR UPDATE OF price ON products
    FOR EACH ROW EXECUTE FUNCTION products_record_price();
