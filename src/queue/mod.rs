//! The persistent, resumable upload queue: the post state machine, the store (SQLite, or a
//! shared PostgreSQL), and the
//! planner that turns a batch into posts and sessions.

pub mod caption;
pub mod dest;
pub mod events;
pub mod failpoint;
pub mod lock;
pub mod names;
pub mod pacer;
pub mod plan;
pub mod runner;
pub mod state;
pub mod store;
pub mod time;

pub use dest::{Clients, Destination, DestinationKind};
pub use events::QueueEvent;
pub use runner::{RunEnd, Runner, RunnerConfig, Scope};
pub use state::{PostEvent, PostState};
pub use store::{Store, StoreError};
