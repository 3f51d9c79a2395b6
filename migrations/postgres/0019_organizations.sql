-- Organizations: members with roles, teams, their own policies. A token
-- may name one as its resource owner: it then reaches only that
-- organization's resources, and only while its maker is a member.

-- `name` is lower-case letters, digits and '-' (it is the first segment of
-- the organization's resources, `acme/api`), and never changes.
CREATE TABLE organizations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE org_members (
    org_id   BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- 'owner' (manages the organization) or 'member'
    role     TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

-- `idp_group`: the identity provider's group (ID token `groups` claim or a
-- SCIM Group) whose members the team follows, if any.
CREATE TABLE teams (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    idp_group  TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

-- An organization's own policies (the same keys as `policies`; the
-- stricter of the two applies to its tokens).
CREATE TABLE org_policies (
    org_id     BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, key)
);

ALTER TABLE tokens ADD COLUMN owner_org BIGINT REFERENCES organizations(id);
CREATE INDEX tokens_owner_org ON tokens(owner_org) WHERE owner_org IS NOT NULL;

-- A member who leaves (or whose role changes) changes what their tokens
-- may do, on every instance at once: "<user_id>:*".
CREATE FUNCTION tessera_member_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('tessera_tokens', OLD.user_id::text || ':*' || tessera_feed_stamp());
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER org_members_changed
    AFTER UPDATE OR DELETE ON org_members
    FOR EACH ROW EXECUTE FUNCTION tessera_member_changed();
