//! Local inspection of a media file, with no network: what it is (sniffed from its bytes), what
//! it measures (ffprobe for video, headers for images), its sha-256, the hard errors the API
//! would give, and its platform fit. Results are cached by (path, size, mtime).

pub mod bytes;
pub mod fit;
pub mod fit_convert;
pub mod fit_encode;
pub mod fit_plan;
pub mod hash_cache;
pub mod image;
pub mod inspect;
mod mp4;
pub mod names;
pub mod probe;
pub mod sniff;

use serde::{Deserialize, Serialize};

pub use inspect::{inspect, Inspector};

const MIB: u64 = 1024 * 1024;

/// The two kinds of media the Layers content endpoints take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Video,
    Image,
}

/// The per-type size caps; operational per the docs, so overridable and never hard-coded twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub video_cap_bytes: u64,
    pub image_cap_bytes: u64,
}

impl Limits {
    /// The documented defaults: 100 MB video / 30 MB image, binary units.
    pub const DOCUMENTED: Limits = Limits {
        video_cap_bytes: 100 * MIB,
        image_cap_bytes: 30 * MIB,
    };

    /// The defaults, overridden by `LAYERS_VIDEO_CAP_BYTES` / `LAYERS_IMAGE_CAP_BYTES` when set.
    pub fn from_env() -> Limits {
        let read = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        Limits {
            video_cap_bytes: read("LAYERS_VIDEO_CAP_BYTES", Self::DOCUMENTED.video_cap_bytes),
            image_cap_bytes: read("LAYERS_IMAGE_CAP_BYTES", Self::DOCUMENTED.image_cap_bytes),
        }
    }

    /// The cap that applies to a kind.
    pub fn cap_for(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Video => self.video_cap_bytes,
            MediaKind::Image => self.image_cap_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DOCUMENTED
    }
}

/// Stable codes for local hard errors; the UI and scripts branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    NotAFile,
    PermissionDenied,
    Empty,
    UnsupportedType,
    ExtensionMismatch,
    TooLarge,
    Unreadable,
    FilenameTooLong,
    CaptionTooLong,
    SlideshowHasVideo,
    TooManyFiles,
    /// `fit`: no honest copy can meet the rules (too short, too small, too long without trim).
    CannotFit,
    /// `fit`: ffmpeg failed or the copy could not be written.
    ConversionFailed,
}

impl ErrorCode {
    /// The wire spelling (`not_found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotAFile => "not_a_file",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Empty => "empty",
            ErrorCode::UnsupportedType => "unsupported_type",
            ErrorCode::ExtensionMismatch => "extension_mismatch",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unreadable => "unreadable",
            ErrorCode::FilenameTooLong => "filename_too_long",
            ErrorCode::CaptionTooLong => "caption_too_long",
            ErrorCode::SlideshowHasVideo => "slideshow_has_video",
            ErrorCode::TooManyFiles => "too_many_files",
            ErrorCode::CannotFit => "cannot_fit",
            ErrorCode::ConversionFailed => "conversion_failed",
        }
    }
}

/// A hard rejection: what the API would refuse, said so a person knows what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalError {
    pub code: ErrorCode,
    pub message: String,
}

impl LocalError {
    /// Builds an error from a code and a human message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LocalError {
            code,
            message: message.into(),
        }
    }
}

/// Everything known about one file; `probe --json` prints exactly this (camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    /// The path as text (a name that is not UTF-8 shows U+FFFD for its odd bytes).
    pub path: String,
    /// The path exactly as given, bytes and all: what is opened and queued (not serialized).
    #[serde(skip)]
    pub local_path: std::path::PathBuf,
    /// The sniffed type; `None` when the bytes are not a type the API accepts.
    pub content_type: Option<String>,
    pub kind: Option<MediaKind>,
    pub size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub bitrate_bps: Option<u64>,
    /// Degrees of rotation metadata applied to get the displayed width and height.
    pub rotation: Option<i32>,
    pub sha256: Option<String>,
    pub errors: Vec<LocalError>,
    pub platform_fit: Vec<fit::PlatformFit>,
}

impl Inspection {
    /// True when the API would take the file (fit issues are advisory and do not count).
    pub fn is_accepted(&self) -> bool {
        self.errors.is_empty()
    }
}

/// `38MB`, `104.9MB`, `1.5GB`, `812KB`: binary units, as the caps are counted.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const GIB: u64 = 1024 * MIB;
    let (value, unit, step) = if bytes >= GIB {
        (bytes as f64 / GIB as f64, "GB", GIB)
    } else if bytes >= MIB {
        (bytes as f64 / MIB as f64, "MB", MIB)
    } else if bytes >= KIB {
        (bytes as f64 / KIB as f64, "KB", KIB)
    } else {
        return format!("{bytes} bytes");
    };
    if bytes.is_multiple_of(step) {
        format!("{}{unit}", bytes / step)
    } else {
        format!("{value:.1}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(100 * MIB), "100MB");
        assert_eq!(human_bytes(30 * MIB), "30MB");
        assert_eq!(human_bytes(26_843_545_600), "25GB");
        assert_eq!(human_bytes(1536), "1.5KB");
        assert_eq!(human_bytes(12), "12 bytes");
    }

    #[test]
    fn documented_caps_are_binary() {
        assert_eq!(Limits::DOCUMENTED.video_cap_bytes, 104_857_600);
        assert_eq!(Limits::DOCUMENTED.image_cap_bytes, 31_457_280);
    }

    #[test]
    fn error_codes_serialize_snake_case() {
        let e = LocalError::new(ErrorCode::ExtensionMismatch, "x");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"extension_mismatch","message":"x"}"#
        );
        assert_eq!(ErrorCode::NotAFile.as_str(), "not_a_file");
    }
}
