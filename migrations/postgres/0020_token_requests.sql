-- Approval requests: a token that names an organization as its resource
-- owner and asks for scopes the organization's `approval_required_for`
-- policy lists is made pending (refused with 403 approval_pending) until
-- an owner of the organization approves it; denied, it is revoked.

-- NULL: no approval needed; 'pending'; 'approved'.
ALTER TABLE tokens ADD COLUMN approval_state TEXT;

CREATE TABLE token_requests (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    token_id      BIGINT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    -- who asked (the token's maker)
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- what it asks for, and why (the token's description)
    scopes        TEXT NOT NULL,
    resources     TEXT NOT NULL DEFAULT '',
    justification TEXT NOT NULL DEFAULT '',
    -- 'pending', 'approved', 'denied' or 'withdrawn' (the token was
    -- revoked or ended before a decision)
    state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'withdrawn')),
    created_at    TIMESTAMPTZ NOT NULL,
    decided_at    TIMESTAMPTZ,
    decided_by    BIGINT REFERENCES users(id) ON DELETE SET NULL,
    -- the owner's reason (the requester sees it)
    reason        TEXT
);
CREATE INDEX token_requests_org ON token_requests(org_id, state, id);
CREATE UNIQUE INDEX token_requests_one_pending ON token_requests(token_id) WHERE state = 'pending';

-- An approval must reach every instance's cache, as a revoke does.
DROP TRIGGER tokens_changed ON tokens;
CREATE TRIGGER tokens_changed
    AFTER UPDATE OF name, description, scopes, expires_at, revoked_at, token_hash, allowed_networks, resources, approval_state OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tessera_token_changed();
