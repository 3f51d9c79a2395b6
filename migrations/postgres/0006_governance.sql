-- Governance: administrators, disabled accounts, who revoked a token and
-- why, organization policies, the audit log, and the claim table that runs
-- background jobs once across instances. Changes other instances must see
-- at once (a disabled user, a new policy) are announced on the token
-- change feed's channel.
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
-- 'owner', 'admin', 'policy' or 'system'; the reason as given
ALTER TABLE tokens ADD COLUMN revoked_by TEXT;
ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;

CREATE TABLE policies (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Append-only: rows are added (in the transaction of the change they
-- record) and pruned after the retention period, never changed.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             TIMESTAMPTZ NOT NULL,
    event          TEXT NOT NULL,
    -- whose account the event concerns (NULL: organization-wide)
    user_id        BIGINT,
    token_id       BIGINT,
    -- 'user', 'token', 'admin' or 'system'
    actor          TEXT NOT NULL,
    actor_user_id  BIGINT,
    actor_token_id BIGINT,
    ip             TEXT NOT NULL DEFAULT '',
    user_agent     TEXT NOT NULL DEFAULT '',
    request_id     TEXT NOT NULL DEFAULT '',
    -- JSON object: what changed (before and after), reasons; never a secret
    details        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_user ON audit_events(user_id, id);
CREATE INDEX audit_token ON audit_events(token_id, id);
CREATE INDEX audit_at ON audit_events(at);
CREATE FUNCTION tessera_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION tessera_audit_append_only();

-- Payload "<user_id>:*": every token of that user.
CREATE FUNCTION tessera_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', OLD.id::text || ':*');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER users_changed
    AFTER UPDATE OF disabled_at, is_admin, username ON users
    FOR EACH ROW EXECUTE FUNCTION tessera_user_changed();

-- Payload "policy": the policies changed.
CREATE FUNCTION tessera_policy_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', 'policy');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER policies_changed
    AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_policy_changed();

-- Background jobs: a job runs when its row's last run is old enough, and
-- the conditional update that claims it lets exactly one instance win.
CREATE TABLE jobs (
    name        TEXT PRIMARY KEY,
    last_run_at TIMESTAMPTZ NOT NULL
);
