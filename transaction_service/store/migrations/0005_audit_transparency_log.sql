-- The audit log becomes an RFC 9162 Merkle tree with signed checkpoints (DESIGN.md §9).
--
-- Before: every append locked the one-row chain head until its transaction committed (a
-- global serialisation point on the money path). After: an append is one INSERT (seq from
-- a sequence, gaps allowed); a sequencer assigns tree positions (`leaf_index`) to
-- committed rows later, and stores the perfect-subtree hashes the proofs are built from.
--
-- The old chain is verified once here, in SQL, exactly as transaction_service.domain.audit
-- hashed it (canonical JSON: sorted keys, no spaces, UTF-8); a broken chain stops the
-- migration. Its rows keep their prev_hash/hash and become the first leaves (the
-- sequencer takes unsequenced rows in seq order), followed by one `audit.chain_migrated`
-- entry that carries the verified head into the tree.

-- canonical JSON text of a jsonb value, as Python's json.dumps(sort_keys=True,
-- separators=(",", ":"), ensure_ascii=False): keys in code-point order (COLLATE "C" on
-- UTF-8), scalars as jsonb prints them (same escapes, integers only in audit data).
CREATE FUNCTION pg_temp.audit_canonical_json(value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    result text;
BEGIN
    CASE jsonb_typeof(value)
    WHEN 'object' THEN
        SELECT '{' || coalesce(string_agg(to_jsonb(key)::text || ':'
                                          || pg_temp.audit_canonical_json(item),
                                          ',' ORDER BY key COLLATE "C"), '') || '}'
        INTO result FROM jsonb_each(value) AS e(key, item);
    WHEN 'array' THEN
        SELECT '[' || coalesce(string_agg(pg_temp.audit_canonical_json(item), ','
                                          ORDER BY position), '') || ']'
        INTO result FROM jsonb_array_elements(value) WITH ORDINALITY AS a(item, position);
    ELSE
        result := value::text;
    END CASE;
    RETURN result;
END;
$$;

DO $$
DECLARE
    rec record;
    expected_seq bigint := 1;
    prev char(64) := repeat('0', 64);
    computed text;
    head_seq bigint;
    head_hash char(64);
BEGIN
    FOR rec IN SELECT * FROM audit_log ORDER BY seq LOOP
        IF rec.seq <> expected_seq THEN
            RAISE EXCEPTION 'audit chain broken at seq %: row % is missing', expected_seq,
                expected_seq;
        END IF;
        IF rec.prev_hash <> prev THEN
            RAISE EXCEPTION 'audit chain broken at seq %: prev_hash mismatch', rec.seq;
        END IF;
        computed := encode(sha256(convert_to(pg_temp.audit_canonical_json(jsonb_build_object(
            'seq', rec.seq, 'prev_hash', rec.prev_hash, 'entity', rec.entity,
            'entity_id', rec.entity_id, 'action', rec.action, 'actor', rec.actor,
            'data', rec.data,
            'created_at', to_char(rec.created_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))), 'UTF8')), 'hex');
        IF computed <> rec.hash THEN
            RAISE EXCEPTION 'audit chain broken at seq %: row was altered', rec.seq;
        END IF;
        prev := rec.hash;
        expected_seq := expected_seq + 1;
    END LOOP;
    SELECT seq, hash INTO head_seq, head_hash FROM audit_chain_head WHERE id = 1;
    IF head_seq IS DISTINCT FROM expected_seq - 1 OR head_hash IS DISTINCT FROM prev THEN
        RAISE EXCEPTION 'audit chain broken: the head (seq %) does not match the last row (%)',
            head_seq, expected_seq - 1;
    END IF;
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Entries: the old columns, the chain hashes optional (kept on migrated rows), a position
-- assigned once by the sequencer.

DROP TRIGGER audit_log_append_only ON audit_log;
DROP TABLE audit_chain_head;
DROP FUNCTION audit_chain_head_forward();

ALTER TABLE audit_log
    ALTER COLUMN prev_hash DROP NOT NULL,
    ALTER COLUMN hash DROP NOT NULL,
    ALTER COLUMN created_at SET DEFAULT clock_timestamp(),
    ADD COLUMN leaf_index bigint CHECK (leaf_index >= 0),
    ADD CONSTRAINT audit_log_leaf_index_key UNIQUE (leaf_index);

CREATE SEQUENCE audit_log_seq_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq_seq', coalesce((SELECT max(seq) FROM audit_log), 0) + 1, false);
ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq_seq');

-- What the sequencer scans: only rows still waiting for a position.
CREATE INDEX audit_log_unsequenced ON audit_log (seq) WHERE leaf_index IS NULL;

-- Rows are append-only except for the one write the sequencer makes: leaf_index from
-- NULL to a value, nothing else changed.
CREATE FUNCTION audit_log_sequence_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.leaf_index IS NULL AND NEW.leaf_index IS NOT NULL
       AND (to_jsonb(NEW) - 'leaf_index') = (to_jsonb(OLD) - 'leaf_index') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed (only the sequencer may set '
                    'leaf_index, once)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_sequence_only();

-- ---------------------------------------------------------------------------------------
-- The tree: the root of every perfect subtree (2^level leaves from leaf index * 2^level);
-- level 0 holds the leaf hashes. Written once each, by the sequencer.

CREATE TABLE audit_tree_nodes (
    level smallint NOT NULL CHECK (level >= 0 AND level < 64),
    index bigint NOT NULL CHECK (index >= 0),
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);
CREATE TRIGGER audit_tree_nodes_append_only
    BEFORE UPDATE OR DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION etalase_append_only();
CREATE TRIGGER audit_tree_nodes_no_truncate
    BEFORE TRUNCATE ON audit_tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();

-- ---------------------------------------------------------------------------------------
-- Checkpoints the log signed (C2SP tlog-checkpoint notes), and the witness's cosigned
-- copy once it has verified consistency with the last one it cosigned.

CREATE TABLE audit_checkpoints (
    tree_size bigint PRIMARY KEY CHECK (tree_size >= 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    note text NOT NULL,
    cosigned_note text,
    witness_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    cosigned_at timestamptz
);
CREATE INDEX audit_checkpoints_cosigned ON audit_checkpoints (tree_size DESC)
    WHERE cosigned_note IS NOT NULL;

-- A checkpoint's size, root and signed note never change; only the witness outcome is
-- filled in (a cosignature, once; or the latest refusal).
CREATE FUNCTION audit_checkpoints_outcome_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.tree_size = OLD.tree_size AND NEW.root_hash = OLD.root_hash
       AND NEW.note = OLD.note AND NEW.created_at = OLD.created_at
       AND (OLD.cosigned_note IS NULL OR (NEW.cosigned_note = OLD.cosigned_note
                                          AND NEW.cosigned_at = OLD.cosigned_at)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_checkpoints is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_outcome_only();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();

-- The verified old chain's head goes into the tree right after its rows (a fresh database
-- has no chain to carry over).
INSERT INTO audit_log (entity, entity_id, action, actor, data)
SELECT 'audit_log', 'chain', 'audit.chain_migrated', 'migration-0005',
       jsonb_build_object('rows', count(*),
                          'head_hash', (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1))
FROM audit_log
HAVING count(*) > 0;
