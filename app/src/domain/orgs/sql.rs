//! Every statement on `organizations`, `org_members`, `teams`,
//! `team_members`, `org_policies` and `token_requests`, whole, as
//! constants (token creation and verification read them too).

/// A new organization (`$1` name, `$2` description, `$3` now); its id.
pub const INSERT: &str =
    "INSERT INTO organizations (name, description, created_at) VALUES ($1, $2, $3) RETURNING id";
/// Organizations with their head counts (a `WHERE` or `ORDER BY` is appended).
pub const LIST: &str = "SELECT o.id, o.name, o.description, o.created_at, \
     (SELECT COUNT(*) FROM org_members m WHERE m.org_id = o.id) AS members, \
     (SELECT COUNT(*) FROM org_members m WHERE m.org_id = o.id AND m.role = 'owner') AS owners \
     FROM organizations o";
/// The members of organization `$1`, by name.
pub const MEMBERS: &str = "SELECT m.user_id, u.username, m.role, m.added_at FROM org_members m \
     JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.username_key";
/// The role of user `$2` in organization `$1`, if a member.
pub const ROLE_OF: &str = "SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2";
/// User `$2` joins organization `$1` as `$3` at `$4`.
pub const ADD_MEMBER: &str = "INSERT INTO org_members (org_id, user_id, role, added_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, user_id) DO NOTHING";
/// User `$2` of organization `$1` gets role `$3` (when it is another).
pub const SET_ROLE: &str =
    "UPDATE org_members SET role = $3 WHERE org_id = $1 AND user_id = $2 AND role <> $3";
/// How many owners organization `$1` has.
pub const OWNERS: &str = "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'owner'";
/// User `$2` leaves organization `$1`.
pub const REMOVE_MEMBER: &str = "DELETE FROM org_members WHERE org_id = $1 AND user_id = $2";
/// User `$2` leaves every team of organization `$1`.
pub const LEAVE_TEAMS: &str = "DELETE FROM team_members WHERE user_id = $2 \
     AND team_id IN (SELECT id FROM teams WHERE org_id = $1)";
/// The organizations of user `$1` and the role in each, by name.
pub const MEMBERSHIPS: &str = "SELECT o.name, m.role FROM org_members m \
     JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name";
/// A new team of organization `$1` (`$2` name, `$3` identity provider group, `$4` now); its id.
pub const INSERT_TEAM: &str =
    "INSERT INTO teams (org_id, name, idp_group, created_at) VALUES ($1, $2, $3, $4) RETURNING id";
/// The teams of organization `$1`, by name.
pub const TEAMS: &str =
    "SELECT id, name, idp_group, created_at FROM teams WHERE org_id = $1 ORDER BY name";
/// Team `$2` of organization `$1`.
pub const TEAM: &str =
    "SELECT id, name, idp_group, created_at FROM teams WHERE org_id = $1 AND name = $2";
/// Every team member of organization `$1`: (team id, user name).
pub const TEAM_MEMBERS: &str = "SELECT t.team_id, u.username FROM team_members t \
     JOIN users u ON u.id = t.user_id JOIN teams tm ON tm.id = t.team_id \
     WHERE tm.org_id = $1 ORDER BY u.username_key";
/// User `$2` joins team `$1` at `$3`.
pub const ADD_TO_TEAM: &str =
    "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3)";
/// User `$2` joins team `$1` at `$3`, unless already in it, and only while
/// a member of the team's organization (a removal meanwhile wins).
pub const ADD_TO_TEAM_ONCE: &str = "INSERT INTO team_members (team_id, user_id, added_at) \
     SELECT t.id, $2, $3 FROM teams t \
     WHERE t.id = $1 AND EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = t.org_id AND m.user_id = $2) \
     ON CONFLICT (team_id, user_id) DO NOTHING";
/// User `$2` leaves team `$1`.
pub const REMOVE_FROM_TEAM: &str = "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2";

/// One team that follows an identity provider group, if any does.
pub const ANY_IDP_TEAM: &str = "SELECT id FROM teams WHERE idp_group IS NOT NULL LIMIT 1";

/// Every team that follows an identity provider group SCIM does not
/// provision, with user `$1`'s place: (team id, organization id,
/// organization name, team name, group, in the team).
pub const IDP_TEAMS: &str = "SELECT t.id, t.org_id, o.name, t.name, t.idp_group, \
     EXISTS (SELECT 1 FROM team_members tm WHERE tm.team_id = t.id AND tm.user_id = $1) AS in_team \
     FROM teams t JOIN organizations o ON o.id = t.org_id WHERE t.idp_group IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM scim_groups g \
     WHERE g.display_name = t.idp_group OR g.external_id = t.idp_group) \
     ORDER BY o.name, t.name";

