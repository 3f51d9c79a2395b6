-- What the Sessions section shows and what idle timeout and sudo mode need:
-- a public handle (forms name a session by it, never by its secret or
-- hash), where and with what the session was last seen, and when its
-- password was last entered.
ALTER TABLE sessions ADD COLUMN handle TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN password_at TEXT;
UPDATE sessions SET handle = lower(hex(randomblob(8))),
                    last_seen_at = created_at,
                    password_at = created_at;
CREATE UNIQUE INDEX sessions_handle ON sessions(handle);
