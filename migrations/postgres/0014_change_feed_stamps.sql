-- Change notifications carry when the change was made ("<payload>@<ms since
-- the epoch>"), so each instance can report the change feed's lag
-- (tessera_change_feed_lag_seconds). Readers ignore what follows '@'.
CREATE OR REPLACE FUNCTION tessera_feed_stamp() RETURNS text AS $$
    SELECT '@' || floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text;
$$ LANGUAGE sql VOLATILE;

CREATE OR REPLACE FUNCTION tessera_token_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', OLD.user_id::text || ':' || OLD.id::text || tessera_feed_stamp());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION tessera_user_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', OLD.id::text || ':*' || tessera_feed_stamp());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION tessera_policy_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', 'policy' || tessera_feed_stamp());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
