//! The state file: everything a restart must find again (containers, objects' metadata, media
//! uploads, Loops assets and their rate window, the idempotency answers, the URL-signing
//! secret). Written whole to a temp file, fsynced, renamed over the old one and the directory
//! fsynced, so a `kill -9` at any instant leaves either the old file or the new one, never a
//! torn one. Object bytes live beside it under `objects/` (see `storage.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::idempotency::SavedReplay;
use crate::state::World;

/// The state file's name inside the data dir.
pub const STATE_FILE: &str = "sandbox-state.json";

/// Bumped when the file's shape changes incompatibly.
const FORMAT: u32 = 1;

/// Why the saved state could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The disk refused.
    #[error("cannot write or read {}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not one this sandbox wrote (or a newer format).
    #[error("{} is not a sandbox state file this version can read ({reason}); move it away to start empty", path.display())]
    Unreadable {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The state could not be serialized (never expected).
    #[error("cannot encode the sandbox state: {0}")]
    Encode(#[from] serde_json::Error),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SavedRef<'a> {
    format: u32,
    base_url: &'a str,
    signer_secret: String,
    world: &'a World,
    idempotency: Vec<SavedReplay>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    format: u32,
    base_url: String,
    signer_secret: String,
    world: World,
    #[serde(default)]
    idempotency: Vec<SavedReplay>,
}

/// What a previous run left: reloaded into the new run's `App`.
pub struct Loaded {
    /// The URL-signing secret, so presigned URLs issued before the restart still verify.
    pub signer_secret: [u8; 32],
    /// Containers, objects, media, Loops (URLs already rewritten to the new base).
    pub world: World,
    /// Cached `2xx` answers.
    pub idempotency: Vec<SavedReplay>,
}

/// Encodes the state for [`write_atomic`].
pub fn encode(
    base_url: &str,
    signer_secret: [u8; 32],
    world: &World,
    idempotency: Vec<SavedReplay>,
) -> Result<Vec<u8>, PersistError> {
    Ok(serde_json::to_vec(&SavedRef {
        format: FORMAT,
        base_url,
        signer_secret: hex::encode(signer_secret),
        world,
        idempotency,
    })?)
}

/// Replaces the state file with `bytes`: temp file, fsync, rename, fsync of the directory.
pub fn write_atomic(dir: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let dest = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PersistError::Io { path, source }
    };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // It holds the signing secret and response bodies: this user only.
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    sync_dir(dir).map_err(io_err(dir))
}

/// Makes a rename or create inside `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The base URL the previous run served (its port is reused when free), if any state exists.
pub fn saved_base_url(dir: &Path) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Head {
        base_url: String,
    }
    let text = fs::read(dir.join(STATE_FILE)).ok()?;
    serde_json::from_slice::<Head>(&text)
        .ok()
        .map(|h| h.base_url)
}

/// Reads the previous run's state; `None` when there is none. URLs the previous run handed
/// out under another base (another port) are rewritten to `base_url`.
pub fn load(dir: &Path, base_url: &str) -> Result<Option<Loaded>, PersistError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PersistError::Io { path, source }),
    };
    let unreadable = |reason: String| PersistError::Unreadable {
        path: path.clone(),
        reason,
    };
    let head: Saved = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
    if head.format != FORMAT {
        return Err(unreadable(format!("format {}", head.format)));
    }
    let saved = if head.base_url == base_url {
        head
    } else {
        let old = format!("{}/", head.base_url);
        let rewritten = text.replace(&old, &format!("{base_url}/"));
        serde_json::from_str(&rewritten).map_err(|e| unreadable(e.to_string()))?
    };
    let secret = hex::decode(&saved.signer_secret)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| unreadable("bad signer secret".to_string()))?;
    Ok(Some(Loaded {
        signer_secret: secret,
        world: saved.world,
        idempotency: saved.idempotency,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_reloads_with_urls_moved_to_the_new_base() {
        let dir = tempfile::tempdir().unwrap();
        let mut world = World {
            next_seq: 7,
            ..World::default()
        };
        world.loops_creates.insert(
            "k".to_string(),
            std::iter::once(5).collect::<std::collections::VecDeque<u64>>(),
        );
        world.loops.insert(
            "a".to_string(),
            crate::state::LoopsAsset {
                email_asset_id: "a".to_string(),
                key_fingerprint: "f".to_string(),
                content_type: "image/png".to_string(),
                content_length: 3,
                key: "k".to_string(),
                final_url: Some("http://127.0.0.1:1/media/k".to_string()),
            },
        );
        let bytes = encode("http://127.0.0.1:1", [9; 32], &world, Vec::new()).unwrap();
        write_atomic(dir.path(), &bytes).unwrap();
        assert_eq!(
            saved_base_url(dir.path()).as_deref(),
            Some("http://127.0.0.1:1")
        );
        let loaded = load(dir.path(), "http://127.0.0.1:2").unwrap().unwrap();
        assert_eq!(loaded.signer_secret, [9; 32]);
        assert_eq!(loaded.world.next_seq, 7);
        assert_eq!(
            loaded.world.loops["a"].final_url.as_deref(),
            Some("http://127.0.0.1:2/media/k")
        );
        assert!(!dir.path().join(format!("{STATE_FILE}.tmp")).exists());
    }

    #[test]
    fn a_garbled_state_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), "http://x").unwrap().is_none());
        fs::write(dir.path().join(STATE_FILE), b"{\"format\":1,").unwrap();
        let err = load(dir.path(), "http://x").err().unwrap().to_string();
        assert!(err.contains(STATE_FILE), "{err}");
        assert!(err.contains("move it away"), "{err}");
    }
}
