//! The persistent, resumable upload queue: the post state machine, the SQLite store, and the
//! planner that turns a batch into posts and sessions.

pub mod plan;
pub mod state;
pub mod store;

pub use state::{PostEvent, PostState};
pub use store::{Store, StoreError};
