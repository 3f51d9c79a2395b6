//! Tessera's integration tests, one binary (one link): each module drives
//! the real router, the real binary, nginx or git against a fresh SQLite
//! file and a fresh Postgres database.

#[macro_use]
mod support;

mod accounts;
mod api;
mod assets;
mod binary;
mod cross_user;
mod gateway_nginx;
mod governance;
mod hardening;
mod hostile;
mod leaks;
mod least_privilege;
mod lifecycle;
mod metrics;
mod one_path;
mod orgs;
mod rotation;
mod scim;
mod service_accounts;
mod sessions;
mod sso;
mod tokens;
mod two_factor;
mod workloads;
