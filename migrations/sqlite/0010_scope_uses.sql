-- What each token actually used: the scope a successful use needed
-- (area:level) and the resource it named ('' when none), first and last
-- time (written by the usage flush, at most once a minute per row; at most
-- 100 rows per token).
CREATE TABLE token_scope_uses (
    token_id      INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    scope         TEXT NOT NULL,
    resource      TEXT NOT NULL DEFAULT '',
    first_used_at TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    PRIMARY KEY (token_id, scope, resource)
);
