//! Typed events from the runner, on a broadcast channel: the CLI prints them, the app forwards
//! them to the window. Progress is throttled at the source (≤ ~10 per second per file).

use serde::Serialize;

use super::state::PostState;
use super::store::PostError;

/// Something a front end may want to show.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum QueueEvent {
    /// A post moved to a new state.
    #[serde(rename_all = "camelCase")]
    PostState {
        post_id: i64,
        batch_id: String,
        state: PostState,
        error: Option<PostError>,
        next_attempt_at: Option<i64>,
        /// A sentence for people: "retrying, attempt 3, next in 8 s", "already uploaded as …".
        note: Option<String>,
    },
    /// Bytes of one file's PUT.
    #[serde(rename_all = "camelCase")]
    Progress {
        post_id: i64,
        file: String,
        bytes_sent: u64,
        total_bytes: u64,
        rate_bps: f64,
        eta_ms: Option<u64>,
    },
    /// Every post of a batch reached a state that needs the user (or nothing more).
    #[serde(rename_all = "camelCase")]
    BatchFinished {
        batch_id: String,
        completed: usize,
        skipped: usize,
        failed: usize,
        blocked: usize,
        cancelled: usize,
    },
}

/// How many events the channel holds before a slow reader starts losing old progress.
pub const EVENT_CAPACITY: usize = 1024;
