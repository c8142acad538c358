-- Payment sandbox state (SQLite, WAL). Applied idempotently at start-up; version in
-- PRAGMA user_version.

CREATE TABLE IF NOT EXISTS transactions (
    transaction_id   TEXT PRIMARY KEY,
    order_id         TEXT NOT NULL UNIQUE,
    payment_type     TEXT NOT NULL,
    bank             TEXT,
    va_number        TEXT,
    gross_amount     INTEGER NOT NULL CHECK (gross_amount > 0),
    currency         TEXT NOT NULL DEFAULT 'IDR',
    status           TEXT NOT NULL,
    fraud_status     TEXT NOT NULL DEFAULT 'accept',
    refunded_amount  INTEGER NOT NULL DEFAULT 0
                     CHECK (refunded_amount >= 0 AND refunded_amount <= gross_amount),
    created_at       REAL NOT NULL,
    expiry_at        REAL NOT NULL,
    settled_at       REAL,
    updated_at       REAL NOT NULL
);

CREATE INDEX IF NOT EXISTS transactions_pending_expiry
    ON transactions (expiry_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS refunds (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,   -- refund_chargeback_id
    transaction_id  TEXT NOT NULL REFERENCES transactions (transaction_id),
    refund_key      TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    reason          TEXT NOT NULL DEFAULT '',
    response        TEXT NOT NULL,                       -- the answer replayed for the key
    created_at      REAL NOT NULL,
    UNIQUE (transaction_id, refund_key)
);

-- One row per notification delivery (the same event may be delivered several times on
-- purpose: duplicates, stale replays, resends).
CREATE TABLE IF NOT EXISTS deliveries (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id              TEXT NOT NULL,
    transaction_id        TEXT NOT NULL,
    transaction_status    TEXT NOT NULL,
    payload               TEXT NOT NULL,
    request_id            TEXT NOT NULL,
    kind                  TEXT NOT NULL,      -- event | duplicate | stale | resend
    after_id              INTEGER REFERENCES deliveries (id),  -- not before this one is done
    resend_of             INTEGER REFERENCES deliveries (id),
    state                 TEXT NOT NULL DEFAULT 'queued'
                          CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
    attempts              INTEGER NOT NULL DEFAULT 0,
    next_attempt_at       REAL NOT NULL,
    claimed_by            TEXT,
    claimed_until         REAL,
    last_response_status  INTEGER,
    last_error            TEXT,
    created_at            REAL NOT NULL,
    delivered_at          REAL
);

CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (order_id, id);

CREATE TABLE IF NOT EXISTS delivery_attempts (
    delivery_id      INTEGER NOT NULL REFERENCES deliveries (id),
    attempt          INTEGER NOT NULL,
    notifier         TEXT NOT NULL,
    started_at       REAL NOT NULL,
    duration_ms      REAL NOT NULL,
    response_status  INTEGER,
    error            TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
