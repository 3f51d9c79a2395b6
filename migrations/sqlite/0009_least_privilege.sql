-- Least privilege: a token's network allowlist (space-separated canonical
-- CIDR ranges; empty: anywhere) and resource patterns per area (JSON
-- object area -> patterns; empty: every resource).
ALTER TABLE tokens ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- Changing either must reach every instance's cache, as scopes do.
DROP TRIGGER tokens_changed;
CREATE TRIGGER tokens_changed AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash, allowed_networks, resources ON tokens
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, OLD.id);
END;
