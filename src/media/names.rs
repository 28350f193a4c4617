//! File names that are not finished media: hidden files, the temporary and partial names that
//! exports and downloads use while in progress, and caption sidecars. `probe` folders and watch
//! folders share this one rule.

use std::path::Path;

/// Endings of names that exporters and browsers use while a file is still being written.
const PARTIAL_SUFFIXES: &[&str] = &[".tmp", ".part", ".crdownload", ".download"];

/// Whether a name is hidden (`.*`), a temporary or partial file (`*.tmp`, `*.part`,
/// `*.crdownload`, `*.download`) or an editor's backup (`~*`): never taken as media.
pub fn is_partial_or_hidden(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with('~')
        || PARTIAL_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// Whether a name is a caption sidecar (`*.txt`): read as a caption, never uploaded.
pub fn is_caption_sidecar(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"))
}

/// Why a path found in a folder is not a media candidate, if it is not; `None` means: inspect
/// it. Sidecars are not reported (they are read with their media).
pub fn ignore_reason(path: &Path) -> Option<&'static str> {
    if is_partial_or_hidden(path) {
        Some("ignored name: hidden, temporary or partial file (an export or copy in progress)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_in_progress_names_are_recognised() {
        for name in [
            ".hidden.mp4",
            ".DS_Store",
            "clip.mp4.part",
            "clip.MP4.TMP",
            "video.crdownload",
            "a.download",
            "~clip.mp4",
        ] {
            assert!(is_partial_or_hidden(Path::new(name)), "{name}");
        }
        for name in ["clip.mp4", "photo.jpg", "part.mp4", "tmp.png", "a~b.jpg"] {
            assert!(!is_partial_or_hidden(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn sidecars_are_txt_files() {
        assert!(is_caption_sidecar(Path::new("clip.txt")));
        assert!(is_caption_sidecar(Path::new("caption.TXT")));
        assert!(!is_caption_sidecar(Path::new("clip.mp4")));
        assert!(ignore_reason(Path::new("clip.txt")).is_none());
    }
}
