//! The destination names a batch records. They live apart from `dest` (which uses the store)
//! so that the store can read them without depending on `dest`: data flows one way.

/// Batch destination of Layers content by direct upload.
pub const LAYERS_CONTENT: &str = "layers-content";
/// Batch destination of Layers content by URL-fetch.
pub const LAYERS_URL_FETCH: &str = "layers-url-fetch";
/// Batch destination prefix of the Layers media library (`layers-media:logo`, …).
pub const LAYERS_MEDIA_PREFIX: &str = "layers-media:";
/// Batch destination of Loops email assets.
pub const LOOPS: &str = "loops";
/// The `project_id` of Loops batches (Loops has no projects; the ledger needs a scope).
pub const LOOPS_SCOPE: &str = "loops";
