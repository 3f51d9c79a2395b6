-- SCIM 2.0 Groups (RFC 7643 §4.2): the identity provider pushes its
-- groups and their members. A team that follows an identity provider
-- group (`teams.idp_group`) follows the SCIM group whose displayName or
-- externalId it names: its members join and leave the team as the
-- provider changes the group, without waiting for their next sign-in.
CREATE TABLE scim_groups (
    id           BIGSERIAL PRIMARY KEY,
    display_name TEXT NOT NULL,
    -- displayName in lower case: unique, as teams find groups by name
    display_key  TEXT NOT NULL UNIQUE,
    external_id  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    modified_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX scim_groups_external ON scim_groups(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE scim_group_members (
    group_id BIGINT NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members(user_id);
CREATE INDEX teams_idp_group ON teams(idp_group) WHERE idp_group IS NOT NULL;
