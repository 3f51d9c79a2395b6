//! One path for every use of a token: the REST API, the gateway check and
//! RFC 7662 introspection each hand the presented secret and the client to
//! [`Core::authenticate`], which verifies it and does every check and every
//! side effect (use recorded, presentations of ended tokens counted, reuse
//! of a rotated-out secret audited and — under `revoke_on_reuse` — acted
//! on, policy blocks and network allowlists refused and audited). The
//! transports only turn [`Denied`] into their own answer.

use super::{
    audit::{self, By, Event},
    sessions::Client,
    verify::{Rejection, Verified, VerifyError},
    Core,
};
use crate::tokens::{policy::Block, reach};
use std::{net::IpAddr, sync::Arc};

/// How a token reached Tessera.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The REST API (`/api/v1/…`).
    Api,
    /// The gateway check (`/gateway/check`) of a proxy.
    Gateway,
    /// RFC 7662 introspection by a resource server. `client_ip`: whether it
    /// named the address it saw the token come from (the [`Client`] is then
    /// that address); without it, a token with an allowlist is refused, and
    /// the use is recorded without a place.
    Introspection {
        /// The resource server named the token's client address.
        client_ip: bool,
    },
}

impl Channel {
    /// The channel's name in the audit log (`api`, `gateway`, `introspection`).
    pub fn name(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::Gateway => "gateway",
            Channel::Introspection { .. } => "introspection",
        }
    }

    /// True when the client's address is where the token came from.
    fn knows_address(self) -> bool {
        !matches!(self, Channel::Introspection { client_ip: false })
    }
}

/// Why a presented token may not act. Every variant has been counted and,
/// where it says something to the owner, audited before it is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token was presented.
    Missing,
    /// Not valid, ended, disabled, or a rotated-out secret.
    Rejected(Rejection),
    /// A policy blocks the token until it allows it again.
    Blocked(Block),
    /// The client's address (`None`: not known) is outside the token's
    /// allowlist.
    Address(Option<IpAddr>),
    /// The token lacks the scope.
    Scope(String),
    /// The token's scope for `area` is limited to other resources than
    /// `resource` (as shown: cut to a bounded length).
    Resource {
        /// The scope's area (`code`), or empty when no scope was asked for.
        area: String,
        /// The resource asked for, if any.
        resource: Option<String>,
    },
    /// The store could not answer.
    Unavailable,
}

/// A token that may act: who it speaks for, and where it came from.
#[derive(Clone)]
pub struct Authenticated {
    /// The verified token.
    pub verified: Arc<Verified>,
    /// Where it was presented from.
    pub client: Client,
    /// How it arrived.
    pub channel: Channel,
    core: Arc<Core>,
}

impl Core {
    /// Verifies `presented` (`None`: nothing was sent) from `client` over
    /// `channel`, refuses what a policy blocks or the token's allowlist
    /// leaves out, and records the use. Every outcome is recorded the same
    /// way whichever transport asked.
    pub async fn authenticate(
        self: &Arc<Self>,
        presented: Option<&str>,
        client: Client,
        channel: Channel,
    ) -> Result<Authenticated, Denied> {
        let Some(presented) = presented else {
            return Err(Denied::Missing);
        };
        let verified = match self.verify(presented).await {
            Ok(v) => v,
            Err(VerifyError::Rejected(r)) => return Err(Denied::Rejected(r)),
            Err(VerifyError::Ended { why, token_id }) => {
                if channel.knows_address() {
                    self.presented.note(token_id, client.ip, &client.agent);
                }
                return Err(Denied::Rejected(why));
            }
            Err(VerifyError::Reused {
                token_id,
                user_id,
                owner,
            }) => {
                let revoke = self.policies().for_owner(owner.as_deref()).revoke_on_reuse;
                reused(self, token_id, user_id, revoke, &client, channel);
                return Err(Denied::Rejected(Rejection::Rotated));
            }
            Err(VerifyError::Database(e)) => {
                tracing::error!(error = %e, channel = channel.name(), "token verification failed");
                return Err(Denied::Unavailable);
            }
        };
        let known = channel.knows_address().then_some(client.ip);
        if let Some(block) = &verified.blocked {
            refused(
                self,
                &verified,
                &client,
                channel,
                Refusal::Blocked(&block.policy),
            );
            return Err(Denied::Blocked(block.clone()));
        }
        let in_allowlist = match known {
            Some(ip) => verified.networks.allows(ip),
            None => verified.networks.is_any(),
        };
        if !in_allowlist {
            refused(self, &verified, &client, channel, Refusal::Address(known));
            return Err(Denied::Address(known.map(reach::plain)));
        }
        self.usage.note(verified.token_id, client.ip, &client.agent);
        if known.is_some() {
            super::lifecycle::sighted(self, &verified, &client);
        }
        Ok(Authenticated {
            verified,
            client,
            channel,
            core: self.clone(),
        })
    }
}

impl Authenticated {
    /// `Ok` when the token may act with `scope` (`tokens:read`): the use of
    /// the scope is recorded; a refusal is audited (sampled).
    pub fn require(&self, scope: &str) -> Result<(), Denied> {
        if self.verified.grants(scope) {
            self.core
                .scope_uses
                .note(self.verified.token_id, scope, None);
            Ok(())
        } else {
            self.refuse(Refusal::Scope(scope));
            Err(Denied::Scope(scope.to_owned()))
        }
    }

