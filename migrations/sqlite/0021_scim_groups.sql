-- As postgres/0023_scim_groups.sql (comments there), in SQLite's types.
CREATE TABLE scim_groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    display_name TEXT NOT NULL,
    display_key  TEXT NOT NULL UNIQUE,
    external_id  TEXT,
    created_at   TEXT NOT NULL,
    modified_at  TEXT NOT NULL
);
CREATE INDEX scim_groups_external ON scim_groups(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE scim_group_members (
    group_id INTEGER NOT NULL REFERENCES scim_groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members(user_id);
CREATE INDEX teams_idp_group ON teams(idp_group) WHERE idp_group IS NOT NULL;
