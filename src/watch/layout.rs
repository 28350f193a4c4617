//! How a watched folder is read: what a changed path means under the watch's policy (a media
//! file, a slideshow folder, a sidecar, an ignored name), the stamps that say whether something
//! changed, and the catch-up scan.

use std::fs;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::settle::Key;
use crate::media::names;

/// The folder inside a watched folder that uploaded files are moved to (`--move-uploaded`);
/// never watched itself.
pub const UPLOADED_DIR: &str = "Uploaded";

/// The caption file inside a slideshow folder.
pub const SLIDESHOW_CAPTION: &str = "caption.txt";

/// What a path under the watched folder is, for this watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meaning {
    /// A file or folder to settle and take.
    Candidate(Key),
    /// A caption sidecar: its media's window restarts (or a refusal is reconsidered).
    Sidecar(PathBuf),
    /// A name that is never taken, with the reason to report.
    Ignored(PathBuf, &'static str),
    /// A new folder in a recursive per-file watch: scan it (files moved in raise no events).
    Subtree(PathBuf),
}

/// A watched folder and its policy.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub recursive: bool,
    pub slideshow: bool,
}

impl Layout {
    /// Where `--move-uploaded` puts files.
    pub fn uploaded_dir(&self) -> PathBuf {
        self.root.join(UPLOADED_DIR)
    }

    /// What a changed path means; `None` for paths the watch does not look at (outside the
    /// folder, inside `Uploaded/` or a hidden folder, deeper than the policy goes).
    pub fn classify(&self, path: &Path) -> Option<Meaning> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Vec<&std::ffi::OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s),
                _ => None,
            })
            .collect();
        let first = parts.first()?;
        if *first == UPLOADED_DIR {
            return None;
        }
        // Anything inside a hidden or temporary folder is not looked at.
        if parts[..parts.len() - 1]
            .iter()
            .any(|p| names::is_partial_or_hidden(Path::new(p)))
        {
            return None;
        }
        let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if self.slideshow {
            if parts.len() >= 2 || is_dir {
                let folder = self.root.join(first);
                if names::is_partial_or_hidden(&folder) {
                    return None;
                }
                return Some(Meaning::Candidate(Key::Folder(folder)));
            }
        } else if is_dir {
            return self.recursive.then(|| Meaning::Subtree(path.to_path_buf()));
        } else if parts.len() >= 2 && !self.recursive {
            return None;
        }
        Some(self.file_meaning(path))
    }

    fn file_meaning(&self, path: &Path) -> Meaning {
        if let Some(reason) = names::ignore_reason(path) {
            Meaning::Ignored(path.to_path_buf(), reason)
        } else if names::is_caption_sidecar(path) {
            Meaning::Sidecar(path.to_path_buf())
        } else {
            Meaning::Candidate(Key::File(path.to_path_buf()))
        }
    }

    /// Everything under `dir` (the root, or a folder that appeared) as the policy sees it: the
    /// catch-up scan at start, after an event overflow, and for folders moved in whole.
    pub fn scan(&self, dir: &Path) -> Vec<Meaning> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    match self.classify(&path) {
                        Some(Meaning::Subtree(p)) => stack.push(p),
                        Some(m @ Meaning::Candidate(Key::Folder(_))) => out.push(m),
                        _ => {}
                    }
                } else if kind.is_file() {
                    match self.classify(&path) {
                        Some(Meaning::Sidecar(_)) | None => {}
                        Some(m) => out.push(m),
                    }
                }
            }
        }
        out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        out.dedup();
        out
    }
}

/// A file's stamp: size, mtime (ns) and inode; `None` when it is gone or not a file.
pub fn file_stamp(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok().filter(|m| m.is_file())?;
    let mtime = crate::queue::plan::mtime_ns(&m).unwrap_or(0);
    Some(format!("{}:{mtime}:{}", m.len(), inode(&m)))
}

#[cfg(unix)]
fn inode(m: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &fs::Metadata) -> u64 {
    0
}

