//! Webhook endpoints: checking their URLs, signing deliveries per the
//! Standard Webhooks scheme (HMAC-SHA256 over `id.timestamp.body`, the
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers), and
//! posting them without following redirects or reaching private networks
//! (unless the operator allows it).

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use reqwest::Url;
use sha2::Sha256;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

/// The longest endpoint URL accepted.
pub const URL_MAX: usize = 2000;
/// The longest description accepted.
pub const DESCRIPTION_MAX: usize = 200;
/// Endpoints one user (or the organization) may have.
pub const MAX_PER_OWNER: i64 = 10;
/// How long one attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A new endpoint's signing secret: `whsec_` and 24 random bytes, base64.
pub fn new_secret() -> String {
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("whsec_{}", BASE64.encode(raw))
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being
/// the secret's base64 part decoded.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// True for addresses on the public internet: not loopback, private,
/// link-local, shared (CGN), multicast, broadcast, unspecified, reserved
/// (240.0.0.0/4), IETF protocol assignments (192.0.0.0/24), benchmarking
/// (198.18.0.0/15), documentation, and no IPv6 form that carries an IPv4
/// address a gateway would translate (NAT64 `64:ff9b::/96` and
/// `64:ff9b:1::/48`, 6to4 `2002::/16`, IPv4-compatible `::/96`), nor
/// Teredo, ORCHID or discard-only prefixes.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                // ::/96, IPv4-compatible (::a.b.c.d)
                || s[..6].iter().all(|x| *x == 0)
                // NAT64, well-known and local-use
                || (s[0] == 0x64 && s[1] == 0xff9b)
                // discard-only 100::/64
                || (s[0] == 0x100 && s[1..4].iter().all(|x| *x == 0))
                // 2001::/23 (Teredo, benchmarking, ORCHID…) and documentation
                || (s[0] == 0x2001 && s[1] < 0x200)
                || (s[0] == 0x2001 && s[1] == 0xdb8)
                // 6to4
                || s[0] == 0x2002)
        }
    }
}

/// Checks an endpoint URL: http(s), a host, no credentials, and (unless
/// `allow_private`) not an address on a private network.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Enter the URL that should receive the events.".into());
    }
    if text.chars().count() > URL_MAX {
        return Err(format!("A URL has at most {URL_MAX} characters."));
    }
    let url = Url::parse(text).map_err(|_| {
        "Enter a full URL such as https://ci.example.com/hooks/tessera.".to_string()
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("The URL must start with https:// (or http://).".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Put no credentials in the URL: the signature tells the receiver the call is Tessera's.".into());
    }
    let host = url.host_str().unwrap_or("");
    if host.is_empty() {
        return Err("The URL needs a host name.".into());
    }
    if !allow_private {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let private = match literal.parse::<IpAddr>() {
            Ok(ip) => !is_public(ip),
            Err(_) => {
                host.eq_ignore_ascii_case("localhost")
                    || host.to_ascii_lowercase().ends_with(".localhost")
            }
        };
        if private {
            return Err(
                "The URL points to a private network; this server only calls public addresses."
                    .into(),
            );
        }
    }
    Ok(url)
}

/// Resolves host names, dropping private addresses unless allowed (so a
/// name that points inside the network is refused at delivery too).
struct Resolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Posts signed deliveries.
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

/// What a receiver answered.
pub struct Answer {
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// Why the attempt failed (`None`: a 2xx).
    pub error: Option<String>,
}

impl Sender {
    /// A sender; `allow_private` lets endpoints on private networks be
    /// called (for a Tessera inside a company network).
    pub fn new(allow_private: bool) -> Sender {
        let client = reqwest::Client::builder()
            // a proxy from the environment would resolve the name itself,
            // past the resolver's filter: webhooks go direct
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Resolver { allow_private }))
            .build()
            .unwrap_or_default();
        Sender {
            client,
            allow_private,
        }
    }

    /// Posts `body` to `url`, signed with `secret` as message `id`.
    pub async fn post(&self, url: &str, secret: &str, id: &str, body: &str) -> Answer {
        let url = match check_url(url, self.allow_private) {
            Ok(u) => u,
            Err(e) => {
                return Answer {
                    status: None,
                    error: Some(e),
                }
            }
        };
        let timestamp = chrono::Utc::now().timestamp();
        let Some(signature) = sign(secret, id, timestamp, body) else {
            return Answer {
                status: None,
                error: Some("the endpoint's secret is unusable".into()),
            };
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => Answer {
                status: Some(res.status().as_u16()),
                error: None,
            },
            Ok(res) => Answer {
                status: Some(res.status().as_u16()),
                error: Some(format!("the endpoint answered {}", res.status())),
            },
            Err(e) => Answer {
                status: None,
                error: Some(error_words(&e)),
            },
        }
    }
}

/// A network error in a sentence, for the owner's delivery log: what kind
/// of failure, never the resolver's or the socket's detail (which would
/// tell a user what the server's network holds).
fn error_words(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the endpoint did not answer in time".to_string()
    } else if e.is_connect() {
        "could not connect to the endpoint".to_string()
    } else {
        "the request failed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_on_private_networks_and_with_credentials_are_refused() {
        for bad in [
            "",
            "ftp://example.com/x",
            "https://user:pw@example.com/",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/",
            "http://[::ffff:127.0.0.1]/",
            "http://192.0.0.8/",
            "http://198.18.0.1/",
            "http://198.19.255.254/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.10/",
            "http://[64:ff9b::a00:1]/",
            "http://[64:ff9b:1::1]/",
            "http://[2002:a00:1::1]/",
            "http://[::10.0.0.1]/",
            "http://[2001:db8::1]/",
            "http://[fec0::1]/",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://ci.example.com/hooks", false).is_ok());
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "198.20.0.1",
            "192.0.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(check_url("http://127.0.0.1:8080/", true).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(URL_MAX)), true).is_err());
    }

    /// A proxy named in the environment is not used: the delivery goes
    /// straight to the endpoint (a proxy would resolve the name itself,
    /// past the private-address filter).
    #[tokio::test]
    async fn no_proxy_from_the_environment() {
        use std::io::{Read as _, Write as _};
        let endpoint = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let (endpoint_addr, proxy_addr) =
            (endpoint.local_addr().unwrap(), proxy.local_addr().unwrap());
        let receiver = std::thread::spawn(move || {
            let (mut c, _) = endpoint.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = c.write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let url = format!("http://{proxy_addr}");
        // the client reads the environment when it is built
        for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(var, &url);
        }
        let sender = Sender::new(true);
        for var in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::remove_var(var);
        }
        let answer = sender
            .post(
                &format!("http://{endpoint_addr}/hook"),
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_1",
                "{}",
            )
            .await;
        assert_eq!(answer.status, Some(204), "{:?}", answer.error);
        assert!(receiver.join().unwrap().starts_with("POST /hook "));
        assert!(proxy.accept().is_err(), "the proxy was asked");
    }

    #[tokio::test]
    async fn a_failed_delivery_says_what_failed_without_network_detail() {
        // nothing listens on this port
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let answer = Sender::new(true)
            .post(
                &format!("http://{addr}/"),
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_1",
                "{}",
            )
            .await;
        assert_eq!(
            answer.error.as_deref(),
            Some("could not connect to the endpoint")
        );
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // the example from the Standard Webhooks specification's test vectors
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert!(sign("nope", "id", 1, body).is_none());
    }
}
