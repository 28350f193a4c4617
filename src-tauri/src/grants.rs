//! Paths the native side handed to the UI: files and folders from a drop, a dialog or a watch.
//! The webview is never trusted to name a path by itself; every command that reads a file
//! checks it here first (after resolving symlinks and `..`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// The granted files and folders, canonical.
#[derive(Debug, Default)]
pub struct Grants {
    files: HashSet<PathBuf>,
    folders: HashSet<PathBuf>,
}

impl Grants {
    /// Grants what the user dropped or picked; returns the canonical paths that exist.
    pub fn grant<P: AsRef<Path>>(&mut self, paths: impl IntoIterator<Item = P>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in paths {
            let Ok(real) = std::fs::canonicalize(p.as_ref()) else {
                continue;
            };
            if real.is_dir() {
                self.folders.insert(real.clone());
            } else {
                self.files.insert(real.clone());
            }
            out.push(real);
        }
        out
    }

    /// The canonical path if it was granted itself or sits directly in a granted folder (a
    /// folder grants the files in it, as "Add folder…" and the CLI read it: not deeper).
    pub fn check(&self, path: &Path) -> Result<PathBuf, AppError> {
        let real = std::fs::canonicalize(path).map_err(|_| AppError::not_granted(path))?;
        let in_folder = real.parent().is_some_and(|dir| self.folders.contains(dir));
        if self.files.contains(&real) || self.folders.contains(&real) || in_folder {
            Ok(real)
        } else {
            Err(AppError::not_granted(path))
        }
    }

    /// The files a granted path stands for: itself, or a folder's visible files (sorted).
    pub fn expand(&self, path: &Path) -> Result<Vec<PathBuf>, AppError> {
        let real = self.check(path)?;
        if !real.is_dir() {
            return Ok(vec![real]);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&real)
            .map_err(|e| AppError::invalid(format!("cannot read {}: {e}", real.display())))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|f| f.is_file() && !is_ignored(f))
            .collect();
        files.sort();
        Ok(files)
    }
}

fn is_ignored(path: &Path) -> bool {
    use layers_uploader::media::names;
    names::is_partial_or_hidden(path) || names::is_caption_sidecar(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn touch(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b"x").unwrap();
        p
    }

    #[test]
    fn only_granted_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let a = touch(dir.path(), "a.jpg");
        let b = touch(dir.path(), "b.jpg");
        let mut g = Grants::default();
        g.grant([&a]);
        assert!(g.check(&a).is_ok());
        let err = g.check(&b).unwrap_err();
        assert_eq!(err.code, ErrorCode::PathNotGranted);
        assert!(err.message.contains("b.jpg"), "{}", err.message);
    }

    #[test]
    fn a_folder_grants_its_own_files_but_not_deeper_or_beside() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("exports");
        std::fs::create_dir_all(folder.join("deep")).unwrap();
        let inside = touch(&folder, "a.mp4");
        let deep = touch(&folder.join("deep"), "b.mp4");
        let beside = touch(dir.path(), "c.mp4");
        touch(&folder, "a.txt");
        touch(&folder, ".hidden.mp4");
        let mut g = Grants::default();
        g.grant([&folder]);
        assert!(g.check(&inside).is_ok());
        assert!(g.check(&deep).is_err());
        assert!(g.check(&beside).is_err());
        let files = g.expand(&folder).unwrap();
        assert_eq!(files, vec![std::fs::canonicalize(&inside).unwrap()]);
    }

    #[test]
    fn dot_dot_and_symlinks_cannot_escape_a_grant() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("exports");
        std::fs::create_dir_all(&folder).unwrap();
        let secret = touch(dir.path(), "secret.jpg");
        let mut g = Grants::default();
        g.grant([&folder]);
        assert!(g.check(&folder.join("../secret.jpg")).is_err());
        #[cfg(unix)]
        {
            let link = folder.join("link.jpg");
            std::os::unix::fs::symlink(&secret, &link).unwrap();
            assert!(
                g.check(&link).is_err(),
                "a link out of the folder is not granted"
            );
        }
    }

    #[test]
    fn a_missing_path_is_refused_not_granted() {
        let mut g = Grants::default();
        assert!(g.grant(["/no/such/file.jpg"]).is_empty());
        assert_eq!(
            g.check(Path::new("/no/such/file.jpg")).unwrap_err().code,
            ErrorCode::PathNotGranted
        );
    }
}
