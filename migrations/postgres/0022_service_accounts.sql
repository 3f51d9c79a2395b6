-- Tokens that outlive the people who made them: an organization's own
-- service accounts. Its owners make them (optionally for one of its
-- teams) and make tokens for them; such a token belongs to the account,
-- not to the person who made it, so it keeps working when they leave.

-- The organization (and team) a service account belongs to; NULL for
-- people and for the administrators' server-wide service accounts.
ALTER TABLE users ADD COLUMN service_org BIGINT REFERENCES organizations(id);
ALTER TABLE users ADD COLUMN service_team BIGINT REFERENCES teams(id) ON DELETE SET NULL;
CREATE INDEX users_service_org ON users(service_org) WHERE service_org IS NOT NULL;

-- Who made a token for a service account (the list says so); NULL for a
-- person's own tokens.
ALTER TABLE tokens ADD COLUMN made_by BIGINT REFERENCES users(id) ON DELETE SET NULL;
