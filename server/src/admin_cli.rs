//! `tessera admin …`: the organization's administration from a shell, on
//! the configured store, while the server runs. Tables for a person, or
//! JSON with `--json` (JSON Lines for `audit`). Every change is audited as
//! made by "an administrator (CLI)" and reaches running instances through
//! the change feed (Postgres `NOTIFY`; SQLite's change table) within a
//! second.

use app::domain::{
    admin::{self, Admin, AdminError, InventoryFilter, StatusFilter},
    audit, sso,
    tokens::TokenError,
    workloads::{self, Maker},
    Core,
};
use app::scopes::Scopes;
use app::tokens::{Networks, Resources};
use app::workloads::{RuleSpec, TrustRule};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use comfy_table::{presets::NOTHING, Table};
use serde_json::json;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

mod orgs;

/// `tessera admin`'s flags and command.
#[derive(Clone, Debug, Args)]
pub struct AdminArgs {
    /// Print JSON instead of a table (JSON Lines for `audit`).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The admin commands.
#[derive(Clone, Debug, Subcommand)]
pub enum AdminCommand {
    /// Make a user an administrator.
    GrantAdmin {
        /// The user's name.
        username: String,
    },
    /// Make an administrator an ordinary user again.
    RevokeAdmin {
        /// The user's name.
        username: String,
    },
    /// Create an account. Prints a generated password once, or reads the
    /// password from stdin when stdin is not a terminal.
    CreateUser {
        /// The new user's name.
        username: String,
    },
    /// List accounts.
    Users {
        /// Only names containing this.
        #[arg(long, default_value = "")]
        search: String,
    },
    /// Disable an account: the user is signed out and their tokens stop
    /// working (reversible with enable-user).
    DisableUser {
        /// The user's name.
        username: String,
    },
    /// Enable a disabled account again.
    EnableUser {
        /// The user's name.
        username: String,
    },
    /// The credentials inventory: every user's tokens.
    Tokens {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// active, expired, revoked or all.
        #[arg(long, default_value = "active")]
        status: String,
        /// Only tokens not used for this many days.
        #[arg(long)]
        unused_days: Option<u32>,
        /// Only tokens whose scopes include this one (e.g. code:write, or full).
        #[arg(long)]
        scope: Option<String>,
        /// Only active tokens expiring within this many days.
        #[arg(long)]
        expiring_days: Option<u32>,
        /// Only active tokens granted scopes they did not use in the last 30 days.
        #[arg(long)]
        overgranted: bool,
    },
    /// Revoke any user's token; its owner sees the reason.
    RevokeToken {
        /// The token's id.
        id: i64,
        /// Why (shown to the owner).
        #[arg(long)]
        reason: String,
    },
    /// Revoke every token of a user.
    RevokeUserTokens {
        /// The user's name.
        username: String,
        /// Why (shown to the owner).
        #[arg(long)]
        reason: String,
    },
    /// Show or change the organization's policies.
    Policy {
        /// show, or set KEY VALUE.
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Create a service account: a non-human user owned by administrators,
    /// with no password and no sign-in — only trust rules and tokens.
    CreateServiceAccount {
        /// The account's name.
        name: String,
    },
    /// Trusted workloads: rules that let CI jobs exchange their OIDC ID
    /// token for a minutes-long token (`POST /oauth/token`).
    WorkloadTrust {
        /// add, list or remove.
        #[command(subcommand)]
        action: TrustAction,
    },
    /// Link an account to a single sign-on identity: the next sign-in
    /// through the identity provider as SUBJECT signs in as this account.
    LinkIdentity {
        /// The account's name.
        username: String,
        /// The identity's subject (the ID token's `sub` claim).
        #[arg(long)]
        subject: String,
        /// The identity provider's issuer URL (default: --oidc-issuer's).
        #[arg(long, env = "TESSERA_OIDC_ISSUER")]
        issuer: String,
    },
    /// Unlink an account's single sign-on identities (or one of them). The
    /// account is disabled: signed out everywhere, its tokens refused at
    /// once (enable-user brings it back).
    UnlinkIdentity {
        /// The account's name.
        username: String,
        /// Only this subject (default: every identity at the issuer).
        #[arg(long)]
        subject: Option<String>,
        /// The identity provider's issuer URL (default: --oidc-issuer's).
        #[arg(long, env = "TESSERA_OIDC_ISSUER")]
        issuer: String,
    },
    /// Reset an account's two-factor authentication (a lost phone): its
    /// authenticator apps, passkeys and recovery codes are removed, so the
    /// password alone signs in until the person adds a factor again.
    ResetTwoFactor {
        /// The account's name.
        username: String,
    },
    /// The single sign-on identities of an account.
    Identities {
        /// The account's name.
        username: String,
    },
    /// Organizations: members, roles and teams.
    Org {
        /// create, list, members, add-member, remove-member, teams,
        /// create-team, add-to-team, remove-from-team, set-policy or policies.
        #[command(subcommand)]
        action: orgs::OrgAction,
    },
    /// Read the audit log, newest first.
    Audit {
        /// Only events of this user's account.
        #[arg(long)]
        user: Option<String>,
        /// Only events of this token.
        #[arg(long)]
        token: Option<i64>,
        /// Only events since this date (YYYY-MM-DD) or time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `tessera admin policy …`.
#[derive(Clone, Debug, Subcommand)]
pub enum PolicyAction {
    /// Print every policy and its value.
    Show,
    /// Set a policy (`none` clears it).
    Set {
        /// max_lifetime_days, forbid_full_access, allowed_scopes,
        /// max_active_tokens_per_user, inactive_days, revoke_on_reuse,
        /// require_allowlist_for_write, allowed_workload_issuers,
        /// sso_required or require_two_factor.
        key: String,
        /// The value (`none` to clear).
        value: String,
    },
}

/// `tessera admin workload-trust …`.
#[derive(Clone, Debug, Subcommand)]
pub enum TrustAction {
    /// Trust ID tokens of an issuer whose claims match every condition.
    Add {
        /// The OIDC issuer, e.g. https://token.actions.githubusercontent.com.
        #[arg(long)]
        issuer: String,
        /// The audience the ID token must name (default: Tessera's public URL).
        #[arg(long, default_value = "")]
        audience: String,
        /// A claim condition CLAIM=VALUE (`*` matches any run of
        /// characters); repeat for more; all must match.
        #[arg(long = "claim", required = true)]
        claims: Vec<String>,
        /// The account the minted tokens act as.
        #[arg(long)]
        user: String,
        /// The most the minted tokens may do, e.g. "code:read packaging:write".
        #[arg(long)]
        scopes: String,
        /// Limit an area to resources: AREA=PATTERN,PATTERN (repeatable).
        #[arg(long = "resources")]
        resources: Vec<String>,
        /// Where minted tokens work from: addresses or CIDR ranges,
        /// separated by spaces or commas (default: anywhere).
        #[arg(long, default_value = "")]
        networks: String,
        /// The longest a minted token lives, in minutes (default 15, at most 60).
        #[arg(long)]
        max_minutes: Option<u32>,
        /// What the rule is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List trust rules.
    List {
        /// Only this account's rules.
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a trust rule; the tokens it minted are revoked.
    Remove {
        /// The rule's id.
        id: i64,
    },
}

/// A token-service refusal as one line: the message and every field's.
fn refused(e: TokenError) -> Failure {
    let fields = e.fields();
    if fields.is_empty() {
        return Failure(e.message());
    }
    Failure(
        fields
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `AREA=PATTERN,PATTERN` entries as resource limits.
fn resource_limits(items: &[String]) -> Result<Resources, Failure> {
    Resources::parse_assignments(items.iter().map(String::as_str))
        .map_err(|e| Failure(format!("--resources: {e}")))
}

fn print_rules(json: bool, rules: &[TrustRule]) {
    let header = [
        "ID",
        "USER",
        "ISSUER",
        "AUDIENCE",
        "CONDITIONS",
        "SCOPES",
        "MINUTES",
        "ACTIVE",
    ];
    listing(json, rules, &header, |r| {
        vec![
            r.id.to_string(),
            r.username.clone(),
            r.issuer.clone(),
            r.audience.clone(),
            r.conditions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            r.scopes.clone(),
            r.max_minutes.to_string(),
            r.active_tokens.to_string(),
        ]
    });
}

async fn trust(core: &Core, json: bool, action: TrustAction) -> Result<(), Failure> {
    let maker = Maker::Admin(None, None);
    match action {
        TrustAction::Add {
            issuer,
            audience,
            claims,
            user,
            scopes,
            resources,
            networks,
            max_minutes,
            description,
        } => {
            let target = admin::user(&core.db, &user).await?;
            let spec = RuleSpec {
                issuer,
                audience,
                conditions: claims,
                scopes: Scopes::parse(&scopes).map_err(|e| Failure(format!("--scopes: {e}")))?,
                networks: Networks::parse_text(&networks)
                    .map_err(|e| Failure(format!("--networks: {e}")))?,
                resources: resource_limits(&resources)?,
                max_minutes,
                description,
            };
            let rule = workloads::add_rule(core, &maker, target.id, &spec)
                .await
                .map_err(refused)?;
            print_rules(json, &[rule]);
        }
        TrustAction::List { user } => {
            let user_id = match user {
                Some(name) => admin::user(&core.db, &name).await?.id,
                None => 0,
            };
            print_rules(json, &workloads::rules(core, user_id).await?);
        }
        TrustAction::Remove { id } => {
            let n = workloads::remove_rule(core, &maker, id)
                .await
                .map_err(|e| match e {
                    TokenError::NotFound => Failure(format!("There is no trust rule {id}.")),
                    e => refused(e),
                })?;
            if json {
                print_json(&json!({ "removed": id, "revoked": n }));
            } else {
                println!("Removed trust rule {id}; revoked {n} token(s) it minted.");
            }
        }
    }
    Ok(())
}

/// A failed admin command: the message for stderr.
pub struct Failure(pub String);

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        Failure(e.to_string())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure(format!("database error: {e}"))
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING).set_header(header.to_vec());
    t
}

/// Prints `rows` as JSON, or as a table with `header` and a row of
/// `cells` each.
fn listing<T: serde::Serialize>(
    json: bool,
    rows: &[T],
    header: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) {
    if json {
        print_json(&json!(rows));
        return;
    }
    let mut t = table(header);
    for r in rows {
        t.add_row(cells(r));
    }
    println!("{t}");
}

fn day(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M").to_string(),
    )
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn print_user(json: bool, u: &admin::UserRow) {
    if json {
        print_json(&json!(u));
    } else {
        let mut t = table(&["ID", "USERNAME", "ADMIN", "DISABLED", "ACTIVE TOKENS"]);
        t.add_row(vec![
            u.id.to_string(),
            u.username.clone(),
            yes(u.is_admin),
            day(u.disabled_at),
            u.active_tokens.to_string(),
        ]);
        println!("{t}");
    }
}

async fn print_identities(json: bool, core: &Core, u: &admin::UserRow) -> Result<(), Failure> {
    let ids = sso::identities(core, u.id).await?;
    let header = ["USERNAME", "ISSUER", "SUBJECT", "LINKED", "LAST SIGN-IN"];
    listing(json, &ids, &header, |i| {
        vec![
            u.username.clone(),
            i.issuer.clone(),
            i.subject.clone(),
            day(Some(i.created_at)),
            day(i.last_sign_in_at),
        ]
    });
    Ok(())
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// The password for create-user: a line from stdin when it is not a
/// terminal (and not empty), else a generated one that is printed.
fn new_password() -> (String, bool) {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).is_ok() {
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            if !line.is_empty() {
                return (line, false);
            }
        }
    }
    (admin::generate_password(), true)
}

fn since(text: &str) -> Result<DateTime<Utc>, Failure> {
    app::domain::audit::parse_since(text).ok_or_else(|| {
        Failure(format!(
            "--since must be YYYY-MM-DD or an RFC 3339 time, not {text:?}."
        ))
    })
}

/// Runs one admin command.
pub async fn run(core: &Core, args: AdminArgs) -> Result<(), Failure> {
    let who = Admin::cli();
    let json = args.json;
    match args.command {
        AdminCommand::GrantAdmin { username } => {
            print_user(json, &admin::set_admin(core, &who, &username, true).await?)
        }
        AdminCommand::RevokeAdmin { username } => {
            print_user(json, &admin::set_admin(core, &who, &username, false).await?)
        }
        AdminCommand::DisableUser { username } => print_user(
            json,
            &admin::set_disabled(core, &who, &username, true).await?,
        ),
        AdminCommand::EnableUser { username } => print_user(
            json,
            &admin::set_disabled(core, &who, &username, false).await?,
        ),
        AdminCommand::LinkIdentity {
            username,
            subject,
            issuer,
        } => {
            let u = sso::link(core, &who, &username, issuer.trim(), &subject).await?;
            print_identities(json, core, &u).await?;
        }
        AdminCommand::UnlinkIdentity {
            username,
            subject,
            issuer,
        } => {
            let n = sso::unlink(core, &who, &username, issuer.trim(), subject.as_deref()).await?;
            if json {
                print_json(&json!({ "username": username, "unlinked": n, "disabled": true }));
            } else {
                println!("Unlinked {n} identity(ies) of {username}; the account is disabled (enable-user brings it back).");
            }
        }
        AdminCommand::ResetTwoFactor { username } => {
            let u = admin::user(&core.db, &username).await?;
            let by = audit::By::Admin(who.user_id);
            let reset = app::domain::two_factor::reset(core, u.id, by).await?;
            if json {
                print_json(&json!({ "username": u.username, "reset": reset }));
            } else if reset {
                println!("Two-factor authentication of {} was reset: the password alone signs in until a factor is added again.", u.username);
            } else {
                println!("{} had no second factor; nothing changed.", u.username);
            }
        }
        AdminCommand::Org { action } => orgs::run(core, &who, json, action).await?,
        AdminCommand::Identities { username } => {
            let u = admin::user(&core.db, &username).await?;
            print_identities(json, core, &u).await?;
        }
        AdminCommand::CreateUser { username } => {
            let (password, generated) = new_password();
            let u = admin::create_user(core, &who, &username, &password, generated).await?;
            if json {
                let mut v = json!(u);
                if generated {
                    v["password"] = json!(password);
                }
                print_json(&v);
            } else {
                print_user(false, &u);
                if generated {
                    println!("\nOne-time password (shown once; it signs in once, then the user chooses their own):\n{password}");
                }
            }
        }
        AdminCommand::Users { search } => {
            let users = admin::users(&core.db, &search).await?;
            let header = [
                "ID",
                "USERNAME",
                "ADMIN",
                "SERVICE",
                "SSO",
                "DISABLED",
                "ACTIVE TOKENS",
                "CREATED",
            ];
            listing(json, &users, &header, |u| {
                vec![
                    u.id.to_string(),
                    u.username.clone(),
                    yes(u.is_admin),
                    yes(u.is_service),
                    match (u.identities > 0, u.provisioned) {
                        (true, true) => "linked, provisioned".into(),
                        (true, false) => "linked".into(),
                        (false, true) => "provisioned".into(),
                        (false, false) => "-".into(),
                    },
                    day(u.disabled_at),
                    u.active_tokens.to_string(),
                    day(Some(u.created_at)),
                ]
            });
        }
        AdminCommand::Tokens {
            user,
            status,
            unused_days,
            scope,
            expiring_days,
            overgranted,
        } => {
            let status = StatusFilter::parse(&status).ok_or_else(|| {
                Failure(format!(
                    "--status must be active, expired, revoked or all, not {status:?}."
                ))
            })?;
            let user_id = match user {
                Some(name) => Some(admin::user(&core.db, &name).await?.id),
                None => None,
            };
            let filter = InventoryFilter {
                user_id,
                status,
                scope,
                expiring_days,
                unused_days,
                overgranted,
            };
            let rows = admin::inventory(core, &filter).await?;
            let now = app::domain::db::now();
            let header = [
                "ID",
                "USER",
                "NAME",
                "SCOPES",
                "STATUS",
                "EXPIRES",
                "LAST USED",
                "NOTE",
            ];
            listing(json, &rows, &header, |r| {
                let tk = &r.token;
                let note = tk
                    .revoked_note()
                    .or_else(|| tk.blocked.as_ref().map(|b| b.sentence()))
                    .or_else(|| tk.usage.as_ref().map(|u| u.sentence()))
                    .unwrap_or_default();
                vec![
                    tk.id.to_string(),
                    r.username.clone(),
                    tk.name.clone(),
                    tk.scopes.to_string(),
                    tk.status(now).label().to_lowercase(),
                    day(Some(tk.expires_at)),
                    day(tk.last_used_at),
                    note,
                ]
            });
        }
        AdminCommand::RevokeToken { id, reason } => {
            let r = admin::revoke_token(core, &who, id, &reason).await?;
            if json {
                print_json(&json!(r));
            } else {
                println!(
                    "Revoked token {} \u{201c}{}\u{201d} of {}.",
                    r.token.id, r.token.name, r.username
                );
            }
        }
        AdminCommand::RevokeUserTokens { username, reason } => {
            let n = admin::revoke_user_tokens(core, &who, &username, &reason).await?;
            if json {
                print_json(&json!({ "revoked": n }));
            } else {
                println!("Revoked {n} token(s) of {username}.");
            }
        }
        AdminCommand::Policy { action } => {
            let policies = match action {
                PolicyAction::Show => admin::load_policies(&core.db).await?,
                PolicyAction::Set { key, value } => {
                    admin::set_policy(core, &who, &key, &value).await?
                }
            };
            if json {
                let map: serde_json::Map<String, serde_json::Value> = policies
                    .entries()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect();
                print_json(&serde_json::Value::Object(map));
            } else {
                let mut t = table(&["POLICY", "VALUE"]);
                for (k, v) in policies.entries() {
                    t.add_row(vec![k.to_owned(), v]);
                }
                println!("{t}");
            }
        }
        AdminCommand::CreateServiceAccount { name } => {
            workloads::create_service_account(core, None, &name).await?;
            print_user(json, &admin::user(&core.db, &name).await?);
        }
        AdminCommand::WorkloadTrust { action } => trust(core, json, action).await?,
        AdminCommand::Audit {
            user,
            token,
            since: from,
            limit,
        } => {
            let user_id = match user {
                Some(name) => Some(admin::user(&core.db, &name).await?.id),
                None => None,
            };
            let filter = audit::Filter {
                user_id,
                token_id: token,
                since: from.as_deref().map(since).transpose()?,
                before_id: None,
                limit: limit.clamp(1, 500),
            };
            let events = audit::list(&core.db, &filter).await?;
            let mut out = std::io::stdout().lock();
            if json {
                for e in &events {
                    let _ = writeln!(out, "{}", serde_json::to_string(e).unwrap_or_default());
                }
            } else {
                let mut t = table(&[
                    "ID", "TIME", "EVENT", "USER", "TOKEN", "BY", "FROM", "DETAILS",
                ]);
                for e in &events {
                    t.add_row(vec![
                        e.id.to_string(),
                        e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                        e.event.clone(),
                        e.username.clone().unwrap_or_default(),
                        e.token_id.map(|t| t.to_string()).unwrap_or_default(),
                        e.actor_words(None),
                        e.ip.clone(),
                        e.detail_words(),
                    ]);
                }
                let _ = writeln!(out, "{t}");
            }
        }
    }
    Ok(())
}
