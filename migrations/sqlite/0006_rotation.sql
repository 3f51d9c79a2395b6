-- Rotation with grace: the previous secret keeps working until
-- previous_valid_until; every secret a token ever had is kept (as its
-- sha256) in retired_secrets, so a rotated-out secret presented later is
-- recognised as reuse rather than as an unknown token.
ALTER TABLE tokens ADD COLUMN previous_hash BLOB;
ALTER TABLE tokens ADD COLUMN previous_valid_until TEXT;
CREATE INDEX tokens_previous_hash ON tokens(previous_hash) WHERE previous_hash IS NOT NULL;
CREATE TABLE retired_secrets (
    hash       BLOB PRIMARY KEY,
    token_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    retired_at TEXT NOT NULL
);
