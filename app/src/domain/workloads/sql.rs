//! Every statement on `workload_rules` and `workload_jtis`, whole (the
//! tokens a rule minted are `tokens`' and live in `tokens::sql`).

/// A rule as [`super::RuleRow`] reads it, with the count of its live
/// minted tokens at `$1` (or without: `$1` unused, the count 0).
macro_rules! rule {
    ($where:literal) => {
        rule!(
            "(SELECT COUNT(*) FROM tokens t WHERE t.workload_rule_id = r.id AND t.revoked_at IS NULL \
             AND t.expires_at > $1)",
            $where
        )
    };
    ($count:literal, $where:literal) => {
        concat!(
            "SELECT r.id, r.user_id, u.username, r.issuer, r.audience, r.conditions, r.scopes, \
             r.allowed_networks, r.resources, r.max_minutes, r.description, r.created_at, r.created_by, ",
            $count,
            " AS active_tokens \
             FROM workload_rules r JOIN users u ON u.id = r.user_id WHERE r.removed_at IS NULL AND ",
            $where
        )
    };
}

/// The live rules of issuer `$1` whose account is enabled, oldest first
/// (what an exchange tries, in that order): every one, so that no account's
/// many rules hide another's (a person has at most
/// [`super::MAX_RULES_PER_USER`]); without the count of their tokens.
pub const OF_ISSUER: &str = rule!(
    "CAST(0 AS BIGINT)",
    "r.issuer = $1 AND u.disabled_at IS NULL ORDER BY r.id"
);

/// Whether rule `$1` is still live (an exchange looks again after minting).
pub const LIVE: &str = "SELECT id FROM workload_rules WHERE id = $1 AND removed_at IS NULL";

/// The live rules of account `$2` (0: of every account), oldest first.
pub const LIST: &str = rule!("($2 = 0 OR r.user_id = $2) ORDER BY r.id LIMIT 1000");

/// One live rule `$2` of account `$3` (0: of any account).
pub const GET: &str = rule!("r.id = $2 AND ($3 = 0 OR r.user_id = $3)");

/// How many live rules account `$1` has.
pub const COUNT_OF_USER: &str =
    "SELECT COUNT(*) FROM workload_rules WHERE user_id = $1 AND removed_at IS NULL";

/// A new rule; its id.
pub const INSERT: &str = "INSERT INTO workload_rules (user_id, created_by, issuer, audience, \
     conditions, scopes, allowed_networks, resources, max_minutes, description, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

/// Removes live rule `$2` of account `$3` (0: of any account) at `$1`;
/// its account and issuer.
pub const REMOVE: &str = "UPDATE workload_rules SET removed_at = $1 \
     WHERE id = $2 AND ($3 = 0 OR user_id = $3) AND removed_at IS NULL RETURNING user_id, issuer";

/// Notes ID token `$2` of issuer `$1` as exchanged until `$3`; a second
/// insert of the same pair is a unique violation (a replay).
pub const NOTE_JTI: &str =
    "INSERT INTO workload_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3)";

/// Forgets exchanged ID tokens that ended before `$1`.
pub const PRUNE_JTIS: &str = "DELETE FROM workload_jtis WHERE expires_at < $1";
