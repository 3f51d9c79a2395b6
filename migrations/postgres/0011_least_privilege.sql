-- Least privilege: a token's network allowlist (space-separated canonical
-- CIDR ranges; empty: anywhere) and resource patterns per area (JSON
-- object area -> patterns; empty: every resource).
ALTER TABLE tokens ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN resources TEXT NOT NULL DEFAULT '';

-- Changing either must reach every instance's cache, as scopes do.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash, allowed_networks, resources OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_token_changed();
