//! Every statement on `tokens` and `retired_secrets`, whole, as
//! constants — the token service's, and those verification, usage
//! recording, notices and administration run: `grep "UPDATE tokens"`
//! finds the full text of each. Written once for both dialects (`$n`
//! placeholders, `RETURNING`) except where a constant's name says its
//! dialect.

/// The columns a [`super::Row`] reads, in a string literal.
macro_rules! columns {
    () => {
        "id, name, description, hint, scopes, created_at, updated_at, expires_at, \
         revoked_at, last_used_at, last_used_ip, last_used_agent, revoked_by, revoked_reason, \
         previous_valid_until, presented_after_end, last_presented_at, last_presented_ip, last_presented_agent, \
         allowed_networks, resources, parent_id, created_by_token, workload_rule_id, workload_subject, \
         (SELECT o.name FROM organizations o WHERE o.id = tokens.owner_org) AS owner_org, approval_state, \
         (SELECT m.username FROM users m WHERE m.id = tokens.made_by) AS made_by"
    };
}

/// The list filter: owner, revoked shown or not, name search.
macro_rules! list_filter {
    () => {
        "user_id = $1 AND parent_id IS NULL AND ($2 OR revoked_at IS NULL) AND LOWER(name) LIKE $3 ESCAPE '\\'"
    };
}

/// One page of the list, in one order.
macro_rules! list_page {
    ($order:literal) => {
        concat!(
            "SELECT ",
            columns!(),
            " FROM tokens WHERE ",
            list_filter!(),
            " ORDER BY ",
            $order,
            " LIMIT $4 OFFSET $5"
        )
    };
}

/// One token of a user: `$1` id, `$2` user.
pub const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tokens WHERE id = $1 AND user_id = $2"
);

/// The token a form submission made: `$1` user, `$2` form id.
pub const BY_FORM_ID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tokens WHERE user_id = $1 AND form_id = $2"
);

/// A new token; `$7` is both its creation and update time; `$14` and
/// `$15` the trust rule and workload that minted it, if one did; `$16` the
/// organization that owns what it reaches, if one does; `$17` `pending`
/// when it waits for an owner's approval; `$18` the person who made it
/// for a service account.
pub const INSERT: &str = concat!(
    "INSERT INTO tokens (user_id, name, description, token_hash, hint, scopes, created_at, updated_at, expires_at, form_id, allowed_networks, resources, parent_id, created_by_token, workload_rule_id, workload_subject, owner_org, approval_state, made_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING ",
    columns!()
);

/// Edits an active token (`$4` NULL keeps the expiry); the conditions are in
/// the statement, so an edit racing a revoke can never bring a token back.
pub const UPDATE: &str = concat!(
    "UPDATE tokens SET name = $1, description = $2, scopes = $3, expires_at = COALESCE($4, expires_at), updated_at = $5, \
     allowed_networks = $8, resources = $9 \
     WHERE id = $6 AND user_id = $7 AND revoked_at IS NULL AND expires_at > $5 RETURNING ",
    columns!()
);

/// Token `$1` waits for an owner to approve the wider scopes it asked for
/// (it keeps its own until then).
pub const HOLD_WIDENING: &str = concat!(
    "UPDATE tokens SET approval_state = 'widening' WHERE id = $1 RETURNING ",
    columns!()
);

/// Revokes one token that is not revoked yet: `$1` time, `$2` id, `$3`
/// user, `$4` who (`owner`, `admin`…), `$5` why.
pub const REVOKE: &str = concat!(
    "UPDATE tokens SET revoked_at = $1, updated_at = $1, revoked_by = $4, revoked_reason = $5 \
     WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING ",
    columns!()
);

/// Revokes every token of a user that is not revoked yet — or only those
/// trust rule `$5` minted, when it is not 0: `$1` time, `$2` user, `$3`
/// who, `$4` why; returns their ids.
pub const REVOKE_ALL: &str =
    "UPDATE tokens SET revoked_at = $1, updated_at = $1, revoked_by = $3, revoked_reason = $4 \
     WHERE user_id = $2 AND revoked_at IS NULL AND ($5 = 0 OR workload_rule_id = $5) RETURNING id";

