//! Wire types of the Layers and Loops APIs, exactly as `../shared/api-docs/` documents them.
//!
//! Shared by the client (which deserializes them) and `layers-sandbox` (which serializes them),
//! so the two can never drift apart. Field names are camelCase on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::media::fit::PlatformFit;

/// Content types the Layers content endpoints accept; anything else is `422 VALIDATION`.
pub const ACCEPTED_CONTENT_TYPES: [&str; 5] = [
    "video/mp4",
    "video/quicktime",
    "image/jpeg",
    "image/png",
    "image/webp",
];

/// Most files one create-session or URL-fetch call may carry.
pub const MAX_FILES_PER_CALL: usize = 10;

/// Longest caption the API publishes, counted in UTF-16 code units (the strictest reading).
pub const MAX_CAPTION_UTF16: usize = 2200;

/// Longest `files[].filename` the create-session call takes.
pub const MAX_FILENAME_CHARS: usize = 512;

/// How the files of one direct-upload session become content items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// One content item per file; a video is always its own item.
    PerFile,
    /// One image-slideshow item of all the files (images only).
    Slideshow,
}

impl Grouping {
    /// The wire spelling, also used by the CLI flag.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::PerFile => "per-file",
            Grouping::Slideshow => "slideshow",
        }
    }
}

/// One file declared in step 1 of the direct upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeclaredFile {
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
}

/// Body of `POST /v1/projects/:projectId/content/uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUploadSessionRequest {
    pub files: Vec<DeclaredFile>,
    pub grouping: Grouping,
}

/// `201` of create-session: one entry per resulting content item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadSession {
    pub uploads: Vec<SessionUpload>,
}

/// One content item reserved by a session, with a presigned PUT per file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUpload {
    pub container_id: String,
    pub files: Vec<PresignedPut>,
}

/// A presigned storage PUT: the URL is the only credential, so no API key is ever sent with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresignedPut {
    pub upload_url: String,
    pub r2_key: String,
    pub content_type: String,
    /// RFC 3339 timestamp after which storage refuses the PUT.
    pub expires_at: String,
}

/// Body of `POST /v1/content/:containerId/finalize-upload` (and of `PATCH /v1/content/:id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptionBody {
    pub caption: String,
}

/// One media URL of the URL-fetch transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaUrl {
    pub url: String,
}

/// Body of `POST /v1/projects/:projectId/content/upload` (URL-fetch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlFetchRequest {
    pub media: Vec<MediaUrl>,
    pub caption: String,
}

/// The full content item (001's `201`), as returned by URL-fetch, finalize, GET and PATCH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentItem {
    pub id: String,
    pub project_id: String,
    pub status: String,
    pub format: Option<Value>,
    pub hook: Option<Value>,
    pub influencer_id: Option<String>,
    pub source_tiktok_id: Option<String>,
    pub media_id: Option<String>,
    pub caption: Option<String>,
    pub first_comment: Option<String>,
    pub assets: Vec<ContentAsset>,
    pub preview: Option<Preview>,
    pub approval_status: Option<String>,
    pub creative_type: String,
    pub ads_enrollment: Option<String>,
    #[serde(default)]
    pub platform_fit: Vec<PlatformFit>,
    pub created_at: Option<String>,
    pub completed_at: Option<String>,
    pub failed_at: Option<String>,
    pub last_error: Option<Value>,
}

/// One media asset of a content item, with probe-measured figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentAsset {
    pub asset_id: String,
    pub kind: String,
    pub url: String,
    pub thumbnail_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub mime_type: String,
    pub size_bytes: u64,
}

/// How the item previews: a video, an image, or a slideshow's image list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub kind: String,
    pub primary_url: Option<String>,
    pub thumbnail_url: Option<String>,
    #[serde(default)]
    pub image_urls: Vec<String>,
    pub video_url: Option<String>,
    pub hls_url: Option<String>,
    pub duration_ms: Option<u64>,
    pub aspect_ratio: Option<String>,
}

/// One page of any cursor-paginated list endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One project from `GET /v1/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: String,
    pub name: String,
}

/// `GET /v1/whoami`: what the key resolves to. Extra fields the server adds are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub organization_id: String,
    pub organization_name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub rate_limit_tier: Option<String>,
    pub api_key_id: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The one error envelope every Layers error uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// Body of the Layers error envelope; `details` varies by code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    #[serde(default)]
    pub details: Value,
}

/// `details` of `409 UPLOAD_QUOTA_EXCEEDED`: usage and limits, always both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaDetails {
    pub current_uploads: u64,
    pub max_uploads: u64,
    pub current_bytes: u64,
    pub max_bytes: u64,
}

