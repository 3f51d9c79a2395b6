-- The same tables as postgres/0017_single_sign_on.sql (comments there), in SQLite's types.
CREATE TABLE identities (
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    last_sign_in_at TEXT,
    PRIMARY KEY (issuer, subject)
);
-- one identity per account and provider
CREATE UNIQUE INDEX identities_user ON identities(user_id, issuer);

CREATE TABLE sso_logins (
    id_hash       BLOB PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    sudo_user     INTEGER,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins(expires_at);

ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN provisioned_at TEXT;
ALTER TABLE users ADD COLUMN deprovisioned_at TEXT;
ALTER TABLE users ADD COLUMN modified_at TEXT;
