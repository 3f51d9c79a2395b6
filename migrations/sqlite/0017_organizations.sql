-- The same tables as postgres/0019_organizations.sql (comments there), in SQLite's types.
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE org_members (
    org_id   INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    added_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

CREATE TABLE teams (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    idp_group  TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE org_policies (
    org_id     INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, key)
);

ALTER TABLE tokens ADD COLUMN owner_org INTEGER REFERENCES organizations(id);
CREATE INDEX tokens_owner_org ON tokens(owner_org) WHERE owner_org IS NOT NULL;

CREATE TRIGGER org_members_updated AFTER UPDATE ON org_members
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, NULL);
END;
CREATE TRIGGER org_members_deleted AFTER DELETE ON org_members
BEGIN
    INSERT INTO changes (at, user_id, token_id) VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), OLD.user_id, NULL);
END;