/// Media-library classes; each decides allowed types and the size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaLibraryKind {
    Image,
    Video,
    Audio,
    Logo,
    ReferenceImage,
}

impl MediaLibraryKind {
    /// Per-kind cap from the presign doc, in binary units (50 MB / 200 MB / 1 GB).
    pub fn cap_bytes(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            MediaLibraryKind::Image | MediaLibraryKind::Logo | MediaLibraryKind::ReferenceImage => {
                50 * MIB
            }
            MediaLibraryKind::Audio => 200 * MIB,
            MediaLibraryKind::Video => 1024 * MIB,
        }
    }

    /// The wire spelling, also used by the CLI flag.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaLibraryKind::Image => "image",
            MediaLibraryKind::Video => "video",
            MediaLibraryKind::Audio => "audio",
            MediaLibraryKind::Logo => "logo",
            MediaLibraryKind::ReferenceImage => "reference_image",
        }
    }
}

/// Body of `POST /v1/projects/:projectId/media/presign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaPresignRequest {
    pub kind: MediaLibraryKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    pub mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
}

/// `200` of media presign; `headers` must be sent verbatim on the PUT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaPresignResponse {
    pub upload_id: String,
    pub url: String,
    pub signed_url: Option<String>,
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub expires_at: String,
}

/// Body of `POST /v1/projects/:projectId/media/finalize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFinalizeRequest {
    pub upload_id: String,
}

/// `200` of media finalize: at least `assetId`, plus whatever the server adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaAsset {
    pub asset_id: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Content types Loops takes for email assets.
pub const LOOPS_CONTENT_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Largest Loops email asset, in bytes (decimal, as the doc states it).
pub const LOOPS_MAX_BYTES: u64 = 4_000_000;

/// Body of Loops `POST /api/v1/uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoopsCreateRequest {
    pub content_type: String,
    pub content_length: u64,
}

/// Success of Loops create: the PUT must repeat the declared type and length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoopsCreateResponse {
    pub success: bool,
    pub email_asset_id: String,
    pub presigned_url: String,
}

/// Success of Loops `POST /api/v1/uploads/:id/complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoopsCompleteResponse {
    pub success: bool,
    pub email_asset_id: String,
    pub final_url: String,
}

/// Loops' error body: `success: false` plus optional, error-specific fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoopsErrorBody {
    pub success: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_content_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uploads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_hours: Option<u64>,
}

/// Counts a caption the way the API (and JavaScript) does: UTF-16 code units.
pub fn caption_len(caption: &str) -> usize {
    caption.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_uses_the_wire_spelling() {
        assert_eq!(
            serde_json::to_string(&Grouping::PerFile).unwrap(),
            "\"per-file\""
        );
        let g: Grouping = serde_json::from_str("\"slideshow\"").unwrap();
        assert_eq!(g, Grouping::Slideshow);
    }

    #[test]
    fn content_item_from_the_docs_parses() {
        let doc = r#"{"id":"cnt_a","projectId":"prj_b","status":"completed","format":null,"hook":null,
          "influencerId":null,"sourceTiktokId":null,"mediaId":null,"caption":"c","firstComment":null,
          "assets":[{"assetId":"upload-1","kind":"video","url":"https://m/x.mp4","thumbnailUrl":null,
          "width":1080,"height":1920,"durationMs":31000,"mimeType":"video/mp4","sizeBytes":18874368}],
          "preview":{"kind":"video","primaryUrl":"https://m/x.mp4","thumbnailUrl":null,"imageUrls":[],
          "videoUrl":"https://m/x.mp4","hlsUrl":null,"durationMs":31000,"aspectRatio":"9:16"},
          "approvalStatus":"not_required","creativeType":"uploaded","adsEnrollment":"opted_out",
          "platformFit":[{"platform":"tiktok","ok":true,"issues":[]}],
          "createdAt":"2026-06-12T14:02:11Z","completedAt":"2026-06-12T14:02:14Z","failedAt":null,"lastError":null}"#;
        let item: ContentItem = serde_json::from_str(doc).unwrap();
        assert_eq!(item.assets[0].width, Some(1080));
        assert_eq!(item.platform_fit[0].platform, "tiktok");
    }

    #[test]
    fn caption_length_counts_utf16_units() {
        assert_eq!(caption_len("☕"), 1);
        assert_eq!(caption_len("😀"), 2);
    }

    #[test]
    fn media_caps_are_binary_units() {
        assert_eq!(MediaLibraryKind::Logo.cap_bytes(), 52_428_800);
        assert_eq!(MediaLibraryKind::Video.cap_bytes(), 1_073_741_824);
    }
}
