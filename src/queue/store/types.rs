//! The rows the queue store reads and writes, as plain types.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::super::state::PostState;
use crate::api::types::Grouping;

/// One file of a post as it is enqueued (already inspected and accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub path: PathBuf,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub mtime_ns: Option<i64>,
    pub sha256: String,
}

/// One post as it is enqueued; `rejected` makes it `failed` from the start (a local hard error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    pub caption: String,
    pub files: Vec<NewFile>,
    pub rejected: Option<(String, String)>,
}

/// A batch as the user submitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    pub project_id: String,
    pub destination: String,
    pub grouping: Grouping,
    pub force: bool,
    pub posts: Vec<NewPost>,
}

/// A stored file of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFile {
    pub position: i64,
    pub path: PathBuf,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub mtime_ns: Option<i64>,
    pub sha256: String,
    pub upload_url: Option<String>,
    pub r2_key: Option<String>,
    pub expires_at: Option<i64>,
    /// Headers the reserve answer said to send on the PUT, verbatim (media library).
    pub put_headers: Option<BTreeMap<String, String>>,
    pub put_confirmed: bool,
}

/// The last error a post met, as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// A stored post with its files.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPost {
    pub id: i64,
    pub batch_id: String,
    pub position: i64,
    pub state: PostState,
    pub resume_state: Option<PostState>,
    pub caption: String,
    pub session_id: Option<i64>,
    pub session_index: Option<i64>,
    pub container_id: Option<String>,
    pub finalize_key: Option<String>,
    pub content_json: Option<String>,
    pub dedupe_key: Option<String>,
    pub error: Option<PostError>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub updated_at: i64,
    pub project_id: String,
    pub destination: String,
    pub grouping: Grouping,
    pub force: bool,
    pub files: Vec<StoredFile>,
    /// The media URLs of a URL-fetch post (it has no local files); empty otherwise.
    pub source_urls: Vec<String>,
    /// On a shared queue, the machine that holds (or last worked) the post; `None` on the
    /// local one, where it is always this machine.
    pub machine: Option<String>,
}

/// One content item a create-session answer reserved, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedUpload {
    pub container_id: String,
    pub files: Vec<ReservedFile>,
}

/// One presigned PUT of a reserved item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedFile {
    pub upload_url: String,
    pub r2_key: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// Headers to send on the PUT verbatim, when the reserve answer gave them.
    pub headers: Option<BTreeMap<String, String>>,
}

/// A stored create-session call: the exact body (a replay must send the same bytes) and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub id: i64,
    pub batch_id: String,
    pub idempotency_key: String,
    pub request_json: String,
    pub response_json: Option<String>,
    pub expires_at: Option<i64>,
    pub abandoned: bool,
    /// How many times the reserve call was sent (counted before each send). For a destination
    /// without idempotency, more than one means an orphan may exist.
    pub sends: i64,
}

/// One line of `queue list --json` (design.md: Contract details).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostSummary {
    pub id: i64,
    pub batch_id: String,
    pub state: PostState,
    pub destination: String,
    pub files: Vec<String>,
    pub container_id: Option<String>,
    pub error: Option<PostError>,
    pub next_attempt_at: Option<i64>,
    pub updated_at: i64,
    /// The service the post was enqueued for (`''` for posts from before that was recorded).
    pub backend: String,
    /// The machine that holds the post now (a live claim) or worked it last; `None` before
    /// any runner took it.
    pub machine: Option<String>,
    /// Whether `machine` holds a live claim on it right now.
    pub held: bool,
    /// The machine the post was queued on (`''` before machines were recorded).
    pub origin: String,
}

/// Extra columns a transition sets along with the state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// `Some(None)` clears the error.
    pub error: Option<Option<PostError>>,
    pub next_attempt_at: Option<Option<i64>>,
    pub count_attempt: bool,
    pub reset_attempts: bool,
}
