-- Single sign-on (OpenID Connect). An identity is who the identity
-- provider says signed in, keyed by (issuer, subject) -- never by a name
-- or an address, which the provider's users can change.
CREATE TABLE identities (
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    last_sign_in_at TIMESTAMPTZ,
    PRIMARY KEY (issuer, subject)
);
-- one identity per account and provider
CREATE UNIQUE INDEX identities_user ON identities(user_id, issuer);

-- A sign-in on its way through the identity provider: what the callback
-- must see again (state), what the ID token must carry (nonce) and the PKCE
-- verifier, bound to one browser by the sha256 of its cookie. Used once;
-- gone after 10 minutes. `sudo_user`: a signed-in person confirming it is
-- them (sudo mode) rather than signing in.
CREATE TABLE sso_logins (
    id_hash       BYTEA PRIMARY KEY,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next          TEXT NOT NULL,
    sudo_user     BIGINT,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins(expires_at);

-- SCIM 2.0 provisioning (RFC 7643/7644): the identity provider makes,
-- changes, deactivates and deletes accounts. `external_id` is its id for
-- the person; a deleted (deprovisioned) account is kept, disabled, for the
-- audit trail, and no longer shown to SCIM.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN provisioned_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN deprovisioned_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN modified_at TIMESTAMPTZ;
