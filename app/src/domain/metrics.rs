//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route
//! and status with latency histograms, verifications by outcome and the
//! verification cache, the change feed's lag and reconnects, the
//! password-hashing queue and the database pool.
//!
//! Recording is always on and cheap (atomic counters; a label set is looked
//! up under a read lock); the endpoint is never public: it is served on
//! `--metrics-addr` only, or on the main address to an administrator's token
//! with `metrics:read`. One registry per [`super::Core`], so two instances in
//! one process (the tests) count separately.

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::{Registry, Unit},
};
use std::{
    collections::HashMap,
    sync::{atomic::AtomicI64, RwLock},
    time::Duration,
};

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Routes named at most (a route is a path pattern such as
/// `/api/v1/tokens/{id}`, never a raw path, so the set is small; past this
/// every further one counts as `other`).
const MAX_ROUTES: usize = 256;

/// The route label of a request no route matched (every unknown path
/// counts here: clients cannot create label values).
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    replica: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~4 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

fn lag_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Gauges read when the metrics are rendered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels {
    /// Password hashes running or waiting.
    pub hash_queue: i64,
    /// Connections the pool holds, and how many are idle.
    pub pool_size: i64,
    /// Idle connections.
    pub pool_idle: i64,
    /// The pool's maximum size.
    pub pool_max: i64,
    /// Cached verification answers.
    pub cache_entries: i64,
    /// 1 when cached answers are trusted (the change feed is healthy).
    pub feed_up: i64,
}

/// The metrics of one instance.
pub struct Metrics {
    registry: Registry,
    routes: RwLock<HashMap<Box<str>, &'static str>>,
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<RouteLabels>,
    verifications: Family<OutcomeLabels, Counter>,
    /// `verifications`' `ok` counter, resolved once: the warm path counts
    /// it on every request, and a family lookup takes a lock and a hash.
    verified_ok: Counter,
    /// Verifications answered from the cache.
    pub cache_hits: Counter,
    /// Verifications that read the database.
    pub cache_misses: Counter,
    feed_lag: Histogram,
    feed_reconnects: Counter,
    hash_queue: Gauge,
    pool: Family<PoolLabels, Gauge<i64, AtomicI64>>,
    pool_max: Gauge,
    cache_entries: Gauge,
    feed_up: Gauge,
    lookups: Family<StoreLabels, Counter>,
    replica_up: Family<ReplicaLabels, Gauge>,
    replica_lag: Histograms<ReplicaLabels>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let latency: Histograms<RouteLabels> =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route pattern",
            Unit::Seconds,
            latency.clone(),
        );
        let verifications = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_verifications",
            "Presented tokens by outcome: ok, invalid, expired, revoked, disabled, rotated, \
             error; a valid token refused also counts as blocked, insufficient_scope, \
             ip_not_allowed or resource_not_allowed",
            verifications.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "token_cache_hits",
            "Verifications answered from the in-process cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "token_cache_misses",
            "Verifications that read the database",
            cache_misses.clone(),
        );
        let feed_lag = lag_histogram();
        registry.register_with_unit(
            "change_feed_lag",
            "From a token change in the database to this instance applying it",
            Unit::Seconds,
            feed_lag.clone(),
        );
        let feed_reconnects = Counter::default();
        registry.register(
            "change_feed_reconnects",
            "Times the change feed was lost (cached answers distrusted until it is back)",
            feed_reconnects.clone(),
        );
        let feed_up = Gauge::default();
        registry.register(
            "change_feed_up",
            "1 while the change feed is healthy and cached answers are trusted",
            feed_up.clone(),
        );
        let hash_queue = Gauge::default();
        registry.register(
            "password_hash_queue_depth",
            "Password hashes running or waiting",
            hash_queue.clone(),
        );
        let pool = Family::<PoolLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections by state (idle, in_use)",
            pool.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The database pool's maximum size",
            pool_max.clone(),
        );
        let cache_entries = Gauge::default();
        registry.register(
            "token_cache_entries",
            "Verification answers cached",
            cache_entries.clone(),
        );
        let lookups = Family::<StoreLabels, Counter>::default();
        registry.register(
            "token_lookups",
            "Verification lookups by where they were read: primary or replica",
            lookups.clone(),
        );
        let replica_up = Family::<ReplicaLabels, Gauge>::default();
        registry.register(
            "replica_up",
            "1 while a --database-replica-url answers as a standby (used while within --replica-max-lag-ms)",
            replica_up.clone(),
        );
        let replica_lag: Histograms<ReplicaLabels> =
            Family::new_with_constructor(lag_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "replica_lag",
            "How far behind the primary each replica's replay is, read every 100 ms",
            Unit::Seconds,
            replica_lag.clone(),
        );
        let verified_ok = verifications
            .get_or_create(&OutcomeLabels { outcome: "ok" })
            .clone();
        Self {
            lookups,
            replica_up,
            replica_lag,
            registry,
            routes: RwLock::default(),
            requests,
            latency,
            verified_ok,
            verifications,
            cache_hits,
            cache_misses,
            feed_lag,
            feed_reconnects,
            hash_queue,
            pool,
            pool_max,
            cache_entries,
            feed_up,
        }
    }

    /// The label of a route pattern (interned: the set of patterns is the
    /// router's, so it is small and fixed; beyond [`MAX_ROUTES`], `other`).
    fn route(&self, pattern: Option<&str>) -> &'static str {
        let Some(pattern) = pattern else {
            return UNMATCHED;
        };
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pattern)
        {
            return r;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = routes.get(pattern) {
            return r;
        }
        if routes.len() >= MAX_ROUTES {
            return "other";
        }
        let interned: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
        routes.insert(pattern.into(), interned);
        interned
    }

    /// Counts a request answered for the route `pattern` (`None`: no route
    /// matched) with `status` after `elapsed`.
    pub fn request(
        &self,
        pattern: Option<&str>,
        method: &http::Method,
        status: u16,
        elapsed: Duration,
    ) {
        let route = self.route(pattern);
        let method = match *method {
            http::Method::GET => "GET",
            http::Method::HEAD => "HEAD",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::PATCH => "PATCH",
            http::Method::DELETE => "DELETE",
            http::Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a verification's (or a refusal's) outcome.
    pub fn verification(&self, outcome: &'static str) {
        if outcome == "ok" {
            self.verified_ok.inc();
            return;
        }
        self.verifications
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Records that a change made `lag` ago was just applied.
    pub fn feed_change(&self, lag: Duration) {
        self.feed_lag.observe(lag.as_secs_f64());
    }

    /// The counter of verification lookups read from `store` (`primary`,
    /// `replica`).
    pub fn lookups(&self, store: &'static str) -> Counter {
        self.lookups.get_or_create(&StoreLabels { store }).clone()
    }

    /// Records a replica's state: whether it answered, and its lag.
    pub fn replica(&self, name: &str, up: bool, lag: Option<Duration>) {
        let labels = ReplicaLabels {
            replica: name.to_owned(),
        };
        self.replica_up.get_or_create(&labels).set(i64::from(up));
        if let Some(lag) = lag {
            self.replica_lag
                .get_or_create(&labels)
                .observe(lag.as_secs_f64());
        }
    }

    /// Counts a lost change feed.
    pub fn feed_lost(&self) {
        self.feed_reconnects.inc();
    }

    /// The metrics as OpenMetrics text, with the gauges set to `levels`.
    pub fn render(&self, levels: Levels) -> String {
        self.hash_queue.set(levels.hash_queue);
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(levels.pool_idle);
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set((levels.pool_size - levels.pool_idle).max(0));
        self.pool_max.set(levels.pool_max);
        self.cache_entries.set(levels.cache_entries);
        self.feed_up.set(levels.feed_up);
        let mut out = String::new();
        // writing to a String cannot fail
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_routes_outcomes_and_levels() {
        let m = Metrics::new();
        m.request(
            Some("/api/v1/tokens/{id}"),
            &http::Method::GET,
            200,
            Duration::from_millis(3),
        );
        m.request(
            None,
            &http::Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::ZERO,
        );
        m.verification("revoked");
        m.verification("revoked");
        m.cache_hits.inc();
        m.feed_change(Duration::from_millis(20));
        let text = m.render(Levels {
            hash_queue: 3,
            pool_size: 5,
            pool_idle: 2,
            pool_max: 10,
            cache_entries: 7,
            feed_up: 1,
        });
        for line in [
            r#"tessera_http_requests_total{route="/api/v1/tokens/{id}",method="GET",status="200"} 1"#,
            r#"tessera_http_requests_total{route="unmatched",method="other",status="404"} 1"#,
            r#"tessera_http_request_duration_seconds_count{route="/api/v1/tokens/{id}"} 1"#,
            r#"tessera_token_verifications_total{outcome="revoked"} 2"#,
            "tessera_token_cache_hits_total 1",
            "tessera_change_feed_lag_seconds_count 1",
            "tessera_password_hash_queue_depth 3",
            r#"tessera_db_pool_connections{state="in_use"} 3"#,
            "tessera_token_cache_entries 7",
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn route_labels_are_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_ROUTES + 10 {
            m.request(
                Some(&format!("/r/{i}")),
                &http::Method::GET,
                200,
                Duration::ZERO,
            );
        }
        assert_eq!(m.routes.read().unwrap().len(), MAX_ROUTES);
        assert!(m.render(Levels::default()).contains(r#"route="other""#));
    }
}
