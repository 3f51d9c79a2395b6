-- As postgres/0021_org_policy_feed.sql: a change to an organization's
-- policies is a policy change on the feed (both ids NULL).
CREATE TRIGGER org_policies_inserted AFTER INSERT ON org_policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER org_policies_updated AFTER UPDATE ON org_policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;
CREATE TRIGGER org_policies_deleted AFTER DELETE ON org_policies
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), NULL, NULL);
END;
