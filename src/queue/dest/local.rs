//! The local checks of the media library and Loops: what a file is (type from its bytes, size,
//! sha-256, mtime) and each destination's documented limits, before anything is reserved.
//! Layers content uses the full inspection (`media::inspect`) instead: its fit rules need
//! ffprobe; these destinations need only the bytes.

use std::io::Read;
use std::path::Path;

use crate::api::types::{MediaLibraryKind, LOOPS_CONTENT_TYPES, LOOPS_MAX_BYTES};
use crate::media::inspect::sha256_path;
use crate::media::sniff::{extension_of, sniff, SNIFF_LEN};
use crate::media::{human_bytes, ErrorCode, LocalError};
use crate::queue::plan::mtime_ns;
use crate::queue::store::NewFile;

/// Env var that raises (or lowers) every media-library kind's local cap, in bytes: the server
/// decides in the end, and the client must not be what blocks a file it would take.
pub const MEDIA_CAP_ENV: &str = "LAYERS_MEDIA_CAP_BYTES";

/// Audio types the media library needs by name (their bytes are often not sniffable, and an
/// `.m4a` sniffs as MP4 video).
fn audio_type_of(path: &Path) -> Option<&'static str> {
    Some(match extension_of(path)?.as_str() {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/opus",
        "flac" => "audio/flac",
        _ => return None,
    })
}

/// What a file is: its type from its bytes (for audio, the extension when the bytes do not say
/// or say MP4), size, mtime and sha-256. `audio` asks for the audio reading of an MP4 box.
pub fn identify(path: &Path, audio: bool) -> Result<NewFile, LocalError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            LocalError::new(ErrorCode::NotFound, format!("{shown} does not exist"))
        }
        std::io::ErrorKind::PermissionDenied => LocalError::new(
            ErrorCode::PermissionDenied,
            format!("{shown} cannot be read: permission denied"),
        ),
        _ => LocalError::new(
            ErrorCode::Unreadable,
            format!("{shown} cannot be read: {e}"),
        ),
    })?;
    if !meta.is_file() {
        return Err(LocalError::new(
            ErrorCode::NotAFile,
            format!("{shown} is not a file"),
        ));
    }
    if meta.len() == 0 {
        return Err(LocalError::new(
            ErrorCode::Empty,
            format!("{shown} is empty"),
        ));
    }
    let unreadable =
        |e: std::io::Error| LocalError::new(ErrorCode::Unreadable, format!("{shown}: {e}"));
    let mut head = Vec::with_capacity(SNIFF_LEN);
    crate::media::inspect::open_regular(path)
        .and_then(|f| f.take(SNIFF_LEN as u64).read_to_end(&mut head))
        .map_err(unreadable)?;
    let sniffed = sniff(&head).map(|s| s.mime);
    let content_type = match (sniffed, audio_type_of(path)) {
        (Some("video/mp4") | None, Some(a)) if audio => a,
        (Some(m), _) => m,
        (None, Some(a)) => a,
        (None, None) => {
            return Err(LocalError::new(
                ErrorCode::UnsupportedType,
                format!("the type of {shown} cannot be told from its bytes or its name"),
            ))
        }
    };
    let sha256 = sha256_path(path).map_err(unreadable)?;
    Ok(NewFile {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        filename: path
            .file_name()
            .map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned()),
        content_type: content_type.to_string(),
        size_bytes: meta.len(),
        mtime_ns: mtime_ns(&meta),
        sha256,
    })
}

/// The local cap of a media-library kind (documented 50 MB / 200 MB / 1 GB, binary units),
/// unless [`MEDIA_CAP_ENV`] says otherwise.
pub fn media_cap(kind: MediaLibraryKind) -> u64 {
    std::env::var(MEDIA_CAP_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or_else(|| kind.cap_bytes())
}

/// The media library's rules for one identified file.
pub fn check_media(file: &NewFile, kind: MediaLibraryKind) -> Result<(), LocalError> {
    let cap = media_cap(kind);
    if file.size_bytes > cap {
        return Err(LocalError::new(
            ErrorCode::TooLarge,
            format!(
                "{} is {}; the media library takes at most {} for kind {}",
                file.filename,
                human_bytes(file.size_bytes),
                human_bytes(cap),
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

/// Loops' rules: JPEG, PNG, GIF or WebP, at most 4,000,000 bytes.
pub fn check_loops(file: &NewFile) -> Result<(), LocalError> {
    if !LOOPS_CONTENT_TYPES.contains(&file.content_type.as_str()) {
        return Err(LocalError::new(
            ErrorCode::UnsupportedType,
            format!(
                "{} is {}; Loops email assets are JPEG, PNG, GIF or WebP only",
                file.filename, file.content_type
            ),
        ));
    }
    if file.size_bytes > LOOPS_MAX_BYTES {
        return Err(LocalError::new(
            ErrorCode::TooLarge,
            format!(
                "{} is {} bytes; Loops takes at most 4,000,000 bytes per email asset",
                file.filename, file.size_bytes
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_bytes_and_audio_from_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let gif = dir.path().join("a.gif");
        std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
        let f = identify(&gif, false).unwrap();
        assert_eq!(f.content_type, "image/gif");
        assert!(check_loops(&f).is_ok());
        let mp3 = dir.path().join("a.mp3");
        std::fs::write(&mp3, b"\x00\x01not sniffable").unwrap();
        assert_eq!(identify(&mp3, true).unwrap().content_type, "audio/mpeg");
        let odd = dir.path().join("a.xyz");
        std::fs::write(&odd, b"\x00\x01nothing").unwrap();
        assert_eq!(
            identify(&odd, false).unwrap_err().code,
            ErrorCode::UnsupportedType
        );
        let big = NewFile {
            size_bytes: LOOPS_MAX_BYTES + 1,
            ..f
        };
        assert_eq!(check_loops(&big).unwrap_err().code, ErrorCode::TooLarge);
    }
}
