//! Reading a file's bytes: opening only regular files, the read chunk, and the one sha-256 of a
//! file every caller uses (inspection, the queue's re-checks, the media library and Loops, the
//! watch), which asks the process's [`HashCache`] first when one is in use.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::hash_cache::{FileStamp, HashCache, DEFAULT_CAPACITY, FILE_NAME};

/// Chunk size for reading files (hashing, and later the PUT): large enough for full disk speed.
pub const READ_CHUNK: usize = 256 * 1024;

/// Where the process's hash cache lives: set once by the front end that knows the data dir
/// (the CLI, the app). A memo of a pure function, so one per process is the right scope;
/// library users that never set it hash every time.
static CACHE_DIR: OnceLock<PathBuf> = OnceLock::new();
/// The cache itself, opened at the first hash (commands that hash nothing never open it).
static CACHE: OnceLock<HashCache> = OnceLock::new();

/// Remembers file hashes in `<data_dir>/hash-cache.sqlite3` for the rest of this process, so
/// unchanged files are not read again (here or in a later run). The first call wins.
pub fn use_hash_cache_in(data_dir: &Path) {
    let _ = CACHE_DIR.set(data_dir.to_path_buf());
}

fn cache() -> Option<&'static HashCache> {
    let dir = CACHE_DIR.get()?;
    Some(CACHE.get_or_init(|| {
        // Best effort: an uncreatable dir only means every lookup misses.
        let _ = std::fs::create_dir_all(dir);
        HashCache::open(&dir.join(FILE_NAME), DEFAULT_CAPACITY)
    }))
}

/// Opens a file for reading only if it is a regular file. The open never blocks (O_NONBLOCK:
/// a FIFO or device named like a video would otherwise hang the open until a writer comes),
/// and the type is checked on the opened handle, so a file swapped for something else between
/// a stat and the open is caught too. A non-regular file is `InvalidInput`.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a folder, pipe or device)",
        ))
    }
}

/// Hex sha-256 of a whole open file: from the hash cache when this exact version of the file
/// (device, inode, size, mtime, ctime of the handle) was hashed before, else read in
/// `READ_CHUNK` pieces from the start and remembered if the file did not change meanwhile.
pub fn sha256_file(file: &mut File) -> io::Result<String> {
    let Some(cache) = cache() else {
        return hash_bytes(file);
    };
    let before = file.metadata().ok().as_ref().and_then(FileStamp::of);
    if let Some(hit) = before.as_ref().and_then(|s| cache.get(s)) {
        return Ok(hit);
    }
    let sha = hash_bytes(file)?;
    let after = file.metadata().ok().as_ref().and_then(FileStamp::of);
    if let Some(stamp) = before.filter(|b| Some(*b) == after) {
        if !stamp.is_racy(SystemTime::now()) {
            cache.put(&stamp, &sha);
        }
    }
    Ok(sha)
}

/// Hex sha-256 of the file at `path` (through the hash cache, like [`sha256_file`]).
pub fn sha256_path(path: &Path) -> io::Result<String> {
    sha256_file(&mut open_regular(path)?)
}

fn hash_bytes(file: &mut File) -> io::Result<String> {
    file.seek(io::SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
