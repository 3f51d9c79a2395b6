//! `tessera admin org …`: organizations, their members and teams.

use super::{day, listing, print_json, Failure};
use app::domain::{
    admin::Admin,
    orgs::{self, policies, MemberRow, OrgRow, TeamRow},
    Core,
};
use clap::Subcommand;
use serde_json::json;

/// `tessera admin org …`.
#[derive(Clone, Debug, Subcommand)]
pub enum OrgAction {
    /// Create an organization: lower-case letters, digits and '-'; its
    /// name is the first segment of its resources (acme/api).
    Create {
        /// The organization's name.
        name: String,
        /// Its first owner (a user name).
        #[arg(long)]
        owner: Option<String>,
        /// What it is.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List organizations.
    List,
    /// An organization's members and their roles.
    Members {
        /// The organization.
        org: String,
    },
    /// Add a member, or change a member's role.
    AddMember {
        /// The organization.
        org: String,
        /// The user's name.
        username: String,
        /// owner or member.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Remove a member (and from the organization's teams): the tokens they
    /// made for it stop at once.
    RemoveMember {
        /// The organization.
        org: String,
        /// The user's name.
        username: String,
    },
    /// An organization's teams and their members.
    Teams {
        /// The organization.
        org: String,
    },
    /// Create a team.
    CreateTeam {
        /// The organization.
        org: String,
        /// The team's name.
        team: String,
        /// The identity provider's group the team follows.
        #[arg(long)]
        idp_group: Option<String>,
    },
    /// Add a member of the organization to a team.
    AddToTeam {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// The user's name.
        username: String,
    },
    /// Set an organization's policy: approval_required_for (`all`, or
    /// scopes such as "code:write packaging:manage"), or a server-wide
    /// token key (max_lifetime_days, forbid_full_access, allowed_scopes,
    /// max_active_tokens_per_user, inactive_days, revoke_on_reuse,
    /// require_allowlist_for_write, require_two_factor): the organization's
    /// tokens are held to the stricter of it and the server's. `none`
    /// clears it.
    SetPolicy {
        /// The organization.
        org: String,
        /// The policy's key.
        key: String,
        /// The value (`none` to clear).
        value: String,
    },
    /// An organization's policies.
    Policies {
        /// The organization.
        org: String,
    },
    /// Remove a user from a team.
    RemoveFromTeam {
        /// The organization.
        org: String,
        /// The team.
        team: String,
        /// The user's name.
        username: String,
    },
    /// Create a service account of the organization (a member nothing
    /// signs in as): its owners make tokens for it, which keep working
    /// when their maker leaves.
    CreateServiceAccount {
        /// The organization.
        org: String,
        /// The account's name (a username).
        name: String,
        /// The team it belongs to (told of its tokens' expiry).
        #[arg(long)]
        team: Option<String>,
    },
    /// An organization's service accounts.
    ServiceAccounts {
        /// The organization.
        org: String,
    },
}

fn print_accounts(json: bool, rows: &[orgs::service_accounts::ServiceAccount]) {
    listing(json, rows, &["NAME", "TEAM", "CREATED"], |a| {
        vec![
            a.username.clone(),
            a.team.clone().unwrap_or_else(|| "-".into()),
            day(Some(a.created_at)),
        ]
    });
}

fn print_orgs(json: bool, rows: &[OrgRow]) {
    let header = ["NAME", "MEMBERS", "OWNERS", "CREATED", "DESCRIPTION"];
    listing(json, rows, &header, |o| {
        vec![
            o.name.clone(),
            o.members.to_string(),
            o.owners.to_string(),
            day(Some(o.created_at)),
            o.description.clone(),
        ]
    });
}

fn print_members(json: bool, rows: &[MemberRow]) {
    listing(json, rows, &["USERNAME", "ROLE", "SINCE"], |m| {
        vec![m.username.clone(), m.role.clone(), day(Some(m.added_at))]
    });
}

fn print_teams(json: bool, rows: &[TeamRow]) {
    listing(json, rows, &["TEAM", "IDP GROUP", "MEMBERS"], |t| {
        vec![
            t.name.clone(),
            t.idp_group.clone().unwrap_or_else(|| "-".into()),
            t.members.join(", "),
        ]
    });
}

/// Runs `tessera admin org ACTION`.
pub async fn run(core: &Core, who: &Admin, json: bool, action: OrgAction) -> Result<(), Failure> {
    match action {
        OrgAction::Create {
            name,
            owner,
            description,
        } => {
            let o = orgs::create(core, who, &name, &description, owner.as_deref()).await?;
            print_orgs(json, &[o]);
        }
        OrgAction::List => print_orgs(json, &orgs::list(&core.db).await?),
        OrgAction::Members { org } => print_members(json, &orgs::members(&core.db, &org).await?),
        OrgAction::AddMember {
            org,
            username,
            role,
        } => {
            let m = orgs::set_member(core, who, &org, &username, role.trim()).await?;
            print_members(json, &[m]);
        }
        OrgAction::RemoveMember { org, username } => {
            orgs::remove_member(core, who, &org, &username).await?;
            if json {
                print_json(&json!({ "organization": org, "removed": username }));
            } else {
                println!(
                    "Removed {username} from {org}; the tokens they made for it stop at once."
                );
            }
        }
        OrgAction::SetPolicy { org, key, value } => {
            let by = app::domain::audit::By::Admin(who.user_id);
            let set = policies::set(core, by, None, &org, &key, &value)
                .await
                .map_err(|e| Failure(e.to_string()))?;
            let shown = set.unwrap_or_else(|| "none".into());
            if json {
                print_json(&json!({ "organization": org, key.trim(): shown }));
            } else {
                println!("{org}: {} = {shown}", key.trim());
            }
        }
        OrgAction::Policies { org } => {
            let o = orgs::get(&core.db, &org).await?;
            let mut values = serde_json::Map::new();
            for (key, value) in policies::all(&core.db, o.id).await? {
                values.insert(key, json!(value));
            }
            if json {
                print_json(&json!(values));
            } else {
                for (k, v) in values {
                    println!("{k} = {}", v.as_str().unwrap_or_default());
                }
            }
        }
        OrgAction::Teams { org } => print_teams(json, &orgs::teams(&core.db, &org).await?),
        OrgAction::CreateTeam {
            org,
            team,
            idp_group,
        } => {
            let t = orgs::create_team(core, who, &org, &team, idp_group.as_deref()).await?;
            print_teams(json, &[t]);
        }
        OrgAction::AddToTeam {
            org,
            team,
            username,
        } => {
            let t = orgs::set_team_member(core, who, &org, &team, &username, true).await?;
            print_teams(json, &[t]);
        }
        OrgAction::RemoveFromTeam {
            org,
            team,
            username,
        } => {
            let t = orgs::set_team_member(core, who, &org, &team, &username, false).await?;
            print_teams(json, &[t]);
        }
        OrgAction::CreateServiceAccount { org, name, team } => {
            let a = orgs::service_accounts::create(core, who, &org, &name, team.as_deref()).await?;
            print_accounts(json, &[a]);
        }
        OrgAction::ServiceAccounts { org } => {
            let o = orgs::get(&core.db, &org).await?;
            let rows = orgs::service_accounts::of_org(&core.db, o.id).await?;
            print_accounts(json, &rows);
        }
    }
    Ok(())
}
