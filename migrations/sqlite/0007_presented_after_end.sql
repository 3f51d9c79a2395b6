-- Presentations of a token after it expired or was revoked: how many, and
-- the last one's time, address and user agent (written at most once a
-- minute per token), so its owner can find the job still using it.
ALTER TABLE tokens ADD COLUMN presented_after_end BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN last_presented_at TEXT;
ALTER TABLE tokens ADD COLUMN last_presented_ip TEXT;
ALTER TABLE tokens ADD COLUMN last_presented_agent TEXT;
