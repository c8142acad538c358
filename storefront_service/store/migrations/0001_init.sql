-- Accounts and shops: who can log in, and the one shop a seller may own.
-- The showcase holds no payment data of any kind (no card, VA, payment or ledger columns):
-- trade rules let it promote goods but not process payments.

CREATE TABLE accounts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Kept as typed (trimmed); uniqueness and lookups are case-insensitive (index below).
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- One role per account; `admin` is only ever created by the seed, never by register.
    role          text NOT NULL CHECK (role IN ('buyer', 'seller', 'creator', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX accounts_email_lower_key ON accounts (lower(email));

CREATE TABLE shops (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- UNIQUE: a seller owns at most one shop, enforced by the database under concurrency.
    owner_id    uuid NOT NULL UNIQUE REFERENCES accounts (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    city        text CHECK (length(city) <= 80),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX shops_created_at_id_idx ON shops (created_at DESC, id DESC);
