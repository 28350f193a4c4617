//! Layers and Loops HTTP surface: the wire types shared by the client and `layers-sandbox`, the
//! typed clients, and the errors they return.

pub mod client;
pub mod clock;
pub mod envelope;
pub mod error;
pub mod http;
pub mod loops;
pub mod retry;
pub mod types;

pub use client::{ContentFilter, LayersClient, DEFAULT_API_BASE};
pub use error::{ApiError, NetworkKind, Service};
pub use http::{IdempotencyKey, ServerJson};
pub use loops::{LoopsClient, DEFAULT_LOOPS_BASE};
pub use retry::{RetryPolicy, Retryable};
