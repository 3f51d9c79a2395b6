-- Personal access tokens. Only sha256(token) and a short hint are stored.
CREATE TABLE tokens (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    token_hash      BYTEA NOT NULL UNIQUE,
    hint            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    last_used_ip    TEXT,
    last_used_agent TEXT,
    -- the id of the form that created the token: a repeated submit creates nothing
    form_id         TEXT
);
-- names are unique among a user's tokens that are not revoked
CREATE UNIQUE INDEX tokens_active_name ON tokens(user_id, name) WHERE revoked_at IS NULL;
CREATE UNIQUE INDEX tokens_form_id ON tokens(user_id, form_id);
CREATE INDEX tokens_user_created ON tokens(user_id, created_at);
