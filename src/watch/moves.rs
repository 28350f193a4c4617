//! "Move to Uploaded/": after a post completed, its media (and sidecar) move into `Uploaded/`
//! inside the watched folder, keeping their place relative to it, never replacing a file
//! already there (`clip (2).mp4`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::paths::{free_name, rename_no_replace};
use crate::queue::store::UploadedFile;

/// How many taken names a move skips (each found taken at the moment of its rename) before
/// it gives up: another process filling `Uploaded/` that fast is not a race but a loop.
const NAME_TRIES: usize = 1000;

/// Moves `path` (somewhere under `root`) to `root/Uploaded/<same relative path>`, choosing a
/// free name; returns where it went, or `None` when the file is no longer there (moved before
/// a crash, or by the user). The rename itself refuses to replace anything, so a file that
/// appears under the chosen name between the choice and the rename is kept, and the next
/// free name is taken.
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
    for _ in 0..NAME_TRIES {
        let target = free_name(&dest);
        match rename_no_replace(path, &target) {
            Ok(()) => return Ok(Some(target)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e)
                if e.kind() == io::ErrorKind::NotFound && fs::symlink_metadata(path).is_err() =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for it in {}", dir.display()),
    ))
}

/// Whether `path` still holds the bytes that were uploaded from it: the same size and mtime,
/// or (when only the mtime moved) the same sha-256. A file re-exported under the same name is
/// new work for the watch, not the upload, and must not be filed away as uploaded.
pub fn holds_uploaded_bytes(path: &Path, uploaded: &UploadedFile) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    if meta.len() != uploaded.size_bytes {
        return Ok(false);
    }
    let mtime = crate::queue::plan::mtime_ns(&meta);
    if mtime.is_some() && mtime == uploaded.mtime_ns {
        return Ok(true);
    }
    Ok(crate::media::inspect::sha256_path(path)? == uploaded.sha256)
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

    #[test]
    fn the_rename_refuses_a_name_taken_after_it_was_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("clip.mp4"), dir.path().join("taken.mp4"));
        fs::write(&from, b"new").unwrap();
        // Appeared after the free name was chosen (the race `fs::rename` would lose).
        fs::write(&to, b"someone else's").unwrap();
        let err = rename_no_replace(&from, &to).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&to).unwrap(), b"someone else's");
        assert_eq!(fs::read(&from).unwrap(), b"new");
        fs::remove_file(&to).unwrap();
        rename_no_replace(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"new");
        assert!(!from.exists());
    }

    #[test]
    fn only_the_uploaded_bytes_count_as_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.mp4");
        fs::write(&path, b"first export").unwrap();
        let meta = fs::metadata(&path).unwrap();
        let uploaded = UploadedFile {
            size_bytes: meta.len(),
            mtime_ns: crate::queue::plan::mtime_ns(&meta),
            sha256: crate::media::inspect::sha256_path(&path).unwrap(),
        };
        assert!(holds_uploaded_bytes(&path, &uploaded).unwrap());
        // Touched, same bytes: still the upload.
        let touched = UploadedFile {
            mtime_ns: Some(1),
            ..uploaded.clone()
        };
        assert!(holds_uploaded_bytes(&path, &touched).unwrap());
        // Re-exported under the same name, same size, other bytes.
        fs::write(&path, b"other export").unwrap();
        assert!(!holds_uploaded_bytes(&path, &touched).unwrap());
        fs::write(&path, b"a longer re-export").unwrap();
        assert!(!holds_uploaded_bytes(&path, &uploaded).unwrap());
    }
}
