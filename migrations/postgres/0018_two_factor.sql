-- Two-factor authentication. A second factor is an authenticator app (TOTP,
-- RFC 6238: `secret` is its key, encrypted with the server's key as
-- nonce || XChaCha20-Poly1305 ciphertext) or a passkey (WebAuthn: `secret`
-- is the credential's public part as JSON, `credential_id` its id). An app
-- being added is kept unconfirmed until a code from it is entered.
-- `last_step`: the last TOTP time step accepted, so a code works once.
CREATE TABLE second_factors (
    id            BIGSERIAL PRIMARY KEY,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        BYTEA NOT NULL,
    credential_id BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    confirmed_at  TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    last_step     BIGINT
);
CREATE INDEX second_factors_user ON second_factors(user_id);
CREATE UNIQUE INDEX second_factors_credential ON second_factors(credential_id);

-- Recovery codes: only their sha256 (each code carries 80 random bits);
-- a used one is kept with `used_at` until the next set replaces them all.
CREATE TABLE recovery_codes (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose password was right, waiting for its second factor: bound
-- to one browser by the sha256 of its cookie, gone after 10 minutes or at
-- its first success.
CREATE TABLE two_factor_challenges (
    id_hash    BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    next       TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX two_factor_challenges_expires ON two_factor_challenges(expires_at);

-- Keys of the server itself, made at first start when the operator gives
-- none (`--secret-key-file`): `two_factor` encrypts authenticator keys.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    key        BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- A passkey ceremony under way (WebAuthn): what the browser's answer is
-- checked against (webauthn-rs' state, JSON), by the sha256 of the id the
-- page was given; used once, gone after 5 minutes. `purpose`: register,
-- second (a sign-in's second factor), signin (a passkey alone) or sudo.
CREATE TABLE passkey_ceremonies (
    id_hash    BYTEA PRIMARY KEY,
    user_id    BIGINT REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    state      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies(expires_at);

-- The user handle passkeys carry (WebAuthn `user.id`): random, made with
-- the first passkey, so a passkey alone names its account.
ALTER TABLE users ADD COLUMN passkey_handle TEXT;
CREATE UNIQUE INDEX users_passkey_handle ON users(passkey_handle);
