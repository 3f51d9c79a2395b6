-- An organization's own policies bind the tokens it owns (the stricter of
-- them and the server's): every instance re-reads the policies when they
-- change, on the token change feed's channel (payload "policy"), as it
-- does for the server's.
CREATE TRIGGER org_policies_changed
    AFTER INSERT OR UPDATE OR DELETE ON org_policies
    FOR EACH STATEMENT EXECUTE FUNCTION tessera_policy_changed();
