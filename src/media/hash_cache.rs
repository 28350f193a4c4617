//! The sha-256 of files already read, kept across processes in `<data dir>/hash-cache.sqlite3`
//! and keyed by what any change to a file moves: (device, inode, size, mtime, ctime). It is a
//! memo, not state: when it is missing, corrupt, locked or unwritable the caller just hashes.
//! It lives apart from the queue store because device and inode only mean something on this
//! machine, and the store may move elsewhere.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

/// The cache file's name inside the data dir.
pub const FILE_NAME: &str = "hash-cache.sqlite3";
/// How many files the cache remembers before it forgets the least recently used (~150 bytes
/// each on disk, so a few MiB at most).
pub const DEFAULT_CAPACITY: u64 = 20_000;
/// A file changed less than this long ago is hashed but not remembered: a write in the same
/// timestamp tick as our stat would leave every stamp unchanged (FAT keeps 2 s mtimes).
pub const RACY_WINDOW: Duration = Duration::from_secs(2);
const SCHEMA_VERSION: i64 = 1;

/// What identifies one version of a file's bytes on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// The device holding the file (an inode number is unique only within one).
    pub dev: u64,
    /// The inode: a file renamed over this path has another.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch (what a touch or an ordinary write moves).
    pub mtime_ns: i64,
    /// Status-change time, ns since the epoch: moved by any write, chmod or rename, and not
    /// settable by the writer, so bytes swapped with the mtime put back still show.
    pub ctime_ns: i64,
}

impl FileStamp {
    /// The stamp of an open file (fstat, so it is the file we read, not whatever the path
    /// names now); `None` where the platform has no inode and ctime.
    pub fn of(meta: &std::fs::Metadata) -> Option<FileStamp> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileStamp {
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.len(),
                mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
                ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            None
        }
    }

    /// Whether the file changed so recently that a write we cannot see may share its stamps.
    pub fn is_racy(&self, now: SystemTime) -> bool {
        let newest = self.mtime_ns.max(self.ctime_ns);
        now_ns(now).saturating_sub(newest) < RACY_WINDOW.as_nanos() as i64
    }
}

/// Why the cache could not be used (logged once, never shown as a failure).
#[derive(Debug, thiserror::Error)]
pub enum HashCacheError {
    /// SQLite refused to open, read or write the cache file.
    #[error("the hash cache {path} cannot be used: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// An open hash cache. Every method swallows its own errors (logging the first): a broken
/// cache only costs the time of hashing again.
pub struct HashCache {
    path: PathBuf,
    capacity: u64,
    db: Mutex<Option<Connection>>,
    warned: AtomicBool,
}

impl HashCache {
    /// Opens (or creates) the cache at `path`; a file that is not a usable cache is replaced.
    /// Never fails: when nothing can be opened, every lookup misses.
    pub fn open(path: &Path, capacity: u64) -> HashCache {
        let cache = HashCache {
            path: path.to_path_buf(),
            capacity: capacity.max(1),
            db: Mutex::new(None),
            warned: AtomicBool::new(false),
        };
        let db = match connect(path) {
            Ok(db) => Some(db),
            Err(first) => {
                // Whatever is there is not a cache we can read: start a new one.
                tracing::debug!(error = %first, "rebuilding the hash cache");
                remove_db_files(path);
                connect(path).map_err(|e| cache.warn(&e)).ok()
            }
        };
        if let Ok(mut slot) = cache.db.lock() {
            *slot = db;
        }
        cache
    }

    /// The remembered sha-256 of exactly this version of a file, if any (and marks it used).
    pub fn get(&self, stamp: &FileStamp) -> Option<String> {
        let guard = self.db.lock().ok()?;
        let db = guard.as_ref()?;
        let found = db
            .query_row(
                "SELECT sha256 FROM hashes WHERE dev = ?1 AND ino = ?2 AND size = ?3 \
                 AND mtime_ns = ?4 AND ctime_ns = ?5",
                params![
                    stamp.dev as i64,
                    stamp.ino as i64,
                    stamp.size as i64,
                    stamp.mtime_ns,
                    stamp.ctime_ns
                ],
                |r| r.get::<_, String>(0),
            )
            .optional();
        match found {
            Ok(Some(sha)) if is_hex_sha256(&sha) => {
                let touched = db.execute(
                    "UPDATE hashes SET used_ms = ?3 WHERE dev = ?1 AND ino = ?2",
                    params![stamp.dev as i64, stamp.ino as i64, now_ms()],
                );
                if let Err(e) = touched {
                    self.warn_sqlite(e);
                }
                Some(sha)
            }
            Ok(_) => None,
            Err(e) => {
                self.warn_sqlite(e);
                None
            }
        }
    }

