-- Throttle counts shared by every instance: one row per key (a door and a
-- client address or account), its window's start and the attempts in it.
CREATE TABLE throttle (
    key TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX throttle_started_at ON throttle (started_at);
