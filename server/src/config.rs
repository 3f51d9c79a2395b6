//! Command-line flags, each with an environment-variable fallback.

use app::domain::{db::Db, throttle::ThrottleConfig, CoreConfig};
use clap::{ArgAction, Parser, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use std::{net::IpAddr, net::SocketAddr, time::Duration};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Tessera: a self-hosted service for personal access tokens.
#[derive(Clone, Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "TESSERA_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Also serve `GET /metrics` (Prometheus) without authentication on
    /// this address, e.g. `127.0.0.1:9464`. Off by default; on the main
    /// address `/metrics` needs an administrator's token with `metrics:read`.
    #[arg(long, env = "TESSERA_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// `sqlite://path/to/file.db` or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://data/tessera.db",
        global = true
    )]
    pub database_url: SecretString,

    /// A Postgres streaming replica token checks may read (repeat the flag
    /// for several; the environment variable takes a comma-separated
    /// list). Writes and the change feed stay on `--database-url`.
    #[arg(
        long = "database-replica-url",
        env = "TESSERA_DATABASE_REPLICA_URL",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub database_replica_urls: Vec<SecretString>,

    /// Postgres straight to the server, when `--database-url` goes through
    /// a connection pooler in transaction mode (PgBouncer): the change
    /// feed's LISTEN and the migrations use it; statements through the
    /// pooler run without a statement cache, each in a transaction.
    #[arg(
        long,
        env = "TESSERA_DATABASE_LISTEN_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_listen_url: Option<SecretString>,

    /// A replica whose replay is further behind the primary than this many
    /// milliseconds (or whose position cannot be read) is skipped until it
    /// catches up.
    #[arg(long, env = "TESSERA_REPLICA_MAX_LAG_MS", default_value_t = 1000)]
    pub replica_max_lag_ms: u64,

    /// The URL users reach Tessera at (defaults to http://ADDR). An https URL
    /// makes session cookies `Secure` and turns on HSTS.
    #[arg(long, env = "TESSERA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Whether visitors may create accounts.
    #[arg(long, env = "TESSERA_SIGNUP", default_value_t = true, action = ArgAction::Set)]
    pub signup: bool,

    /// Reverse proxies (comma-separated addresses or CIDR ranges, e.g.
    /// `127.0.0.1,10.0.0.0/8`) whose X-Forwarded-For is trusted.
    #[arg(long, env = "TESSERA_TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy_range)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Directory with the built site (`pkg/` with WASM, JS and CSS).
    #[arg(long, env = "TESSERA_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// Log format.
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Failed sign-ins allowed per account within the throttle window.
    #[arg(
        long,
        env = "TESSERA_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 5
    )]
    pub login_max_failures_per_account: u32,

    /// Failed sign-ins allowed per client IP within the throttle window.
    #[arg(long, env = "TESSERA_LOGIN_MAX_FAILURES_PER_IP", default_value_t = 20)]
    pub login_max_failures_per_ip: u32,

    /// Length of the sign-in throttle window, in seconds.
    #[arg(long, env = "TESSERA_LOGIN_WINDOW_SECS", default_value_t = 900)]
    pub login_window_secs: u64,

    /// Accounts one client address may create per hour.
    #[arg(long, env = "TESSERA_SIGNUP_MAX_PER_IP", default_value_t = 10)]
    pub signup_max_per_ip: u32,

    /// The longest lifetime a personal access token may be given, in days.
    #[arg(long, env = "TESSERA_MAX_TOKEN_DAYS", default_value_t = 365)]
    pub max_token_days: u32,

    /// Seconds a positive token verification is cached in-process (0: off).
    /// Revocations and edits evict it at once (with Postgres, on every
    /// instance within a second).
    #[arg(long, env = "TESSERA_VERIFY_CACHE_SECS", default_value_t = 30)]
    pub verify_cache_secs: u64,

    /// `CLIENT_ID:CLIENT_SECRET` of the gateway allowed to call
    /// `POST /oauth/introspect` (RFC 7662). Unset: introspection is off.
    #[arg(long, env = "TESSERA_INTROSPECTION_CLIENT", hide_env_values = true)]
    pub introspection_client: Option<SecretString>,

    /// Password hashes computed at once (defaults to one less than the number
    /// of CPUs, at least 1, so a sign-in flood always leaves a core for
    /// everything else).
    #[arg(long, env = "TESSERA_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Password hashes allowed to wait for a hashing thread; when they are
    /// all taken, a sign-in or sign-up is answered 503 with `Retry-After`
    /// at once instead of queueing for minutes.
    #[arg(long, env = "TESSERA_HASH_QUEUE", default_value_t = 32)]
    pub hash_queue: usize,

    /// A browser session with no request for this many hours ends (sessions
    /// also end 30 days after sign-in, whatever their use).
    #[arg(long, env = "TESSERA_SESSION_IDLE_HOURS", default_value_t = 168)]
    pub session_idle_hours: u64,

    /// Minutes an entered password lets a browser create full-access
    /// tokens, revoke all tokens or sign other sessions out without asking
    /// again (sudo mode); 0 asks every time.
    #[arg(long, env = "TESSERA_SUDO_MINUTES", default_value_t = app::domain::sessions::SUDO_MINUTES)]
    pub sudo_minutes: u64,

    /// Days audit events are kept; older ones are deleted by an hourly job
    /// that runs on one instance at a time.
    #[arg(long, env = "TESSERA_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u64,

    /// SMTP server for notices, e.g. `smtp://127.0.0.1:25`,
    /// `smtp://host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host` (implicit TLS). Unset: no mail is sent.
    #[arg(long, env = "TESSERA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// The sender address of notices.
    #[arg(long, env = "TESSERA_MAIL_FROM", default_value = "tessera@localhost")]
    pub mail_from: String,

    /// Days before a token expires at which its owner is told (each once).
    #[arg(
        long,
        env = "TESSERA_EXPIRY_NOTICE_DAYS",
        value_delimiter = ',',
        default_value = "30,7,1"
    )]
    pub expiry_notice_days: Vec<u32>,

    /// Seconds between looks for expiry notices (one instance looks).
    #[arg(long, env = "TESSERA_NOTICE_INTERVAL_SECS", default_value_t = 300)]
    pub notice_interval_secs: u64,

    /// Let webhook endpoints be on private networks (loopback, 10/8,
    /// 192.168/16, …); off, they must be public addresses.
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = ArgAction::Set)]
    pub webhook_allow_private_networks: bool,

    /// A JSON file with the public keys of secret-scanning partners
    /// (GitHub's format: `{"public_keys": [{"key_identifier": …, "key":
    /// "-----BEGIN PUBLIC KEY-----…"}]}`); enables
    /// `POST /api/v1/secret-scanning/report`.
    #[arg(long, env = "TESSERA_SECRET_SCANNING_KEYS")]
    pub secret_scanning_keys: Option<std::path::PathBuf>,

    /// Trust rules may name `http://` issuers (a local test issuer; never
    /// in production: the keys that sign CI jobs' ID tokens would travel
    /// unprotected).
    #[arg(long, env = "TESSERA_WORKLOAD_ALLOW_INSECURE_ISSUERS", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub workload_allow_insecure_issuers: bool,

    /// Single sign-on: the OpenID Provider's issuer URL (Keycloak
    /// `https://id.example.com/realms/acme`, Entra
    /// `https://login.microsoftonline.com/TENANT/v2.0`, Okta
    /// `https://acme.okta.com`). Its discovery document is read at start-up.
    #[arg(long, env = "TESSERA_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// Tessera's client id at the provider (redirect URI to register:
    /// PUBLIC_URL/auth/oidc/callback).
    #[arg(long, env = "TESSERA_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// Tessera's client secret at the provider.
    #[arg(long, env = "TESSERA_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretString>,

    /// A file holding the client secret (instead of --oidc-client-secret).
    #[arg(long, env = "TESSERA_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<std::path::PathBuf>,

    /// The sign-in button's words.
    #[arg(
        long,
        env = "TESSERA_OIDC_LABEL",
        default_value = "Sign in with single sign-on"
    )]
    pub oidc_label: String,

    /// The ID token claim a new account's username comes from (then
    /// `email`; the part before `@` of an address).
    #[arg(
        long,
        env = "TESSERA_OIDC_USERNAME_CLAIM",
        default_value = "preferred_username"
    )]
    pub oidc_username_claim: String,

    /// Members of this `groups` claim value are administrators (decided at
    /// each sign-in); unset, the provider decides nothing about it.
    #[arg(long, env = "TESSERA_OIDC_ADMIN_GROUP")]
    pub oidc_admin_group: Option<String>,

    /// A file holding the server's 256-bit key (64 hex digits or base64),
    /// which seals authenticator app keys. Without it, a key is made at
    /// first use and kept in the database: give one so that a copy of the
    /// database alone does not carry what opens them. Every instance needs
    /// the same file.
    #[arg(long, env = "TESSERA_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,

    /// Without a command, `tessera` serves; `tessera admin …` administers.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `tessera` does besides serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Administer the organization on the configured store (works while
    /// the server runs; changes reach every instance within a second).
    Admin(crate::admin_cli::AdminArgs),
}

