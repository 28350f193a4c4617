//! The Layers media library: presign declares `kind`, `mimeType`, `sizeBytes` and the
//! `checksumSha256` of exactly the bytes that will be PUT; the PUT carries the returned
//! `headers` verbatim; finalize registers the file by `uploadId`. One file per call.
//!
//! The checksum can never disagree with what is PUT: it is the hash stored with the file's
//! size and mtime, every PUT refuses a file whose size or mtime moved, and finalize re-checks
//! the file first — a changed file is hashed again and presigned anew instead.

use futures_util::future::BoxFuture;

use super::{Destination, DestinationKind, Finalized, Reservation};
use crate::api::error::ApiError;
use crate::api::http::IdempotencyKey;
use crate::api::types::{MediaLibraryKind, MediaPresignRequest, MediaPresignResponse};
use crate::api::LayersClient;
use crate::media::human_bytes;
use crate::queue::store::{PostError, ReservedFile, ReservedUpload, Store, StoredPost};
use crate::queue::time::parse_rfc3339_ms;

/// The media library, for one kind.
#[derive(Debug, Clone)]
pub struct LayersMedia {
    client: LayersClient,
    kind: MediaLibraryKind,
}

impl LayersMedia {
    /// Media-library uploads of `kind` through this client.
    pub fn new(client: LayersClient, kind: MediaLibraryKind) -> LayersMedia {
        LayersMedia { client, kind }
    }
}

impl Destination for LayersMedia {
    fn reach(&self) -> crate::transfer::Reach {
        crate::transfer::Reach::for_api_base(self.client.base_url())
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::LayersMedia(self.kind)
    }

    fn server_now_ms(&self) -> i64 {
        self.client.server_now_ms()
    }

    fn reserve_request(&self, posts: &[&StoredPost]) -> Result<String, String> {
        let [post] = posts else {
            return Err(format!(
                "the media library presigns one file per call, not {} posts",
                posts.len()
            ));
        };
        let [file] = post.files.as_slice() else {
            return Err("a media-library post holds exactly one file".into());
        };
        let request = MediaPresignRequest {
            kind: self.kind,
            filename: Some(file.filename.clone()).filter(|n| n.chars().count() <= 256),
            mime_type: file.content_type.clone(),
            size_bytes: Some(file.size_bytes),
            checksum_sha256: Some(file.sha256.clone()),
        };
        serde_json::to_string(&request).map_err(|e| format!("cannot encode a presign request: {e}"))
    }

    fn reserve<'a>(
        &'a self,
        project: &'a str,
        request_json: &'a str,
        key: &'a IdempotencyKey,
        _posts: &'a [StoredPost],
    ) -> BoxFuture<'a, Result<Reservation, ApiError>> {
        Box::pin(async move {
            let request: MediaPresignRequest = super::stored_request(request_json, "presign")?;
            let presigned = self.client.media_presign(project, &request, key).await?;
            Ok(Reservation {
                response_json: serde_json::to_string(&presigned).unwrap_or_default(),
                uploads: vec![reserved(&presigned, self.client.server_now_ms())],
            })
        })
    }

    fn finalize<'a>(
        &'a self,
        post: &'a StoredPost,
        key: &'a IdempotencyKey,
    ) -> BoxFuture<'a, Result<Finalized, ApiError>> {
        Box::pin(async move {
            let upload_id = post.container_id.as_deref().unwrap_or_default();
            let asset = self
                .client
                .media_finalize(&post.project_id, upload_id, key)
                .await?;
            Ok(Finalized {
                id: asset.parsed.asset_id,
                json_line: asset.json_line,
            })
        })
    }

    fn explain(&self, error: &ApiError, post: &StoredPost, _store: &Store) -> PostError {
        let name = post
            .files
            .first()
            .map(|f| f.filename.as_str())
            .unwrap_or("the file");
        let message = match error {
            ApiError::PayloadTooLarge { max_bytes, .. } => format!(
                "The media library refused {name}: over the {} cap for kind {} (413 PAYLOAD_TOO_LARGE). Use a smaller file or another kind.",
                max_bytes
                    .or(Some(self.kind.cap_bytes()))
                    .map(human_bytes)
                    .unwrap_or_default(),
                self.kind.as_str()
            ),
            ApiError::Validation { .. } => format!(
                "The media library refused {name} as kind {} (422 VALIDATION_FAILED): {error}",
                self.kind.as_str()
            ),
            other => other.to_string(),
        };
        PostError {
            code: error.code().to_string(),
            message,
            details: None,
        }
    }
}

/// The presign answer as the store keeps it: the upload id stands in for the container, and
/// the returned headers go on the PUT verbatim.
fn reserved(p: &MediaPresignResponse, server_now_ms: i64) -> ReservedUpload {
    // Expiry is kept by the server's clock, as the server stamped it.
    let fallback = server_now_ms + 10 * 60 * 1000;
    ReservedUpload {
        container_id: p.upload_id.clone(),
        files: vec![ReservedFile {
            upload_url: p.url.clone(),
            r2_key: p.upload_id.clone(),
            expires_at: parse_rfc3339_ms(&p.expires_at).unwrap_or(fallback),
            headers: Some(p.headers.clone()),
        }],
    }
}
