-- The same tables as postgres/0016_workload_identity.sql (comments there), in SQLite's types.

ALTER TABLE users ADD COLUMN is_service BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE workload_rules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by       INTEGER,
    issuer           TEXT NOT NULL,
    audience         TEXT NOT NULL,
    conditions       TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    allowed_networks TEXT NOT NULL DEFAULT '',
    resources        TEXT NOT NULL DEFAULT '',
    max_minutes      INTEGER NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL,
    removed_at       TEXT
);
CREATE INDEX workload_rules_issuer ON workload_rules(issuer) WHERE removed_at IS NULL;
CREATE INDEX workload_rules_user ON workload_rules(user_id);

ALTER TABLE tokens ADD COLUMN workload_rule_id INTEGER REFERENCES workload_rules(id);
ALTER TABLE tokens ADD COLUMN workload_subject TEXT;
CREATE INDEX tokens_workload_rule ON tokens(workload_rule_id) WHERE workload_rule_id IS NOT NULL;

CREATE TABLE workload_jtis (
    issuer     TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX workload_jtis_expires ON workload_jtis(expires_at);