/// The teams that follow group `$1` or `$2` (a SCIM group's displayName
/// and externalId): [`super::Following`] rows.
pub const TEAMS_FOLLOWING: &str = "SELECT t.id AS team_id, t.org_id, o.name AS org, \
     t.name AS team, t.idp_group AS \"group\" FROM teams t JOIN organizations o ON o.id = t.org_id \
     WHERE t.idp_group = $1 OR t.idp_group = $2 ORDER BY o.name, t.name";

/// The people SCIM puts in the group named (displayName or externalId)
/// `$1`: their user ids (deprovisioned accounts are in no group).
pub const SCIM_GROUP_PEOPLE: &str = "SELECT DISTINCT m.user_id FROM scim_group_members m \
     JOIN scim_groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
     WHERE (g.display_name = $1 OR g.external_id = $1) \
     AND u.deprovisioned_at IS NULL AND u.is_service = FALSE";

/// The members of team `$1`: their user ids.
pub const TEAM_MEMBER_IDS: &str = "SELECT user_id FROM team_members WHERE team_id = $1";

/// The organization named `$1` if user `$2` is a member of it (a token
/// naming it as its resource owner is made only then).
pub const OWNER_ORG: &str =
    "SELECT o.id FROM organizations o JOIN org_members m ON m.org_id = o.id \
     WHERE o.name = $1 AND m.user_id = $2";

/// The organization named `$1` if user `$2` is one of its owners.
pub const OWNED_ORG: &str =
    "SELECT o.id FROM organizations o JOIN org_members m ON m.org_id = o.id \
     WHERE o.name = $1 AND m.user_id = $2 AND m.role = 'owner'";

/// The value of organization `$1`'s policy `$2`.
pub const ORG_POLICY: &str = "SELECT value FROM org_policies WHERE org_id = $1 AND key = $2";

/// Every organization's policies: (organization name, key, value), by name.
pub const ALL_ORG_POLICIES: &str = "SELECT o.name, p.key, p.value FROM org_policies p \
     JOIN organizations o ON o.id = p.org_id ORDER BY o.name, p.key";

/// Every policy of organization `$1`: (key, value), by key.
pub const ORG_POLICIES: &str = "SELECT key, value FROM org_policies WHERE org_id = $1 ORDER BY key";

/// Sets organization `$1`'s policy `$2` to `$3` at `$4`.
pub const SET_ORG_POLICY: &str = "INSERT INTO org_policies (org_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (org_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// Clears organization `$1`'s policy `$2`.
pub const CLEAR_ORG_POLICY: &str = "DELETE FROM org_policies WHERE org_id = $1 AND key = $2";

/// A new request of organization `$1` for token `$2` of user `$3`
/// (`$4` scopes, `$5` resources, `$6` why, `$7` now); its id.
pub const INSERT_REQUEST: &str = "INSERT INTO token_requests \
     (org_id, token_id, user_id, scopes, resources, justification, state, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) RETURNING id";

/// A request as owners see it, from its joins (a `WHERE` follows); a
/// pending request whose token was revoked (by its owner, an
/// administrator, a leak report…) reads as withdrawn.
macro_rules! request_view {
    () => {
        "SELECT r.id, r.token_id, t.name AS token_name, u.username AS requester, \
         r.scopes, r.resources, r.justification, \
         CASE WHEN r.state = 'pending' AND t.revoked_at IS NOT NULL THEN 'withdrawn' ELSE r.state END AS state, \
         r.created_at, r.decided_at, \
         d.username AS decided_by, r.reason, t.expires_at \
         FROM token_requests r JOIN tokens t ON t.id = r.token_id JOIN users u ON u.id = r.user_id \
         LEFT JOIN users d ON d.id = r.decided_by "
    };
}

/// The requests of organization `$1`: pending ones for live tokens, or
/// (`$2` true) every one; newest first.
pub const REQUESTS: &str = concat!(
    request_view!(),
    "WHERE r.org_id = $1 AND ($2 OR (r.state = 'pending' AND t.revoked_at IS NULL)) \
     ORDER BY r.id DESC LIMIT 500"
);

/// Request `$1` of organization `$2`, as owners see it.
pub const REQUEST_ROW: &str = concat!(request_view!(), "WHERE r.id = $1 AND r.org_id = $2");

