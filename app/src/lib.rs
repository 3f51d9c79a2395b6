//! Tessera's Leptos app: pages and components (compiled for the server and
//! the browser), shared plain-data types, and — with the `ssr` feature — the
//! server-only domain layer (`domain`: the services and the store).

#![recursion_limit = "256"]
#![warn(missing_docs)]

pub mod admin;
pub mod audit;
pub mod model;
pub mod notify;
pub mod orgs;
pub mod scopes;
pub mod tokens;
pub mod ui;
pub mod workloads;

#[cfg(feature = "ssr")]
pub mod domain;

pub use ui::{shell, App};
