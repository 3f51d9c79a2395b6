-- Every change to a token (other than its last-use record) tells every Tessera instance to drop what it has
-- cached about it, in the same transaction as the change (NOTIFY is
-- delivered at commit). Payload: "<user_id>:<token_id>".
CREATE FUNCTION tessera_token_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', OLD.user_id::text || ':' || OLD.id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tokens_changed
    AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_token_changed();