/// Request `$1` of organization `$2`: (token, requester, state, scopes,
/// resources, the token's approval state).
pub const REQUEST: &str =
    "SELECT r.token_id, r.user_id, r.state, r.scopes, r.resources, t.approval_state \
     FROM token_requests r JOIN tokens t ON t.id = r.token_id WHERE r.id = $1 AND r.org_id = $2";

/// The value of policy `$2` of the organization named `$1`, with its id.
pub const ORG_POLICY_BY_NAME: &str = "SELECT p.value, o.id FROM org_policies p \
     JOIN organizations o ON o.id = p.org_id WHERE o.name = $1 AND p.key = $2";

/// Gives token `$1` the scopes `$2` and resources `$3` a widening request
/// asked for, at `$4`, if it is still live and waiting for them.
pub const APPLY_WIDENING: &str = "UPDATE tokens SET scopes = $2, resources = $3, \
     approval_state = 'approved', updated_at = $4 \
     WHERE id = $1 AND approval_state = 'widening' AND revoked_at IS NULL AND expires_at > $4";

/// A widening request of token `$1` was denied (at `$2`): it keeps the
/// scopes it has.
pub const REFUSE_WIDENING: &str = "UPDATE tokens SET approval_state = 'approved', updated_at = $2 \
     WHERE id = $1 AND approval_state = 'widening' AND revoked_at IS NULL";

/// Token `$1`'s pending request is replaced by a newer one (at `$2`).
pub const REPLACE_PENDING: &str = "UPDATE token_requests SET state = 'withdrawn', decided_at = $2 \
     WHERE token_id = $1 AND state = 'pending'";

/// Approves pending token `$1` at `$2`, if it is still live.
pub const APPROVE_TOKEN: &str = "UPDATE tokens SET approval_state = 'approved', updated_at = $2 \
     WHERE id = $1 AND approval_state = 'pending' AND revoked_at IS NULL AND expires_at > $2";

/// Revokes pending token `$1` at `$2` as denied, for reason `$3`.
pub const DENY_TOKEN: &str = "UPDATE tokens SET revoked_at = $2, updated_at = $2, \
     revoked_by = 'organization', revoked_reason = $3 \
     WHERE id = $1 AND approval_state = 'pending' AND revoked_at IS NULL";

/// Records the decision on pending request `$1`: `$2` state, `$3` when,
/// `$4` by whom, `$5` why.
pub const DECIDE_REQUEST: &str = "UPDATE token_requests SET state = $2, decided_at = $3, \
     decided_by = $4, reason = $5 WHERE id = $1 AND state = 'pending'";

/// Request `$1` can no longer be decided: its token ended first.
pub const WITHDRAW_REQUEST: &str =
    "UPDATE token_requests SET state = 'withdrawn', decided_at = $2 WHERE id = $1 AND state = 'pending'";

/// Organizations with requests pending for live tokens (at `$1`), and
/// how many each.
pub const PENDING_BY_ORG: &str = "SELECT o.name, COUNT(*) FROM token_requests r \
     JOIN organizations o ON o.id = r.org_id JOIN tokens t ON t.id = r.token_id \
     WHERE r.state = 'pending' AND t.revoked_at IS NULL AND t.expires_at > $1 GROUP BY o.name";

/// The owners of organization `$1`: their user ids.
pub const OWNER_IDS: &str = "SELECT user_id FROM org_members WHERE org_id = $1 AND role = 'owner'";

/// The owners of the organization named `$1`: their user ids.
pub const OWNER_IDS_BY_NAME: &str = "SELECT m.user_id FROM org_members m \
     JOIN organizations o ON o.id = m.org_id WHERE o.name = $1 AND m.role = 'owner'";

/// Who is told what happens to service account `$1`'s tokens (every
/// notice): its organization's owners and its team's members — enabled
/// people — with the account's, the organization's and the team's names.
/// No row: `$1` is not an organization's service account.
pub const SERVICE_NOTICE_RECIPIENTS: &str =
    "SELECT m.user_id, s.username, o.name, t.name FROM users s \
     JOIN organizations o ON o.id = s.service_org JOIN org_members m ON m.org_id = o.id \
     JOIN users p ON p.id = m.user_id AND p.is_service = FALSE AND p.disabled_at IS NULL \
     LEFT JOIN teams t ON t.id = s.service_team \
     WHERE s.id = $1 AND (m.role = 'owner' \
     OR m.user_id IN (SELECT tm.user_id FROM team_members tm WHERE tm.team_id = s.service_team)) \
     ORDER BY m.user_id";
