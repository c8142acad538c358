-- An admin can disable an account (issue 12): it can no longer log in, its tokens are
-- refused by the showcase at once and by the marketplace within its status cache (30 s),
-- and no stock is reserved for it. NULL: active.
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;

-- Failed logins per account (OWASP: throttle per account as well as per address). Keyed
-- on the lower-cased email as typed, known or not, so the answer for an unknown address
-- is the same as for a real one. After LOGIN_FREE_FAILURES failures in a row each further
-- attempt must wait twice as long as the previous one (capped); a success resets it.
CREATE TABLE login_failures (
    email_key      text PRIMARY KEY CHECK (length(email_key) <= 254),
    failures       integer NOT NULL DEFAULT 0,
    blocked_until  timestamptz,
    last_failed_at timestamptz NOT NULL DEFAULT now()
);