/// Keeps the current secret (and a previous one still in its grace) of
/// token `$1` of user `$2` as retired, at `$3`: presented later, they are
/// recognised as reuse.
pub const RETIRE: &str = "INSERT INTO retired_secrets (hash, token_id, user_id, retired_at) \
     SELECT token_hash, id, user_id, $3 FROM tokens WHERE id = $1 AND user_id = $2 \
     UNION ALL SELECT previous_hash, id, user_id, $3 FROM tokens WHERE id = $1 AND user_id = $2 AND previous_hash IS NOT NULL \
     ON CONFLICT (hash) DO NOTHING";

/// A new secret for an active token, keeping the old one working until
/// `$3` (`NULL`: not at all): `$1` hash, `$2` hint, `$4` now, `$5` id, `$6` user.
pub const ROTATE: &str = concat!(
    "UPDATE tokens SET previous_hash = CASE WHEN $3 IS NULL THEN NULL ELSE token_hash END, \
     previous_valid_until = $3, token_hash = $1, hint = $2, updated_at = $4 \
     WHERE id = $5 AND user_id = $6 AND revoked_at IS NULL AND expires_at > $4 RETURNING ",
    columns!()
);

/// A new secret for an active token; its last use is forgotten.
pub const REGENERATE: &str = concat!(
    "UPDATE tokens SET token_hash = $1, hint = $2, expires_at = $3, created_at = $4, updated_at = $4, \
     last_used_at = NULL, last_used_ip = NULL, last_used_agent = NULL, previous_hash = NULL, previous_valid_until = NULL \
     WHERE id = $5 AND user_id = $6 AND revoked_at IS NULL AND expires_at > $4 RETURNING ",
    columns!()
);

/// How many tokens match the list filter.
pub const LIST_COUNT: &str = concat!("SELECT COUNT(*) FROM tokens WHERE ", list_filter!());

/// Active tokens of a user: `$1` user, `$2` now, `$3` only those this
/// organization owns (0: all of them).
/// (Derived tokens do not count: they are shown, and capped, under their
/// parent; nor do the minutes-long tokens trust rules mint.)
pub const ACTIVE_COUNT: &str =
    "SELECT COUNT(*) FROM tokens WHERE user_id = $1 AND parent_id IS NULL AND workload_rule_id IS NULL \
     AND revoked_at IS NULL AND expires_at > $2 AND ($3 = 0 OR owner_org = $3)";

/// A user's live derived tokens, newest first: `$1` user, `$2` now.
pub const LIVE_CHILDREN: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tokens WHERE user_id = $1 AND parent_id IS NOT NULL AND revoked_at IS NULL AND expires_at > $2 \
     ORDER BY created_at DESC, id DESC LIMIT 1000"
);

/// A user's live tokens minted by trust rules, newest first: `$1` user,
/// `$2` now.
pub const LIVE_MINTED: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tokens WHERE user_id = $1 AND workload_rule_id IS NOT NULL AND revoked_at IS NULL AND expires_at > $2 \
     ORDER BY id DESC LIMIT 500"
);

/// List pages, one statement per order.
pub const LIST_CREATED_DESC: &str = list_page!("created_at DESC, id DESC");
/// Oldest first.
pub const LIST_CREATED_ASC: &str = list_page!("created_at ASC, id ASC");
/// By name.
pub const LIST_NAME: &str = list_page!("LOWER(name) ASC, id ASC");
/// Soonest expiry first.
pub const LIST_EXPIRES_ASC: &str = list_page!("expires_at ASC, id ASC");
/// Latest expiry first.
pub const LIST_EXPIRES_DESC: &str = list_page!("expires_at DESC, id DESC");