/// The shortest introspection client secret accepted.
pub const INTROSPECTION_SECRET_MIN: usize = 16;

impl Config {
    /// Refuses settings that cannot work or would be unsafe, with a sentence
    /// saying which and why (checked at start-up).
    pub fn validate(&self) -> Result<(), String> {
        if self.metrics_addr == Some(self.addr) {
            return Err(format!(
                "--metrics-addr must differ from the main address ({}): the metrics are served there without authentication",
                self.addr
            ));
        }
        if let Some(client) = &self.introspection_client {
            let client = client.expose_secret();
            let (id, secret) = client.split_once(':').unwrap_or((client, ""));
            if id.trim().is_empty() || secret.chars().count() < INTROSPECTION_SECRET_MIN {
                return Err(format!(
                    "--introspection-client must be CLIENT_ID:CLIENT_SECRET with a secret of at least {INTROSPECTION_SECRET_MIN} characters"
                ));
            }
        }
        let database_url = self.database_url.expose_secret();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres:")
            || database_url.starts_with("postgresql:"))
        {
            return Err("--database-url must start with sqlite:, postgres: or postgresql:".into());
        }
        if let Some(listen) = &self.database_listen_url {
            let listen = listen.expose_secret();
            if database_url.starts_with("sqlite:") {
                return Err("--database-listen-url needs a Postgres --database-url".into());
            }
            if !(listen.starts_with("postgres:") || listen.starts_with("postgresql:")) {
                return Err(
                    "--database-listen-url must start with postgres: or postgresql:".into(),
                );
            }
        }
        if !self.database_replica_urls.is_empty() && database_url.starts_with("sqlite:") {
            return Err("--database-replica-url needs a Postgres --database-url".into());
        }
        for (i, url) in self.database_replica_urls.iter().enumerate() {
            app::domain::replicas::Replicas::options(i, url)?;
        }
        if !(10..=600_000).contains(&self.replica_max_lag_ms) {
            return Err("--replica-max-lag-ms must be between 10 and 600000".into());
        }
        if let Some(url) = &self.smtp_url {
            app::domain::mail::Mailer::new(url.expose_secret(), &self.mail_from)?;
        }
        if let Some(path) = &self.secret_scanning_keys {
            app::domain::scanning::ScanningKeys::load(path)?;
        }
        self.secret_key()?;
        // `tessera admin` needs none of it (link-identity takes --issuer)
        if self.command.is_none() {
            self.sso()?;
        }
        if self
            .expiry_notice_days
            .iter()
            .any(|d| !(1..=365).contains(d))
        {
            return Err("--expiry-notice-days must be days between 1 and 365, e.g. 30,7,1".into());
        }
        Ok(())
    }

    /// Opens the store: `--database-url`, with `--database-listen-url`
    /// straight to Postgres when the first goes through a pooler.
    pub async fn open_database(&self) -> Result<Db, app::domain::db::ConnectError> {
        Db::open(
            self.database_url.expose_secret(),
            self.database_listen_url.as_ref().map(|u| u.expose_secret()),
        )
        .await
    }

    /// The operator's key from `--secret-key-file`; a sentence when the
    /// file cannot be read or holds no key.
    pub fn secret_key(&self) -> Result<Option<app::domain::two_factor::SecretKey>, String> {
        let Some(path) = &self.secret_key_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--secret-key-file {}: {e}", path.display()))?;
        app::domain::two_factor::SecretKey::parse(&text)
            .map(Some)
            .map_err(|e| format!("--secret-key-file {}: {e}", path.display()))
    }

    /// The single sign-on settings, when `--oidc-issuer` is given; a
    /// sentence when they are incomplete or unsafe.
    pub fn sso(&self) -> Result<Option<app::domain::sso::SsoConfig>, String> {
        let Some(issuer) = self
            .oidc_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
        else {
            return Ok(None);
        };
        if let Some(p) = app::domain::sso::Sso::issuer_problem(issuer) {
            return Err(format!("--oidc-issuer: {p}"));
        }
        let client_id = self
            .oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or("--oidc-issuer needs --oidc-client-id")?;
        let secret = match (&self.oidc_client_secret, &self.oidc_client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "give --oidc-client-secret or --oidc-client-secret-file, not both".into(),
                )
            }
            (Some(s), None) => s.expose_secret().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("--oidc-client-secret-file {}: {e}", path.display()))?
                .trim()
                .to_owned(),
            (None, None) => {
                return Err(
                    "--oidc-issuer needs --oidc-client-secret or --oidc-client-secret-file".into(),
                )
            }
        };
        if secret.is_empty() {
            return Err("the OIDC client secret is empty".into());
        }
        let label = self.oidc_label.trim();
        if label.is_empty() || label.chars().count() > 60 {
            return Err("--oidc-label must be 1 to 60 characters".into());
        }
        Ok(Some(app::domain::sso::SsoConfig {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: secret.into(),
            label: label.to_owned(),
            username_claim: self.oidc_username_claim.trim().to_owned(),
            admin_group: self
                .oidc_admin_group
                .as_deref()
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_owned),
        }))
    }

    /// The URL users reach Tessera at, without a trailing `/`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.addr),
        }
    }

    /// The settings the services need.
    pub fn core(&self) -> CoreConfig {
        CoreConfig {
            public_url: self.public_url(),
            signup_enabled: self.signup,
            trusted_proxies: self.trusted_proxies.clone(),
            throttle: ThrottleConfig {
                window: Duration::from_secs(self.login_window_secs.max(1)),
                max_failures_per_account: self.login_max_failures_per_account.max(1),
                max_failures_per_ip: self.login_max_failures_per_ip.max(1),
                max_signups_per_ip: self.signup_max_per_ip.max(1),
            },
            max_token_days: self.max_token_days.clamp(1, 3650),
            verify_cache_ttl: Duration::from_secs(self.verify_cache_secs),
            introspection_client: self.introspection_client.clone(),
            hash_concurrency: self.hash_concurrency.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get().saturating_sub(1).max(1))
                    .unwrap_or(1)
            }),
            hash_queue: self.hash_queue,
            session_idle: Duration::from_secs(self.session_idle_hours.clamp(1, 24 * 30) * 3600),
            sudo_window: Duration::from_secs(self.sudo_minutes.min(24 * 60) * 60),
            audit_retention: Duration::from_secs(
                self.audit_retention_days.clamp(1, 36_500) * 24 * 3600,
            ),
            lifecycle: app::domain::lifecycle::LifecycleConfig {
                smtp_url: self.smtp_url.clone(),
                mail_from: self.mail_from.clone(),
                expiry_notice_days: self.expiry_notice_days.clone(),
                notice_every: Duration::from_secs(self.notice_interval_secs.max(1)),
                allow_private_webhooks: self.webhook_allow_private_networks,
                secret_scanning_keys: self.secret_scanning_keys.clone(),
                ..Default::default()
            },
            workload: app::domain::workloads::WorkloadConfig {
                allow_insecure_issuers: self.workload_allow_insecure_issuers,
                ..Default::default()
            },
            // validate() has refused settings that do not parse
            sso: self.sso().ok().flatten(),
            secret_key: self.secret_key().ok().flatten(),
            replicas: self.database_replica_urls.clone(),
            replica_max_lag: Duration::from_millis(self.replica_max_lag_ms),
        }
    }
}

