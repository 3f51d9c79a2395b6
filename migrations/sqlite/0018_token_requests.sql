-- The same as postgres/0020_token_requests.sql (comments there), in SQLite's types.
ALTER TABLE tokens ADD COLUMN approval_state TEXT;

CREATE TABLE token_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id        INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_id      INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes        TEXT NOT NULL,
    resources     TEXT NOT NULL DEFAULT '',
    justification TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'withdrawn')),
    created_at    TEXT NOT NULL,
    decided_at    TEXT,
    decided_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    reason        TEXT
);
CREATE INDEX token_requests_org ON token_requests(org_id, state, id);
CREATE UNIQUE INDEX token_requests_one_pending ON token_requests(token_id) WHERE state = 'pending';

DROP TRIGGER tokens_changed;
CREATE TRIGGER tokens_changed AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash, allowed_networks, resources, approval_state ON tokens
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, OLD.id);
END;
