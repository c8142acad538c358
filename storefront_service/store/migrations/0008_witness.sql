-- The showcase witnesses the marketplace's transparency log (DESIGN.md §9): what it
-- cosigned (so a later checkpoint must prove consistency with the largest of these) and
-- what it refused. Kept in the showcase's own database, out of the marketplace's reach.

CREATE TABLE witness_checkpoints (
    origin text NOT NULL CHECK (origin <> ''),
    tree_size bigint NOT NULL CHECK (tree_size >= 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    note text NOT NULL,
    cosignature text NOT NULL,
    cosigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (origin, tree_size)
);

CREATE TABLE witness_refusals (
    id bigserial PRIMARY KEY,
    origin text,
    old_size bigint,
    tree_size bigint,
    reason text NOT NULL,
    detail text NOT NULL,
    note text,
    refused_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX witness_refusals_refused_at ON witness_refusals (refused_at DESC);

-- What was cosigned stays cosigned.
CREATE FUNCTION witness_checkpoints_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'witness_checkpoints is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER witness_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON witness_checkpoints
    FOR EACH ROW EXECUTE FUNCTION witness_checkpoints_append_only();
CREATE TRIGGER witness_checkpoints_no_truncate
    BEFORE TRUNCATE ON witness_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION witness_checkpoints_append_only();