    /// What a gateway asks: `scope` (`None`: any valid token) on `resource`
    /// (as the proxy names it). The resource matters to a token limited to
    /// resources, and to the usage record of a scope.
    pub fn require_on(&self, scope: Option<&str>, resource: Option<&str>) -> Result<(), Denied> {
        let v = &self.verified;
        if let Some(scope) = scope {
            if !v.grants(scope) {
                self.refuse(Refusal::Scope(scope));
                return Err(Denied::Scope(scope.to_owned()));
            }
        }
        let resource = resource
            .filter(|_| scope.is_some() || !v.resources.is_empty() || v.owner.is_some())
            .map(str::trim)
            .filter(|r| !r.is_empty());
        // an organization's token reaches only its resources (Tessera's own
        // API has none)
        let outside_owner = v.owner.as_deref().is_some_and(|owner| {
            let own_api = scope.is_some_and(|s| reach::OWN_AREAS.contains(&reach::area_of(s)));
            !own_api && !resource.is_some_and(|r| reach::owned_by(owner, r))
        });
        let outside_limits = !v.resources.is_empty()
            && !match scope {
                Some(scope) => v.resources.allows(reach::area_of(scope), resource),
                None => v.resources.allows_some_area(&v.scopes, resource),
            };
        if outside_owner || outside_limits {
            let area = scope.map_or("", reach::area_of);
            let resource = resource.map(shown);
            self.refuse(Refusal::Resource(area, resource.as_deref()));
            return Err(Denied::Resource {
                area: area.to_owned(),
                resource,
            });
        }
        if let Some(scope) = scope {
            self.core.scope_uses.note(v.token_id, scope, resource);
        }
        Ok(())
    }

    fn refuse(&self, why: Refusal<'_>) {
        refused(&self.core, &self.verified, &self.client, self.channel, why);
    }
}

/// `resource` cut to a length fit for an error message and the audit log.
fn shown(resource: &str) -> String {
    resource.chars().take(reach::PATTERN_MAX + 1).collect()
}

/// Why a valid token was refused.
#[derive(Clone, Copy, Debug)]
enum Refusal<'a> {
    /// A policy (its key) blocks it: `token.blocked`.
    Blocked(&'a str),
    /// It lacks the scope: `token.denied`.
    Scope(&'a str),
    /// The client's address (if known) is not in its allowlist:
    /// `token.ip_denied`.
    Address(Option<IpAddr>),
    /// Its scope for the area is limited to other resources (the one
    /// asked for, if any): `token.resource_denied`.
    Resource(&'a str, Option<&'a str>),
}

/// Counts a refusal of a valid token in the metrics, and records it in the
/// audit log at most once per token and reason per sampling period (a flood
/// of refusals writes a bounded number of rows), in the background.
fn refused(core: &Core, v: &Verified, client: &Client, channel: Channel, why: Refusal<'_>) {
    core.metrics.verification(match why {
        Refusal::Blocked(_) => "blocked",
        Refusal::Scope(_) => "insufficient_scope",
        Refusal::Address(_) => "ip_not_allowed",
        Refusal::Resource(..) => "resource_not_allowed",
    });
    let (event, sample, mut details) = match why {
        Refusal::Blocked(policy) => (
            "token.blocked",
            policy,
            serde_json::json!({ "policy": policy }),
        ),
        Refusal::Scope(scope) => (
            "token.denied",
            scope,
            serde_json::json!({ "required_scope": scope }),
        ),
        Refusal::Address(ip) => (
            "token.ip_denied",
            "ip_not_allowed",
            serde_json::json!({ "ip": ip.map(|ip| reach::plain(ip).to_string()) }),
        ),
        Refusal::Resource(area, resource) => (
            "token.resource_denied",
            "resource_not_allowed",
            serde_json::json!({ "area": area, "resource": resource }),
        ),
    };
    if !core.refusals.admit(v.token_id, sample) {
        return;
    }
    details["via"] = channel.name().into();
    let by = By::Token {
        user: v.user_id,
        token: v.token_id,
    };
    let ev = Event::new(event, Some(v.user_id), Some(v.token_id), by, Some(client)).with(details);
    audit::record_later(&core.db, ev);
}

/// Records that a secret rotated out of a token was presented
/// (`token.reused`, sampled like other refusals): where it came from is
/// how its owner finds what still uses it. With the `revoke_on_reuse`
/// policy (`revoke`: the server's, or the owning organization's), the
/// token's current secret is revoked too (by policy).
fn reused(
    core: &Arc<Core>,
    token_id: i64,
    user_id: i64,
    revoke: bool,
    client: &Client,
    channel: Channel,
) {
    if revoke {
        let event = Event::new(
            "token.revoked",
            Some(user_id),
            Some(token_id),
            By::Policy,
            Some(client),
        );
        let core = core.clone();
        tokio::spawn(async move {
            let reason = "an old secret was used after rotation (revoke_on_reuse)";
            if let Err(e) = super::tokens::revoke_as(&core, event, user_id, token_id, reason).await
            {
                tracing::error!(error = %e, "revoke on reuse failed");
            }
        });
    }
    if !core.refusals.admit(token_id, "reused") {
        return;
    }
    let by = By::Token {
        user: user_id,
        token: token_id,
    };
    let ev = Event::new(
        "token.reused",
        Some(user_id),
        Some(token_id),
        by,
        Some(client),
    )
    .with(serde_json::json!({ "secret": "rotated out", "via": channel.name() }));
    audit::record_later(&core.db, ev);
}
