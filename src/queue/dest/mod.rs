//! Where a post goes. One [`Destination`] trait — reserve → put → finalize — with each
//! destination's rules inside its implementation, so the runner (queue, retries, resume,
//! events, dedupe) is the same for all of them:
//!
//! - [`content::LayersContent`]: a Layers content item by direct upload (sessions, presigned
//!   PUTs, finalize with the caption);
//! - [`media::LayersMedia`]: the Layers media library (presign with `checksumSha256` and
//!   `sizeBytes`, PUT with the returned headers verbatim, finalize by `uploadId`);
//! - [`loops::LoopsAssets`]: Loops email assets (create, PUT with exactly the declared type and
//!   length, complete). Loops has no idempotency.
//!
//! URL-fetch (`layers-url-fetch`) is a transport of Layers content with no local bytes and a
//! single call; the runner drives it on its own (`runner/url_fetch.rs`), like an optional
//! ability beside the trait.

pub mod content;
pub mod local;
pub mod loops;
pub mod media;
pub mod submit;

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::store::{PostError, ReservedUpload, Store, StoredFile, StoredPost};
use crate::api::error::ApiError;
use crate::api::http::IdempotencyKey;
use crate::api::types::MediaLibraryKind;
use crate::api::{LayersClient, LoopsClient};
use crate::transfer::{ProgressFn, PutReceipt, PutTarget, Reach, Transfer, TransferError};

pub use super::names::{LAYERS_CONTENT, LAYERS_MEDIA_PREFIX, LAYERS_URL_FETCH, LOOPS, LOOPS_SCOPE};

/// A destination as stored on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// Layers content, direct upload.
    LayersContent,
    /// Layers content, URL-fetch.
    LayersUrlFetch,
    /// The Layers media library, as one kind.
    LayersMedia(MediaLibraryKind),
    /// Loops email assets.
    Loops,
}

impl DestinationKind {
    /// Reads a batch's `destination` column.
    pub fn parse(s: &str) -> Option<DestinationKind> {
        match s {
            LAYERS_CONTENT => Some(DestinationKind::LayersContent),
            LAYERS_URL_FETCH => Some(DestinationKind::LayersUrlFetch),
            LOOPS => Some(DestinationKind::Loops),
            other => {
                let kind = other.strip_prefix(LAYERS_MEDIA_PREFIX)?;
                serde_json::from_value(serde_json::Value::String(kind.to_string()))
                    .ok()
                    .map(DestinationKind::LayersMedia)
            }
        }
    }

    /// The stored (and `queue list`) spelling.
    pub fn as_string(self) -> String {
        match self {
            DestinationKind::LayersContent => LAYERS_CONTENT.into(),
            DestinationKind::LayersUrlFetch => LAYERS_URL_FETCH.into(),
            DestinationKind::LayersMedia(kind) => format!("{LAYERS_MEDIA_PREFIX}{}", kind.as_str()),
            DestinationKind::Loops => LOOPS.into(),
        }
    }
}

/// What a reserve call answered, ready for the store: per post its remote id (container,
/// upload id or email asset id) and per file where and how to PUT it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The answer as JSON text, kept on the session row.
    pub response_json: String,
    /// One per post, in the order the posts were given.
    pub uploads: Vec<ReservedUpload>,
}

/// What finalize answered: the remote id and the object to print, exactly as the server
/// sent it (Loops: `{emailAssetId, finalUrl}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finalized {
    /// Content id, asset id or email asset id (what the ledger records).
    pub id: String,
    /// One line of JSON.
    pub json_line: String,
}

/// Reads the reserve request stored before the call (replayed as it was first sent).
fn stored_request<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, ApiError> {
    serde_json::from_str(json).map_err(|e| ApiError::Unexpected {
        status: 0,
        excerpt: format!("the stored {what} request cannot be read: {e}"),
    })
}

/// One place posts go: reserve → put → finalize, with the destination's rules inside.
///
/// Failure semantics (what a caller may assume when a call returns an error):
/// - `reserve` **may have reserved even when it returns an error** (the request can land and
///   its answer be lost). An [idempotent](Destination::idempotent) destination replays the
///   same body with the same stored Idempotency-Key and gets the same reservation back. One
///   that is not (Loops) cannot: sending the stored intent again creates a second remote
///   object and the first is orphaned; the runner counts sends and tells the user.
/// - `put` may have stored the object even when it returns an error; PUTting the same bytes to
///   the same URL again overwrites it. A `4xx` from storage means the URL is unusable (new
///   reservation); a changed local file means inspect again, never send stale bytes.
/// - `finalize` may have finalized even when it returns an error; it is safe to call again with
///   the same key (Layers replays it; Loops' complete of a completed asset answers the same).
/// - Local rules (types, caps) are checked before anything is reserved (see [`local`]), but
///   the server's answer is final: every refusal is surfaced through [`Destination::explain`].
pub trait Destination: Send + Sync {
    /// The destination this is.
    fn kind(&self) -> DestinationKind;

    /// Whether one reserve call may carry several posts (Layers content sessions do; the media
    /// library and Loops reserve one file per call).
    fn packs_posts(&self) -> bool {
        false
    }