/// Every user's tokens (the credentials inventory): `$1` user or 0 for
/// all, `$2` last used (or created) before, `$3` limit.
pub const INVENTORY: &str = concat!(
    "SELECT ",
    columns!(),
    ", user_id, (SELECT username FROM users u WHERE u.id = tokens.user_id) AS username \
     FROM tokens WHERE ($1 = 0 OR user_id = $1) AND COALESCE(last_used_at, created_at) < $2 \
     ORDER BY created_at DESC, id DESC LIMIT $3"
);

/// How deep derivation may go (a child of a child of …), as a literal for
/// the statements; [`super::MAX_DERIVATION_DEPTH`] is the same number.
macro_rules! max_depth {
    () => {
        5
    };
}
pub(crate) use max_depth;

/// Token `$1` and its ancestors (`depth` 0 is the token itself), at most
/// [`super::MAX_DERIVATION_DEPTH`] up.
macro_rules! chain {
    () => {
        concat!(
            "WITH RECURSIVE chain(id, parent_id, depth) AS ( \
             SELECT id, parent_id, 0 FROM tokens WHERE id = $1 \
             UNION ALL SELECT t.id, t.parent_id, c.depth + 1 FROM tokens t JOIN chain c ON t.id = c.parent_id WHERE c.depth < ",
            max_depth!(),
            ") "
        )
    };
}

/// How many ancestors token `$1` has.
pub const DEPTH: &str = concat!(
    chain!(),
    "SELECT CAST(COALESCE(MAX(depth), 0) AS BIGINT) FROM chain"
);

/// The ancestors of token `$1`, parent first (what verification checks).
pub const ANCESTORS: &str = concat!(
    chain!(),
    "SELECT t.id, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.last_used_at, t.allowed_networks, t.resources \
     FROM chain c JOIN tokens t ON t.id = c.id WHERE c.depth > 0 ORDER BY c.depth"
);

/// Revokes, as leaked, the live token whose current secret — or previous
/// one, still in its grace — is `$3`: `$1` time, `$2` why; the old secret
/// stops with it. Returns (id, user).
pub const REVOKE_LEAKED: &str =
    "UPDATE tokens SET revoked_at = $1, updated_at = $1, revoked_by = 'system', revoked_reason = $2, \
     previous_hash = NULL, previous_valid_until = NULL \
     WHERE (token_hash = $3 OR (previous_hash = $3 AND previous_valid_until > $1)) AND revoked_at IS NULL \
     RETURNING id, user_id";

/// Revokes every live descendant of token `$2` (its children, theirs, …):
/// `$1` time, `$3` who, `$4` why; returns their ids.
pub const REVOKE_DESCENDANTS: &str = "WITH RECURSIVE d(id) AS ( \
     SELECT id FROM tokens WHERE parent_id = $2 \
     UNION SELECT t.id FROM tokens t JOIN d ON t.parent_id = d.id) \
     UPDATE tokens SET revoked_at = $1, updated_at = $1, revoked_by = $3, revoked_reason = $4 \
     WHERE id IN (SELECT id FROM d) AND revoked_at IS NULL RETURNING id";

/// Verification's lookup: the token whose current or previous hash is
/// `$1`, with its owner (a `verify::Row`).
pub const VERIFY: &str = "SELECT t.id, t.user_id, u.username, t.name, t.scopes, t.created_at, \
     t.expires_at, t.revoked_at, t.last_used_at, u.is_admin, u.disabled_at, \
     COALESCE(t.previous_hash = $1, FALSE) AS via_previous, t.previous_valid_until, \
     t.allowed_networks, t.resources, t.parent_id, (t.workload_rule_id IS NOT NULL) AS minted, \
     o.name AS owner_org, t.approval_state, \
     (o.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = o.id AND m.user_id = t.user_id)) AS outside_owner \
     FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN organizations o ON o.id = t.owner_org \
     WHERE t.token_hash = $1 OR t.previous_hash = $1";