/// One `--trusted-proxies` entry: an address (`127.0.0.1`, `::1`) or a CIDR
/// range (`10.0.0.0/8`; host bits are cleared). An IPv4 address written in
/// IPv6 form (`::ffff:10.0.0.1`) is that IPv4 address.
fn proxy_range(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| {
            text.parse::<IpAddr>()
                .map(|ip| ipnet::IpNet::from(app::tokens::reach::plain(ip)))
        })
        .map_err(|_| format!("\"{text}\" is not an IP address or CIDR range (e.g. 10.0.0.0/8)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("tessera").chain(args.iter().copied()))
    }

    #[test]
    fn an_introspection_client_needs_an_id_and_a_real_secret() {
        assert!(parse(&[]).validate().is_ok());
        for bad in ["gateway", "gateway:", ":0123456789abcdef", "gateway:short"] {
            let c = parse(&["--introspection-client", bad]);
            assert!(c.validate().unwrap_err().contains("at least 16"), "{bad}");
        }
        let ok = parse(&["--introspection-client", "gateway:0123456789abcdef"]);
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn secrets_in_the_settings_are_never_printed() {
        let c = parse(&[
            "--introspection-client",
            "gateway:s3cret-introspection-key",
            "--smtp-url",
            "smtps://mailer:s3cret-mail-password@mail.example",
            "--database-url",
            "postgres://tessera:s3cret-db-password@db/tessera",
        ]);
        for printed in [format!("{c:?}"), format!("{:?}", c.core())] {
            assert!(!printed.contains("s3cret"), "{printed}");
            assert!(printed.contains("REDACTED"), "{printed}");
        }
        let core = c.core();
        let url = core.lifecycle.smtp_url.as_ref().map(|u| u.expose_secret());
        assert_eq!(
            url,
            Some("smtps://mailer:s3cret-mail-password@mail.example")
        );
    }

    #[test]
    fn a_trusted_proxy_is_an_address_or_a_range() {
        let net = |t: &str| proxy_range(t).map(|n| n.to_string());
        assert_eq!(
            net("10.1.2.3/8").as_deref(),
            Ok("10.0.0.0/8"),
            "host bits dropped"
        );
        assert_eq!(net(" 192.0.2.7 ").as_deref(), Ok("192.0.2.7/32"));
        assert_eq!(
            net("::ffff:192.0.2.7").as_deref(),
            Ok("192.0.2.7/32"),
            "mapped IPv4"
        );
        assert_eq!(net("2001:db8::1/32").as_deref(), Ok("2001:db8::/32"));
        for bad in [
            "",
            "example.com",
            "10.0.0.0/33",
            "\u{ff11}0.0.0.1",
            "10.0.0.0/8/8",
        ] {
            let e = proxy_range(bad).unwrap_err();
            assert!(
                e.contains("is not an IP address or CIDR range"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_database_url_names_a_known_store() {
        assert!(parse(&["--database-url", "mysql://x"]).validate().is_err());
        assert!(parse(&["--database-url", "postgres://u@h/db"])
            .validate()
            .is_ok());
    }

    #[test]
    fn replicas_need_postgres_and_readable_urls() {
        let primary = ["--database-url", "postgres://u@h/db"];
        let with = |extra: &[&str]| {
            let mut args = primary.to_vec();
            args.extend_from_slice(extra);
            parse(&args).validate()
        };
        assert!(with(&[
            "--database-replica-url",
            "postgres://u@r1/db",
            "--database-replica-url",
            "postgres://u@r2:5433/db"
        ])
        .is_ok());
        let err = with(&["--database-replica-url", "mysql://u:hunter2@r/db"]).unwrap_err();
        assert!(err.contains("#1") && !err.contains("hunter2"), "{err}");
        assert!(with(&["--replica-max-lag-ms", "0"]).is_err());
        let sqlite = parse(&["--database-replica-url", "postgres://u@r/db"]).validate();
        assert!(sqlite.unwrap_err().contains("Postgres --database-url"));
    }

    #[test]
    fn hostile_replica_urls_are_refused_without_their_secrets() {
        let huge = format!("postgres://u:hunter2@{}/db", "r".repeat(1 << 20));
        let hostile = [
            "",
            " ",
            "postgres://u:hunter2@r:99999999/db",
            "postgres://u:hunter2@[::1/db",
            "postgres://u:hunter2@r/db?sslmode=sometimes",
            "postgres://u:hunter2@r/db?statement_cache_capacity=many",
            huge.as_str(),
        ];
        for (i, url) in hostile.iter().enumerate() {
            let args = [
                "--database-url",
                "postgres://u@h/db",
                "--database-replica-url",
                "postgres://u@ok/db",
                "--database-replica-url",
                url,
            ];
            match parse(&args).validate() {
                Ok(()) => assert!(i == 5 || i == 6, "hostile #{i} was taken"),
                Err(e) => {
                    assert!(e.contains("#2"), "#{i}: {e}");
                    assert!(!e.contains("hunter2") && e.len() < 300, "#{i}: {e}");
                }
            }
        }
        // a non-ASCII password and host are read (percent-encoded), never shown
        let mut args = vec!["--database-url", "postgres://u@h/db"];
        args.extend(["--database-replica-url", "postgres://ü:pässwörd@rëplica/db"]);
        assert!(parse(&args).validate().is_ok());
        args.extend(["--database-replica-url", "mysql://ü:pässwörd@rëplica/db"]);
        let err = parse(&args).validate().unwrap_err();
        assert!(err.contains("#2") && !err.contains("pässwörd"), "{err}");
    }
}
