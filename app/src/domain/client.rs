//! Where a request comes from: what sessions, token uses and the audit log
//! record of it.

use std::net::IpAddr;

/// Where a request comes from.
#[derive(Clone, Debug)]
pub struct Client {
    /// The client address Tessera trusts (see `--trusted-proxies`).
    pub ip: IpAddr,
    /// The `User-Agent` header, as sent (cut to a bounded length on write).
    pub agent: String,
    /// The request's id (`X-Request-Id`), for the audit log.
    pub request_id: String,
}
