-- Workload identity federation (RFC 8693 token exchange): CI jobs trade
-- their own OIDC ID token for a minutes-long Tessera token.

-- Service accounts: non-human users owned by administrators. No password
-- (the stored hash is not an argon2 hash, so nothing ever matches it), no
-- sign-in; only trust rules and tokens.
ALTER TABLE users ADD COLUMN is_service BOOLEAN NOT NULL DEFAULT FALSE;

-- A trust rule: ID tokens from `issuer` for `audience` whose claims match
-- every condition may be exchanged for a token of `user_id` with at most
-- these scopes, networks and resources, living at most `max_minutes`.
CREATE TABLE workload_rules (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- who made it (NULL: the admin CLI)
    created_by       BIGINT,
    issuer           TEXT NOT NULL,
    audience         TEXT NOT NULL,
    -- JSON object: claim name -> exact value or *-glob
    conditions       TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    allowed_networks TEXT NOT NULL DEFAULT '',
    resources        TEXT NOT NULL DEFAULT '',
    max_minutes      INTEGER NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    -- a removed rule is kept: the tokens it minted still name it
    removed_at       TIMESTAMPTZ
);
-- an exchange looks up the live rules of the token's issuer
CREATE INDEX workload_rules_issuer ON workload_rules(issuer) WHERE removed_at IS NULL;
CREATE INDEX workload_rules_user ON workload_rules(user_id);

-- The rule and the workload (its `sub`) a token was minted for.
ALTER TABLE tokens ADD COLUMN workload_rule_id BIGINT REFERENCES workload_rules(id);
ALTER TABLE tokens ADD COLUMN workload_subject TEXT;
CREATE INDEX tokens_workload_rule ON tokens(workload_rule_id) WHERE workload_rule_id IS NOT NULL;

-- ID tokens already exchanged (their `jti`, or a digest of the whole
-- token when it has none), kept until they expire: a replay is refused on
-- every instance.
CREATE TABLE workload_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX workload_jtis_expires ON workload_jtis(expires_at);
