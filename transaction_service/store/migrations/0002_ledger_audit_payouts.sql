-- Settlement ledger, hash-chained audit log and payouts (DESIGN.md §8, §9).
-- Independent of 0001's tables: orders are referred to by id only (journal references).

-- Append-only guard shared by the ledger and the audit log. A table owner or superuser can
-- still disable triggers; the audit chain verifier is what detects such tampering.
CREATE OR REPLACE FUNCTION etalase_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Ledger: one entry per real event (UNIQUE (kind, reference)), lines signed
-- (debit > 0, credit < 0), integer rupiah.

CREATE TABLE journal_entries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL CHECK (kind <> ''),
    reference text NOT NULL CHECK (reference <> '' AND length(reference) <= 255),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journal_entries_kind_reference_key UNIQUE (kind, reference)
);

CREATE TABLE journal_lines (
    id bigserial PRIMARY KEY,
    entry_id uuid NOT NULL REFERENCES journal_entries (id),
    account text NOT NULL CHECK (account <> ''),
    amount bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX journal_lines_account_id ON journal_lines (account, id);
CREATE INDEX journal_lines_entry_id ON journal_lines (entry_id);

CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION etalase_append_only();
CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();
CREATE TRIGGER journal_lines_append_only
    BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION etalase_append_only();
CREATE TRIGGER journal_lines_no_truncate
    BEFORE TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();

-- Double-entry enforced by the database too: at commit, every entry touched has at least
-- two lines summing to zero.
CREATE OR REPLACE FUNCTION journal_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
    line_count integer;
    total numeric;
BEGIN
    IF TG_TABLE_NAME = 'journal_entries' THEN
        target := NEW.id;
    ELSE
        target := NEW.entry_id;
    END IF;
    SELECT count(*), coalesce(sum(amount), 0) INTO line_count, total
    FROM journal_lines WHERE entry_id = target;
    IF line_count < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'journal entry % is not balanced (% lines, sum %)',
            target, line_count, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER journal_entries_balanced
    AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();
CREATE CONSTRAINT TRIGGER journal_lines_balanced
    AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_entry_balanced();

-- ---------------------------------------------------------------------------------------
-- Audit log: hash chain, seq 1, 2, 3, ... without gaps (assigned under an advisory lock,
-- not by a sequence, so a rolled-back append leaves no hole). The single-row head records
-- the last link, so cutting rows off the end is detected too.

CREATE TABLE audit_log (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    prev_hash char(64) NOT NULL,
    hash char(64) NOT NULL,
    entity text NOT NULL,
    entity_id text NOT NULL,
    action text NOT NULL,
    actor text,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, seq);

CREATE TABLE audit_chain_head (
    id smallint PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL CHECK (seq >= 0),
    hash char(64) NOT NULL
);
INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION etalase_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();

-- The head only moves forward, one link at a time, and never goes away.
CREATE OR REPLACE FUNCTION audit_chain_head_forward() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'audit_chain_head only advances by one link'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_chain_head_forward
    BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward();
CREATE TRIGGER audit_chain_head_no_truncate
    BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION etalase_append_only();

-- ---------------------------------------------------------------------------------------
-- Payouts: a shop's withdrawal of its available balance. The ledger entry
-- (shop payable -> payouts) is posted in the same transaction as the row.

CREATE TABLE payouts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    shop_id text NOT NULL CHECK (shop_id <> ''),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR'),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    bank_account jsonb,
    requested_by text NOT NULL,
    journal_entry_id uuid NOT NULL UNIQUE REFERENCES journal_entries (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_shop_created ON payouts (shop_id, created_at DESC, id DESC);
