//! Everything the sandbox remembers: containers (sessions and content items), stored objects,
//! media-library uploads, Loops assets, the request log. Held under one `std::sync::Mutex`,
//! never across an `.await`; quota figures are computed from the containers, never cached.
//! Everything but the request log is saved to the data dir (`persist.rs`) and reloaded.

use std::collections::{BTreeMap, HashMap, VecDeque};

use layers_uploader::api::types::{ContentItem, QuotaDetails};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether a container belongs to live keys or to test keys (they never see each other's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    Live,
    Test,
}

/// Lifecycle of a direct-upload container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Session created, quota reserved, waiting for PUTs and finalize.
    Reserved,
    /// Finalized (or created complete by URL-fetch).
    Completed,
    /// Abandoned past `--reap-after`: quota freed, finalize answers 409 CONFLICT.
    Reaped,
    /// Removed through `/_sandbox/delete` (what archiving does): quota freed, GET is 404.
    Deleted,
}

/// One file a session declared, with its presigned PUT.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredObject {
    pub r2_key: String,
    pub filename: String,
    pub content_type: String,
    pub declared_size_bytes: u64,
    pub expires_at: String,
}

/// A content container: a direct-upload session's item, or a URL-fetch item.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub container_id: String,
    pub project_id: String,
    pub env: Env,
    pub key_id: String,
    pub state: ContainerState,
    pub files: Vec<DeclaredObject>,
    /// Declared bytes held against the project quota (0 for test keys).
    pub reserved_bytes: u64,
    /// Whether this container counts against quota (test keys never do).
    pub counts_quota: bool,
    pub created_at_ms: u64,
    pub caption: Option<String>,
    pub item: Option<ContentItem>,
    /// Creation order, for stable list pagination.
    #[serde(default)]
    pub seq: u64,
}

/// One object that landed in storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    pub size_bytes: u64,
    pub sha256: String,
    pub content_type: String,
    pub stored_at_ms: u64,
}

/// A media-library upload: presigned, then (maybe) finalized into an asset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaUpload {
    pub upload_id: String,
    pub project_id: String,
    pub kind: String,
    pub mime_type: String,
    pub declared_size_bytes: Option<u64>,
    pub checksum_sha256: Option<String>,
    pub key: String,
    pub expires_at: String,
    pub asset: Option<Value>,
}

/// A Loops email asset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoopsAsset {
    pub email_asset_id: String,
    /// Short fingerprint of the key that created it (never the key).
    pub key_fingerprint: String,
    pub content_type: String,
    pub content_length: u64,
    pub key: String,
    pub final_url: Option<String>,
}

/// One request as the test surface reports it: no query strings, no key values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub key_id: Option<String>,
    pub auth_header_present: bool,
    pub at_ms: u64,
}

/// Most request records kept (oldest dropped first).
const REQUEST_LOG_CAP: usize = 20_000;

/// The whole mutable world of one sandbox run.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub containers: BTreeMap<String, Container>,
    pub objects: HashMap<String, StoredObject>,
    pub media: BTreeMap<String, MediaUpload>,
    pub loops: BTreeMap<String, LoopsAsset>,
    /// Loops creates per key fingerprint (wall-clock ms), for the 50-per-24-h limit.
    pub loops_creates: HashMap<String, VecDeque<u64>>,
    /// The request log: test-surface only, not saved across restarts.
    #[serde(skip)]
    pub requests: VecDeque<RequestRecord>,
    pub next_seq: u64,
}

impl World {
    /// Quota usage of a project: live containers not reaped or deleted, bytes as declared.
    pub fn usage(&self, project_id: &str, max_uploads: u64, max_bytes: u64) -> QuotaDetails {
        let (uploads, bytes) = self
            .containers
            .values()
            .filter(|c| c.project_id == project_id && c.counts_quota)
            .filter(|c| {
                matches!(
                    c.state,
                    ContainerState::Reserved | ContainerState::Completed
                )
            })
            .fold((0u64, 0u64), |(n, b), c| (n + 1, b + c.reserved_bytes));
        QuotaDetails {
            current_uploads: uploads,
            max_uploads,
            current_bytes: bytes,
            max_bytes,
        }
    }

    /// Adds a container, stamping its creation order.
    pub fn insert_container(&mut self, mut container: Container) {
        container.seq = self.next_seq;
        self.next_seq += 1;
        self.containers
            .insert(container.container_id.clone(), container);
    }

    /// Appends to the request log, dropping the oldest record past the cap.
    pub fn log_request(&mut self, record: RequestRecord) {
        if self.requests.len() >= REQUEST_LOG_CAP {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }
}