    /// Remembers `sha256` for this version of a file, forgetting the least recently used
    /// entries beyond the capacity.
    pub fn put(&self, stamp: &FileStamp, sha256: &str) {
        let Ok(guard) = self.db.lock() else { return };
        let Some(db) = guard.as_ref() else { return };
        let written = db
            .execute(
                "INSERT OR REPLACE INTO hashes (dev, ino, size, mtime_ns, ctime_ns, sha256, used_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    stamp.dev as i64,
                    stamp.ino as i64,
                    stamp.size as i64,
                    stamp.mtime_ns,
                    stamp.ctime_ns,
                    sha256,
                    now_ms()
                ],
            )
            .and_then(|_| {
                db.execute(
                    "DELETE FROM hashes WHERE rowid IN (SELECT rowid FROM hashes \
                     ORDER BY used_ms ASC LIMIT max(0, (SELECT count(*) FROM hashes) - ?1))",
                    params![self.capacity as i64],
                )
            });
        if let Err(e) = written {
            self.warn_sqlite(e);
        }
    }

    fn warn_sqlite(&self, source: rusqlite::Error) {
        self.warn(&HashCacheError::Sqlite {
            path: self.path.clone(),
            source,
        });
    }

    fn warn(&self, e: &HashCacheError) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!("{e}; files are hashed again instead");
        }
    }
}

/// Opens the database, checks it is ours and whole, and makes the table.
fn connect(path: &Path) -> Result<Connection, HashCacheError> {
    let sqlite = |source| HashCacheError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let db = Connection::open(path).map_err(sqlite)?;
    db.busy_timeout(Duration::from_millis(500))
        .map_err(sqlite)?;
    // A memo: losing the last writes in a power cut costs a re-hash, so no fsync per write.
    db.pragma_update(None, "synchronous", "OFF")
        .map_err(sqlite)?;
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sqlite)?;
    let check: String = db
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(sqlite)?;
    if check != "ok" || (version != 0 && version != SCHEMA_VERSION) {
        return Err(sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("quick_check: {check}, schema version {version}")),
        )));
    }
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS hashes (
            dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL, used_ms INTEGER NOT NULL,
            PRIMARY KEY (dev, ino));
         CREATE INDEX IF NOT EXISTS hashes_used ON hashes (used_ms);
         PRAGMA user_version = 1;",
    )
    .map_err(sqlite)?;
    Ok(db)
}

fn remove_db_files(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn now_ns(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn now_ms() -> i64 {
    now_ns(SystemTime::now()) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ino: u64) -> FileStamp {
        FileStamp {
            dev: 1,
            ino,
            size: 10,
            mtime_ns: 5,
            ctime_ns: 6,
        }
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn a_changed_stamp_misses_and_the_least_recently_used_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join(FILE_NAME), 2);
        cache.put(&stamp(1), SHA);
        assert_eq!(cache.get(&stamp(1)).as_deref(), Some(SHA));
        let touched = FileStamp {
            ctime_ns: 7,
            ..stamp(1)
        };
        assert_eq!(cache.get(&touched), None, "a new ctime is a new version");
        std::thread::sleep(Duration::from_millis(5));
        cache.put(&stamp(2), SHA);
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            cache.get(&stamp(1)).is_some(),
            "1 is now the most recently used"
        );
        std::thread::sleep(Duration::from_millis(5));
        cache.put(&stamp(3), SHA);
        assert!(
            cache.get(&stamp(2)).is_none(),
            "2 was the least recently used"
        );
        assert!(cache.get(&stamp(1)).is_some() && cache.get(&stamp(3)).is_some());
    }

    #[test]
    fn a_corrupt_file_is_replaced_by_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let cache = HashCache::open(&path, 10);
        assert_eq!(cache.get(&stamp(1)), None);
        cache.put(&stamp(1), SHA);
        assert_eq!(cache.get(&stamp(1)).as_deref(), Some(SHA));
    }

    #[test]
    fn a_cache_that_cannot_be_created_only_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("no/such/dir").join(FILE_NAME), 10);
        cache.put(&stamp(1), SHA);
        assert_eq!(cache.get(&stamp(1)), None);
    }

    #[test]
    fn a_file_changed_just_now_is_racy() {
        let now = SystemTime::now();
        let fresh = FileStamp {
            ctime_ns: now_ns(now) - 1_000_000,
            ..stamp(1)
        };
        assert!(fresh.is_racy(now));
        let old = FileStamp {
            ctime_ns: now_ns(now) - 3_000_000_000,
            mtime_ns: now_ns(now) - 3_000_000_000,
            ..stamp(1)
        };
        assert!(!old.is_racy(now));
    }
}
