//! Layers Uploader engine: local inspection of finished media, the Layers/Loops API clients,
//! and (in later modules) the persistent upload queue. No GUI code lives here.

pub mod api;
pub mod diagnostics;
pub mod media;
pub mod paths;
pub mod queue;
pub mod secrets;
pub mod transfer;
pub mod watch;
