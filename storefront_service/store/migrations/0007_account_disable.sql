-- An admin can disable an account (issue 12): it can no longer log in, its tokens are
-- refused by the showcase at once and by the marketplace within its status cache (30 s),
-- and no stock is reserved for it. NULL: active.
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
