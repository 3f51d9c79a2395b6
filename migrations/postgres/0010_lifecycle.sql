-- Lifecycle: e-mail addresses, webhooks, the notifications that reach
-- people (each created once, by its key) and their deliveries (claimed by
-- one worker at a time, retried with backoff), and where each token has
-- been used from (for "used from a new network").
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_confirmed_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN email_pending TEXT;
-- sha256 of the confirmation link's code (the code itself is only mailed)
ALTER TABLE users ADD COLUMN email_code_hash BYTEA;
ALTER TABLE users ADD COLUMN email_code_expires_at TIMESTAMPTZ;

CREATE TABLE webhooks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL: an administrator's endpoint for every user's events
    user_id     BIGINT REFERENCES users(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- the signing key (whsec_…): needed to sign, shown once
    secret      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  BIGINT
);
CREATE INDEX webhooks_user ON webhooks(user_id);

CREATE TABLE notifications (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- once per key, e.g. 'expiring:42:7:1767225600'
    key        TEXT NOT NULL UNIQUE,
    event      TEXT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_id   BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    -- JSON: the webhook payload's data
    data       TEXT NOT NULL
);
CREATE INDEX notifications_created ON notifications(created_at);

CREATE TABLE deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id BIGINT NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    -- 'mail' or 'webhook'
    channel         TEXT NOT NULL,
    webhook_id      BIGINT REFERENCES webhooks(id) ON DELETE CASCADE,
    -- the address or URL at the time
    target          TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed'
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_notification ON deliveries(notification_id);

CREATE TABLE token_sightings (
    token_id BIGINT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    -- 'network' (an IPv4 /24 or IPv6 /48) or 'client' (the agent's product)
    kind     TEXT NOT NULL,
    value    TEXT NOT NULL,
    first_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (token_id, kind, value)
);

-- the notifier's place in the audit log: it starts after what exists
ALTER TABLE jobs ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
INSERT INTO jobs (name, last_run_at, position)
    SELECT 'notifier', '1970-01-01T00:00:00Z'::timestamptz, COALESCE(MAX(id), 0) FROM audit_events;
