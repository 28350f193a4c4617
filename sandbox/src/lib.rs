//! `layers-sandbox`: a local HTTP server that honours the documented Layers + Loops API
//! contract (`shared/api-docs/`), for tests, benchmarks and the app's offline mode.
//!
//! One port serves the API (`/v1`), Loops (`/api/v1`), presigned storage (`/storage`, `/media`)
//! and a test surface (`/_sandbox`). Start it in-process with [`Sandbox::start`] or as the
//! `layers-sandbox` binary. Wire types come from `layers_uploader::api::types`, media checks
//! from `layers_uploader::media::inspect`, so client and server cannot drift.

#![warn(missing_docs)]

mod app;
mod auth;
mod clock;
pub mod config;
pub mod error;
mod fetch;
mod guard;
mod idempotency;
mod item;
mod persist;
mod ratelimit;
mod reqlog;
mod routes;
mod server;
mod signing;
mod state;
mod storage;

pub use config::{SandboxConfig, DEFAULT_PROJECT_ID};
pub use error::SandboxError;
pub use server::{Sandbox, SandboxHandle};