/// Postgres: the last uses of a batch of tokens in one statement (`$1`
/// ids, `$2` times, `$3` addresses, `$4` agents); never before a token
/// was made (a regenerated row).
pub const RECORD_USES_POSTGRES: &str = "UPDATE tokens AS t \
     SET last_used_at = v.at, last_used_ip = v.ip, last_used_agent = v.agent \
     FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[]) AS v(id, at, ip, agent) \
     WHERE t.id = v.id AND t.created_at <= v.at";

/// SQLite: the last use of token `$4` (`$1` time, `$2` address, `$3`
/// agent), one statement a token inside one transaction.
pub const RECORD_USE_SQLITE: &str = "UPDATE tokens SET last_used_at = $1, last_used_ip = $2, \
     last_used_agent = $3 WHERE id = $4 AND created_at <= $1";

/// `$5` more presentations of ended token `$1`, the last at `$2` from
/// `$3` with agent `$4`.
pub const RECORD_PRESENTED: &str = "UPDATE tokens SET last_presented_at = $2, \
     last_presented_ip = $3, last_presented_agent = $4, \
     presented_after_end = presented_after_end + $5 WHERE id = $1";

/// `$1`'s live tokens (not derived, not minted for a workload) ending
/// between `$2` and `$3`, soonest first, at most 20.
pub const ENDING_OF_USER: &str = "SELECT id, name, expires_at FROM tokens WHERE user_id = $1 \
     AND revoked_at IS NULL AND parent_id IS NULL AND workload_rule_id IS NULL AND expires_at > $2 AND expires_at <= $3 \
     ORDER BY expires_at LIMIT 20";

/// Every enabled account's live tokens (not derived, not minted for a
/// workload: those live minutes) ending between `$1` and `$2` (the expiry
/// notices).
pub const ENDING: &str =
    "SELECT t.id, t.user_id, t.name, t.expires_at, u.service_org FROM tokens t \
     JOIN users u ON u.id = t.user_id WHERE t.revoked_at IS NULL AND t.parent_id IS NULL \
     AND t.workload_rule_id IS NULL \
     AND u.disabled_at IS NULL AND t.expires_at > $1 AND t.expires_at <= $2";

/// The live tokens (not derived) of organization `$1`'s service accounts
/// at `$2`, by account and name (an `OwnedRow`).
pub const OF_ORG_SERVICE_ACCOUNTS: &str = concat!(
    "SELECT ",
    columns!(),
    ", user_id, (SELECT s.username FROM users s WHERE s.id = tokens.user_id) AS username \
     FROM tokens WHERE user_id IN (SELECT id FROM users WHERE service_org = $1) \
     AND parent_id IS NULL AND revoked_at IS NULL AND expires_at > $2 ORDER BY user_id, LOWER(name)"
);

/// The service account of organization `$2` that owns token `$1`.
pub const SERVICE_OWNER: &str = "SELECT t.user_id FROM tokens t JOIN users s ON s.id = t.user_id \
     WHERE t.id = $1 AND s.service_org = $2";

/// Enabled accounts' ended tokens presented since `$1`.
pub const PRESENTED_SINCE: &str = "SELECT t.id, t.user_id, t.name, t.expires_at, t.revoked_at, \
     t.presented_after_end, t.last_presented_at, t.last_presented_ip, t.last_presented_agent \
     FROM tokens t JOIN users u ON u.id = t.user_id \
     WHERE u.disabled_at IS NULL AND t.presented_after_end > 0 AND t.last_presented_at >= $1";

/// The owner of token `$1`.
pub const OWNER: &str = "SELECT user_id FROM tokens WHERE id = $1";

/// The token (and its owner) a rotated-out secret with hash `$1` was.
pub const RETIRED: &str = "SELECT r.token_id, r.user_id, o.name FROM retired_secrets r \
     JOIN tokens t ON t.id = r.token_id LEFT JOIN organizations o ON o.id = t.owner_org \
     WHERE r.hash = $1";
