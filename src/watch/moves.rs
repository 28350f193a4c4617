//! "Move to Uploaded/": after a post completed, its media (and sidecar) move into `Uploaded/`
//! inside the watched folder, keeping their place relative to it, never replacing a file
//! already there (`clip (2).mp4`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Moves `path` (somewhere under `root`) to `root/Uploaded/<same relative path>`, choosing a
/// free name; returns where it went, or `None` when the file is no longer there (moved before
/// a crash, or by the user).
pub fn move_to_uploaded(root: &Path, path: &Path) -> io::Result<Option<PathBuf>> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    let rel = path.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not inside {}", path.display(), root.display()),
        )
    })?;
    let dest = root.join(super::layout::UPLOADED_DIR).join(rel);
    let dir = dest.parent().unwrap_or(root);
    fs::create_dir_all(dir)?;
    let target = free_name(&dest);
    fs::rename(path, &target)?;
    Ok(Some(target))
}

/// `dest` if nothing is there, else `stem (2).ext`, `stem (3).ext`, …
fn free_name(dest: &Path) -> PathBuf {
    if fs::symlink_metadata(dest).is_err() {
        return dest.to_path_buf();
    }
    let stem = dest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2u64..)
        .map(|n| dest.with_file_name(format!("{stem} ({n}){ext}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dest.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_never_replaces_a_file_in_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("Uploaded/trip")).unwrap();
        fs::create_dir_all(root.join("trip")).unwrap();
        fs::write(root.join("Uploaded/clip.mp4"), b"older").unwrap();
        fs::write(root.join("clip.mp4"), b"new").unwrap();
        fs::write(root.join("trip/01.jpg"), b"slide").unwrap();

        let to = move_to_uploaded(root, &root.join("clip.mp4"))
            .unwrap()
            .unwrap();
        assert_eq!(to, root.join("Uploaded/clip (2).mp4"));
        assert_eq!(fs::read(root.join("Uploaded/clip.mp4")).unwrap(), b"older");
        assert_eq!(fs::read(&to).unwrap(), b"new");
        assert!(!root.join("clip.mp4").exists());

        let slide = move_to_uploaded(root, &root.join("trip/01.jpg")).unwrap();
        assert_eq!(slide, Some(root.join("Uploaded/trip/01.jpg")));
        assert_eq!(
            move_to_uploaded(root, &root.join("trip/01.jpg")).unwrap(),
            None
        );
    }
}
