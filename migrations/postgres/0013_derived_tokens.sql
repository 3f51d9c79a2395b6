-- Derived tokens: a child made by (or for) a parent token, never wider or
-- longer-lived than it. Revoking a parent revokes its descendants; a child
-- works only while every ancestor does.
ALTER TABLE tokens ADD COLUMN parent_id BIGINT REFERENCES tokens(id) ON DELETE CASCADE;
CREATE INDEX tokens_parent ON tokens(parent_id) WHERE parent_id IS NOT NULL;
