//! Layers and Loops HTTP surface: the wire types shared by the client and `layers-sandbox`, the
//! typed clients, and the errors they return.

pub mod envelope;
pub mod error;
pub mod types;

pub use error::{ApiError, NetworkKind, Service};
