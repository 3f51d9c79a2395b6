//! Where tokens are used from: networks (/24, /48) and client families,
//! checked in the background against what each token is known to use.

use super::*;

/// The network a client address belongs to, as a number: its /24 (IPv4,
/// in the low 32 bits) or /48 (IPv6, the top 48 bits).
pub fn network_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_key(IpAddr::V4(v4)),
            None => u128::from(v6) & !((1u128 << 80) - 1),
        },
    }
}

/// The network a client address belongs to: its key and its text
/// (`10.1.2.0/24`, `2001:db8:1::/48`).
pub fn network_of(ip: IpAddr) -> (u128, String) {
    let text = match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        IpAddr::V6(v6) => {
            let o = v6.to_ipv4_mapped().map(|v| v.octets()).unwrap_or_default();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
    };
    (network_key(ip), text)
}

/// The characters of a user agent's client family, lower-cased: its first
/// product name (`git/2.43.0` → `git`).
pub(super) fn family_chars(agent: &str) -> impl Iterator<Item = char> + '_ {
    agent
        .split(['/', ' '])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .map(|c| c.to_ascii_lowercase())
}

/// The client family of a user agent (`curl/8.5` → `curl`); `unknown`
/// when none.
pub fn client_family(agent: &str) -> String {
    let name: String = family_chars(agent).collect();
    if name.is_empty() {
        "unknown".into()
    } else {
        name
    }
}

/// The most networks and client families remembered per token.
pub const SIGHTINGS_MAX: i64 = 100;

/// Places waiting to be checked at most (past it, a new place is checked
/// on a later use).
pub(super) const SIGHTING_QUEUE: usize = 10_000;

/// A use from a place this process had not seen for the token.
pub(super) struct Sighting {
    user: i64,
    token: i64,
    key: (i64, u128, u64),
    network: String,
    family: String,
    client: Client,
}

/// Notes a successful use: from a network or client family this process has
/// not seen for the token, queues a check against the store, which records
/// a `token.new_network` event when it is new for the token (not for its
/// first use). A known place costs one cache lookup and no allocation; the
/// place of the answer's last use, not even that.
pub fn sighted(core: &Core, v: &Verified, client: &Client) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in family_chars(&client.agent) {
        c.hash(&mut h);
    }
    let key = (v.token_id, network_key(client.ip), h.finish());
    // the same place as this answer's last use: nothing to look up (never
    // 0, the number an answer starts with)
    let place = (key.1 as u64 ^ (key.1 >> 64) as u64).rotate_left(17) ^ key.2 | 1;
    if v.last_place.get() == place {
        return;
    }
    let cache = &core.lifecycle.sightings;
    if !cache.contains_key(&key) {
        cache.insert(key, ());
        let sighting = Sighting {
            user: v.user_id,
            token: v.token_id,
            key,
            network: network_of(client.ip).1,
            family: client_family(&client.agent),
            client: client.clone(),
        };
        if core.lifecycle.sighting_queue.try_send(sighting).is_err() {
            // full: forget it, so a later use queues it again
            cache.invalidate(&key);
            return;
        }
    }
    v.last_place.set(place);
}

/// The one task that checks queued places, one at a time (one pool
/// connection at most).
pub(super) fn spawn_sighting_writer(db: Db, mut queue: tokio::sync::mpsc::Receiver<Sighting>) {
    tokio::spawn(async move {
        while let Some(s) = queue.recv().await {
            if let Err(e) = record_sighting(&db, &s).await {
                tracing::warn!(error = %e, token = s.token, key = ?s.key, "could not record where a token was used from");
            }
        }
    });
}

pub(super) async fn record_sighting(db: &Db, s: &Sighting) -> Result<(), sqlx::Error> {
    let at = now();
    let mut new = Vec::new();
    for (kind, value) in [
        ("network", s.network.as_str()),
        ("client", s.family.as_str()),
    ] {
        // one statement for a known place; a second only for a new one
        let inserted = on_db!(db, pool => sqlx::query(
            sql::INSERT_SIGHTING,
        )
        .bind(s.token)
        .bind(kind)
        .bind(value)
        .bind(at)
        .bind(SIGHTINGS_MAX)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if inserted == 0 {
            continue;
        }
        let (known,): (i64,) = on_db!(db, pool => sqlx::query_as(
            sql::SIGHTINGS_OF_KIND,
        )
        .bind(s.token)
        .bind(kind)
        .fetch_one(pool)
        .await)?;
        if known > 1 {
            new.push(kind);
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    let (user, token) = (s.user, s.token);
    let event = Event::new(
        "token.new_network",
        Some(user),
        Some(token),
        By::Token { user, token },
        Some(&s.client),
    )
    .with(json!({"network": s.network, "client": s.family, "new": new}));
    audit::record(db, &event).await
}
