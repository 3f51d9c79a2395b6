-- Governance: administrators, disabled accounts, who revoked a token and
-- why, organization policies, the audit log, a change feed other
-- processes on the same file (the admin CLI, a second instance) can follow,
-- and the claim table that runs background jobs once across instances.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN disabled_at TEXT;
-- 'owner', 'admin', 'policy' or 'system'; the reason as given
ALTER TABLE tokens ADD COLUMN revoked_by TEXT;
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;

CREATE TABLE policies (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Append-only: rows are added (in the transaction of the change they
-- record) and pruned after the retention period, never changed.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    event          TEXT NOT NULL,
    -- whose account the event concerns (NULL: organization-wide)
    user_id        INTEGER,
    token_id       INTEGER,
    -- 'user', 'token', 'admin' or 'system'
    actor          TEXT NOT NULL,
    actor_user_id  INTEGER,
    actor_token_id INTEGER,
    ip             TEXT NOT NULL DEFAULT '',
    user_agent     TEXT NOT NULL DEFAULT '',
    request_id     TEXT NOT NULL DEFAULT '',
    -- JSON object: what changed (before and after), reasons; never a secret
    details        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_user ON audit_events(user_id, id);
CREATE INDEX audit_token ON audit_events(token_id, id);
CREATE INDEX audit_at ON audit_events(at);
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- What changed, for every process on this file: a token (user and token
-- id), every token of a user (token_id NULL), or the policies (both NULL).
CREATE TABLE changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    user_id  INTEGER,
    token_id INTEGER
);
CREATE TRIGGER tokens_changed AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash ON tokens
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, OLD.id);
END;
CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, OLD.id);
END;
CREATE TRIGGER users_changed AFTER UPDATE OF disabled_at, is_admin, username ON users
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.id, NULL);
END;
CREATE TRIGGER policies_inserted AFTER INSERT ON policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER policies_updated AFTER UPDATE ON policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER policies_deleted AFTER DELETE ON policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;

-- Background jobs: a job runs when its row's last run is old enough, and
-- the conditional update that claims it lets exactly one process win.
CREATE TABLE jobs (
    name        TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL
);