    /// Whether a reserve call can be replayed safely (an Idempotency-Key is honoured).
    fn idempotent(&self) -> bool {
        true
    }

    /// The exact body of the reserve call for these posts, stored before it is sent.
    fn reserve_request(&self, posts: &[&StoredPost]) -> Result<String, String>;

    /// Sends a stored reserve call for `posts` (in order) to `project`.
    fn reserve<'a>(
        &'a self,
        project: &'a str,
        request_json: &'a str,
        key: &'a IdempotencyKey,
        posts: &'a [StoredPost],
    ) -> BoxFuture<'a, Result<Reservation, ApiError>>;

    /// Which hosts this destination's upload links may name: decided by its API base (only
    /// a sandbox on this computer may hand out links to this computer or plain http).
    fn reach(&self) -> Reach {
        Reach::Public
    }

    /// Where and how to PUT one reserved file (exact type, declared size, verbatim headers).
    fn put_target<'a>(&self, file: &'a StoredFile) -> Option<PutTarget<'a>> {
        Some(PutTarget {
            url: file.upload_url.as_deref()?,
            content_type: &file.content_type,
            declared_size: Some(file.size_bytes),
            headers: file.put_headers.as_ref(),
            reach: self.reach(),
        })
    }

    /// PUTs one reserved file to storage (streamed from disk, never with an API key).
    fn put<'a>(
        &'a self,
        transfer: &'a Transfer,
        file: &'a StoredFile,
        progress: Option<ProgressFn>,
    ) -> BoxFuture<'a, Result<PutReceipt, TransferError>> {
        Box::pin(async move {
            let Some(target) = self.put_target(file) else {
                return Err(TransferError::BadHeader {
                    name: "url".into(),
                    reason: "no upload link is stored for this file".into(),
                });
            };
            transfer.put_file(&file.path, &target, progress).await
        })
    }

    /// Whether its calls count against the Layers write budget (the runner paces those;
    /// Loops has limits of its own).
    fn paced(&self) -> bool {
        true
    }

    /// Now by this destination's clock, in epoch ms: what its upload links' expiry is judged
    /// against. Layers stamps `expiresAt` by its own clock, so its destinations answer with
    /// the server's time (local time plus the offset its `Date` headers showed).
    fn server_now_ms(&self) -> i64 {
        crate::queue::store::now_ms()
    }

    /// Whether a failed PUT may be ignored and finalize asked instead (Layers test keys get
    /// inert URLs; finalize then says whether the backend is live after all).
    fn lenient_puts(&self) -> bool {
        false
    }

    /// Registers a reserved post whose files all landed, with the stored key.
    fn finalize<'a>(
        &'a self,
        post: &'a StoredPost,
        key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Finalized, ApiError>>;

    /// The error as the user should read it for this destination (its limits, its advice).
    fn explain(&self, error: &ApiError, _post: &StoredPost, _store: &Store) -> PostError {
        PostError {
            code: error.code().to_string(),
            message: error.to_string(),
            details: None,
        }
    }
}

/// The clients a runner has: Layers (content, URL-fetch, media) and Loops, either optional
/// (`layers-upload loops` needs no Layers key; `upload` needs no Loops key).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    /// The Layers API client.
    pub layers: Option<LayersClient>,
    /// The Loops API client.
    pub loops: Option<LoopsClient>,
}

/// Why a post's destination cannot be driven by this runner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The batch names a destination this build does not know.
    #[error("unknown destination {0:?}")]
    Unknown(String),
    /// The destination's key is not configured for this run.
    #[error("no {0} key in this run: set it (layers-upload login{1}) and resume")]
    NoKey(&'static str, &'static str),
}

impl Clients {
    /// The destination of a batch, built on these clients.
    pub fn destination(&self, stored: &str) -> Result<Arc<dyn Destination>, Unavailable> {
        let kind =
            DestinationKind::parse(stored).ok_or_else(|| Unavailable::Unknown(stored.into()))?;
        let layers = || self.layers.clone().ok_or(Unavailable::NoKey("Layers", ""));
        Ok(match kind {
            DestinationKind::LayersContent | DestinationKind::LayersUrlFetch => {
                Arc::new(content::LayersContent::new(layers()?))
            }
            DestinationKind::LayersMedia(k) => Arc::new(media::LayersMedia::new(layers()?, k)),
            DestinationKind::Loops => Arc::new(loops::LoopsAssets::new(
                self.loops
                    .clone()
                    .ok_or(Unavailable::NoKey("Loops", " --loops"))?,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_round_trip_through_their_stored_names() {
        for kind in [
            DestinationKind::LayersContent,
            DestinationKind::LayersUrlFetch,
            DestinationKind::LayersMedia(MediaLibraryKind::ReferenceImage),
            DestinationKind::Loops,
        ] {
            assert_eq!(DestinationKind::parse(&kind.as_string()), Some(kind));
        }
        assert_eq!(
            DestinationKind::LayersMedia(MediaLibraryKind::Logo).as_string(),
            "layers-media:logo"
        );
        assert_eq!(DestinationKind::parse("layers-media:poster"), None);
        assert_eq!(DestinationKind::parse("ftp"), None);
    }
}
