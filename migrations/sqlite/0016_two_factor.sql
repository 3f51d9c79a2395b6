-- The same tables as postgres/0018_two_factor.sql (comments there), in SQLite's types.
CREATE TABLE second_factors (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        BLOB NOT NULL,
    credential_id BLOB,
    created_at    TEXT NOT NULL,
    confirmed_at  TEXT,
    last_used_at  TEXT,
    last_step     INTEGER
);
CREATE INDEX second_factors_user ON second_factors(user_id);
CREATE UNIQUE INDEX second_factors_credential ON second_factors(credential_id);

CREATE TABLE recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE two_factor_challenges (
    id_hash    BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    next       TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX two_factor_challenges_expires ON two_factor_challenges(expires_at);

CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    key        BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- A passkey ceremony under way (WebAuthn): what the browser's answer is
-- checked against (webauthn-rs' state, JSON), by the sha256 of the id the
-- page was given; used once, gone after 5 minutes. `purpose`: register,
-- second (a sign-in's second factor), signin (a passkey alone) or sudo.
CREATE TABLE passkey_ceremonies (
    id_hash    BLOB PRIMARY KEY,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies(expires_at);

-- The user handle passkeys carry (WebAuthn `user.id`): random, made with
-- the first passkey, so a passkey alone names its account.
ALTER TABLE users ADD COLUMN passkey_handle TEXT;
CREATE UNIQUE INDEX users_passkey_handle ON users(passkey_handle);
