//! Paths the native side handed to the UI: files and folders from a drop, a dialog or a watch.
//! The webview is never trusted to name a path by itself; every command that reads a file
//! checks it here first (after resolving symlinks and `..`).
//!
//! A granted folder stands for the media files directly in it, by the same ignore rules a
//! watch and "Add folder…" use: not its sub-folders, not a link that leads out of it, not a
//! hidden, partial or caption-sidecar name. A watch's folder is granted only while the watch
//! exists.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{AppError, ErrorCode};

/// The granted files and folders, canonical.
#[derive(Debug, Default)]
pub struct Grants {
    files: HashSet<PathBuf>,
    folders: HashSet<PathBuf>,
    /// Watch id → its folder: revoked with the watch.
    watch_folders: HashMap<i64, PathBuf>,
}

impl Grants {
    /// Grants what the user dropped or picked; returns the canonical paths that exist. A
    /// hidden, partial or sidecar file is left out (it is never uploaded, so it gets no card).
    pub fn grant<P: AsRef<Path>>(&mut self, paths: impl IntoIterator<Item = P>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in paths {
            let Ok(real) = std::fs::canonicalize(p.as_ref()) else {
                continue;
            };
            if !real.is_dir() && (is_ignored(p.as_ref()) || is_ignored(&real)) {
                continue;
            }
            if real.is_dir() {
                self.folders.insert(real.clone());
            } else {
                self.files.insert(real.clone());
            }
            out.push(real);
        }
        out
    }

    /// Grants a watch's folder for as long as the watch exists; the canonical folder, or
    /// `None` when it is not a folder (any more).
    pub fn grant_watch(&mut self, watch_id: i64, folder: &Path) -> Option<PathBuf> {
        let real = std::fs::canonicalize(folder).ok().filter(|r| r.is_dir())?;
        self.watch_folders.insert(watch_id, real.clone());
        Some(real)
    }

    /// Takes back a removed watch's folder (a folder also dropped or picked stays granted).
    pub fn revoke_watch(&mut self, watch_id: i64) {
        self.watch_folders.remove(&watch_id);
    }

    fn is_granted_folder(&self, dir: &Path) -> bool {
        self.folders.contains(dir) || self.watch_folders.values().any(|f| f == dir)
    }

    /// The canonical path if it is a granted folder, a granted file, or a media file directly
    /// in a granted folder (a folder grants the files in it, as "Add folder…" and the CLI read
    /// it: not deeper, not a directory, not a hidden, partial or sidecar name).
    pub fn check(&self, path: &Path) -> Result<PathBuf, AppError> {
        let real = std::fs::canonicalize(path).map_err(|_| AppError::not_granted(path))?;
        if self.is_granted_folder(&real) {
            return Ok(real);
        }
        if is_ignored(path) || is_ignored(&real) {
            return Err(AppError::new(
                ErrorCode::PathNotGranted,
                format!(
                    "{} is a hidden, partial or caption-sidecar file: it is never uploaded",
                    path.display()
                ),
            ));
        }
        if self.files.contains(&real) && real.is_file() {
            return Ok(real);
        }
        let in_folder = real.parent().is_some_and(|dir| self.is_granted_folder(dir));
        if in_folder && real.is_file() {
            Ok(real)
        } else {
            Err(AppError::not_granted(path))
        }
    }

    /// Like [`Grants::check`], for commands that read one file: a folder is refused.
    pub fn check_file(&self, path: &Path) -> Result<PathBuf, AppError> {
        let real = self.check(path)?;
        if real.is_file() {
            Ok(real)
        } else {
            Err(AppError::invalid(format!(
                "{} is not a file",
                path.display()
            )))
        }
    }

    /// The files a granted path stands for: itself, or a folder's media files (sorted); each
    /// entry passes [`Grants::check`] itself, so a link out of the folder or a sub-folder is
    /// left out.
    pub fn expand(&self, path: &Path) -> Result<Vec<PathBuf>, AppError> {
        let real = self.check(path)?;
        if !real.is_dir() {
            return Ok(vec![real]);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&real)
            .map_err(|e| AppError::invalid(format!("cannot read {}: {e}", real.display())))?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let entry = e.path();
                let file = self.check(&entry).ok().filter(|f| f.is_file())?;
                (file.parent() == Some(real.as_path())).then_some(file)
            })
            .collect();
        files.sort();
        files.dedup();
        Ok(files)
    }
}

fn is_ignored(path: &Path) -> bool {
    use layers_uploader::media::names;
    names::is_partial_or_hidden(path) || names::is_caption_sidecar(path)
}

#[cfg(test)]
mod tests;