/// A folder's stamp: a digest of every entry in it (name and stamp), so any file written,
/// added, renamed or removed changes it; `None` when the folder is gone.
pub fn folder_stamp(dir: &Path) -> Option<String> {
    let mut entries: Vec<(String, String)> = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            let stamp = file_stamp(&p).unwrap_or_else(|| {
                fs::metadata(&p)
                    .ok()
                    .and_then(|m| crate::queue::plan::mtime_ns(&m))
                    .map_or_else(String::new, |t| format!("dir:{t}"))
            });
            (e.file_name().to_string_lossy().into_owned(), stamp)
        })
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (name, stamp) in &entries {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(stamp.as_bytes());
        hasher.update([0]);
    }
    Some(format!(
        "dir:{}:{}",
        entries.len(),
        &hex::encode(hasher.finalize())[..16]
    ))
}

/// The stamp of a key, whatever it is.
pub fn stamp(key: &Key) -> Option<String> {
    match key {
        Key::File(p) => file_stamp(p),
        Key::Folder(p) => folder_stamp(p),
    }
}

/// The images of a slideshow folder in name order (files directly in it, leaving out ignored
/// names and `.txt` files), and the ignored names found.
pub fn slideshow_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut ignored) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|t| t.is_file()) || names::is_caption_sidecar(&path) {
            continue;
        }
        if names::is_partial_or_hidden(&path) {
            ignored.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort();
    ignored.sort();
    (files, ignored)
}

/// The sidecar of a media file: `<stem>.txt` next to it.
pub fn sidecar_of(media: &Path) -> Option<PathBuf> {
    let stem = media.file_stem()?;
    let mut name = stem.to_os_string();
    name.push(".txt");
    Some(media.with_file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(root: &Path, recursive: bool, slideshow: bool) -> Layout {
        Layout {
            root: root.to_path_buf(),
            recursive,
            slideshow,
        }
    }

    #[test]
    fn paths_mean_what_the_policy_says() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("trip")).unwrap();
        let flat = layout(root, false, false);
        let clip = root.join("clip.mp4");
        assert_eq!(
            flat.classify(&clip),
            Some(Meaning::Candidate(Key::File(clip.clone())))
        );
        assert!(matches!(
            flat.classify(&root.join("clip.mp4.part")),
            Some(Meaning::Ignored(..))
        ));
        assert_eq!(
            flat.classify(&root.join("clip.txt")),
            Some(Meaning::Sidecar(root.join("clip.txt")))
        );
        assert_eq!(flat.classify(&root.join("trip/a.jpg")), None);
        assert_eq!(flat.classify(&root.join("Uploaded/clip.mp4")), None);
        assert_eq!(flat.classify(Path::new("/elsewhere/a.jpg")), None);

        let deep = layout(root, true, false);
        assert_eq!(
            deep.classify(&root.join("trip")),
            Some(Meaning::Subtree(root.join("trip")))
        );
        assert_eq!(deep.classify(&root.join(".cache/a.jpg")), None);

        let shows = layout(root, false, true);
        let trip = Meaning::Candidate(Key::Folder(root.join("trip")));
        assert_eq!(shows.classify(&root.join("trip")), Some(trip.clone()));
        assert_eq!(shows.classify(&root.join("trip/01.jpg")), Some(trip));
        assert_eq!(
            shows.classify(&clip),
            Some(Meaning::Candidate(Key::File(clip)))
        );
    }

    #[test]
    fn a_folder_stamp_changes_with_any_entry() {
        let dir = tempfile::tempdir().unwrap();
        let before = folder_stamp(dir.path()).unwrap();
        fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        let one = folder_stamp(dir.path()).unwrap();
        assert_ne!(before, one);
        fs::write(dir.path().join("a.jpg"), b"xy").unwrap();
        assert_ne!(one, folder_stamp(dir.path()).unwrap());
        assert!(folder_stamp(&dir.path().join("gone")).is_none());
    }

    #[test]
    fn scan_finds_candidates_and_ignored_names_but_not_uploaded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a.jpg",
            "b.mp4.part",
            "a.txt",
            "Uploaded/old.jpg",
            "sub/c.jpg",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, b"x").unwrap();
        }
        let found = layout(root, false, false).scan(root);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&Meaning::Candidate(Key::File(root.join("a.jpg")))));
        let deep = layout(root, true, false).scan(root);
        assert!(deep.contains(&Meaning::Candidate(Key::File(root.join("sub/c.jpg")))));
        assert_eq!(
            sidecar_of(&root.join("a.b.jpg")),
            Some(root.join("a.b.txt"))
        );
    }
}
