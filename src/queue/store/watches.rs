//! Watch folders in the store: each watch's settings (so watches come back after a restart),
//! what it has already decided about each file (so a restart neither re-hashes a folder of
//! 10,000 files nor reports them again), and which posts it queued (for "move to Uploaded/").

use std::collections::HashMap;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use super::db::{params, OptionalExtension, Tx};

use super::types::NewBatch;
use super::{enqueue_in, now_ms, Store, StoreError};
use crate::api::types::Grouping;

/// Migration 2: the watch tables.
pub(super) const MIGRATION_WATCHES: &str = r#"
CREATE TABLE watches (
    id            INTEGER PRIMARY KEY,
    folder        TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    recursive     INTEGER NOT NULL,
    grouping      TEXT NOT NULL,
    caption       TEXT NOT NULL,
    settle_ms     INTEGER NOT NULL,
    move_uploaded INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (folder, project_id)
);
CREATE TABLE watch_files (
    watch_id   INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    stamp      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT,
    post_id    INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (watch_id, path)
);
CREATE TABLE watch_posts (
    post_id  INTEGER PRIMARY KEY REFERENCES posts(id) ON DELETE CASCADE,
    watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
    sidecar  TEXT,
    moved_at INTEGER
);
CREATE INDEX watch_posts_unmoved ON watch_posts(watch_id, moved_at);
"#;

/// A watch as the user set it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWatch {
    /// The watched folder, canonical.
    pub folder: PathBuf,
    pub project_id: String,
    pub recursive: bool,
    pub grouping: Grouping,
    /// The folder's default caption (used when a file has no sidecar).
    pub caption: String,
    pub settle_ms: u64,
    pub move_uploaded: bool,
}

/// A stored watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWatch {
    pub id: i64,
    pub settings: NewWatch,
}

/// What a watch decided about a file (or a slideshow folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Enqueued as (part of) a post.
    Queued,
    /// Same bytes already uploaded to, or queued for, the project.
    Duplicate,
    /// Not uploadable as it is (type, size, damage, caption); taken again when it changes.
    Refused,
}

impl Outcome {
    fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Queued, Outcome::Duplicate, Outcome::Refused]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Duplicate => "duplicate",
            Outcome::Refused => "refused",
        }
    }
}

/// One decision to remember: the path, the stamp (size, mtime…) it was made for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFile {
    pub path: PathBuf,
    pub stamp: String,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// A post a watch enqueues, with the decisions it settles and the sidecar that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedPost {
    pub seen: Vec<SeenFile>,
    pub sidecar: Option<PathBuf>,
}

/// A completed post of a "move to Uploaded/" watch whose files are still in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveDue {
    pub post_id: i64,
    pub files: Vec<PathBuf>,
    /// What was uploaded from each of `files` (same order), to tell a re-export apart.
    pub uploaded: Vec<UploadedFile>,
    pub sidecar: Option<PathBuf>,
}

/// The identity of the bytes uploaded from a file, as the post recorded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    pub size_bytes: u64,
    pub mtime_ns: Option<i64>,
    pub sha256: String,
}

impl Store {
    /// Creates or updates the watch of a folder for a project; returns it with its id.
    pub fn save_watch(&self, watch: &NewWatch) -> Result<StoredWatch, StoreError> {
        let now = now_ms();
        let id: i64 = self.conn().query_row(
            "INSERT INTO watches (folder, project_id, recursive, grouping, caption, settle_ms,
                                  move_uploaded, created_at, updated_at, machine)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
             ON CONFLICT(machine, folder, project_id) DO UPDATE SET recursive = excluded.recursive,
                 grouping = excluded.grouping, caption = excluded.caption,
                 settle_ms = excluded.settle_ms, move_uploaded = excluded.move_uploaded,
                 updated_at = excluded.updated_at
             RETURNING id",
            params![
                watch.folder.to_string_lossy(),
                watch.project_id,
                watch.recursive,
                watch.grouping.as_str(),
                watch.caption,
                watch.settle_ms as i64,
                watch.move_uploaded,
                now,
                self.watch_machine()
            ],
            |r| r.get(0),
        )?;
        Ok(StoredWatch {
            id,
            settings: watch.clone(),
        })
    }

    /// Every stored watch, oldest first (what the app starts again after a restart).
    pub fn watches(&self) -> Result<Vec<StoredWatch>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, folder, project_id, recursive, grouping, caption, settle_ms, move_uploaded
             FROM watches WHERE machine = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![self.watch_machine()], |r| {
            Ok((
                r.get::<i64>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
                r.get::<bool>(3)?,
                r.get::<String>(4)?,
                r.get::<String>(5)?,
                r.get::<i64>(6)?,
                r.get::<bool>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, folder, project_id, recursive, grouping, caption, settle_ms, move_uploaded) =
                row?;
            let grouping = match grouping.as_str() {
                "per-file" => Grouping::PerFile,
                "slideshow" => Grouping::Slideshow,
                other => return Err(StoreError::Corrupt(format!("watch grouping {other:?}"))),
            };
            out.push(StoredWatch {
                id,
                settings: NewWatch {
                    folder: PathBuf::from(folder),
                    project_id,
                    recursive,
                    grouping,
                    caption,
                    settle_ms: settle_ms.max(0) as u64,
                    move_uploaded,
                },
            });
        }
        Ok(out)
    }

    /// The stamp each path had when the watch last decided about it, and the decision.
    pub fn seen_files(
        &self,
        watch_id: i64,
    ) -> Result<HashMap<PathBuf, (String, Outcome)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT path, stamp, outcome FROM watch_files WHERE watch_id = ?1")?;
        let rows = stmt.query_map(params![watch_id], |r| {
            Ok((
                super::rows::path_from(r.get::<super::db::Value>(0)?)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
            ))
        })?;
        let mut out = HashMap::new();
        for row in rows {
            let (path, stamp, outcome) = row?;
            let outcome = Outcome::parse(&outcome)
                .ok_or_else(|| StoreError::Corrupt(format!("watch outcome {outcome:?}")))?;
            out.insert(path, (stamp, outcome));
        }
        Ok(out)
    }

    /// Remembers decisions that did not enqueue anything (duplicates, refusals).
    pub fn remember_seen(&self, watch_id: i64, seen: &[SeenFile]) -> Result<(), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        for s in seen {
            upsert_seen(&tx, watch_id, s, None)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Enqueues a watch's batch and remembers its decisions in one transaction, so a crash
    /// can neither lose a settled file nor queue it twice.
    pub fn enqueue_watched(
        &self,
        watch_id: i64,
        batch: &NewBatch,
        watched: &[WatchedPost],
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let (_, ids) = enqueue_in(
            &tx,
            batch,
            &self.backend_for(&batch.destination),
            &self.machine,
        )?;
        for (post_id, w) in ids.iter().zip(watched) {
            tx.execute(
                "INSERT INTO watch_posts (post_id, watch_id, sidecar) VALUES (?1, ?2, ?3)",
                params![
                    post_id,
                    watch_id,
                    w.sidecar.as_ref().map(|p| p.to_string_lossy())
                ],
            )?;
            for s in &w.seen {
                upsert_seen(&tx, watch_id, s, Some(*post_id))?;
            }
        }
        tx.commit()?;
        Ok(ids)
    }

    /// A post of the project with these bytes that is still to finish (queued, uploading,
    /// waiting, paused): enqueuing another would only produce a skipped row.
    pub fn unfinished_twin(
        &self,
        project_id: &str,
        dedupe: &str,
    ) -> Result<Option<i64>, StoreError> {
        let (layers, loops) = self.backend_params();
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT p.id FROM posts p JOIN batches b ON b.id = p.batch_id
                     WHERE p.dedupe_key = ?1 AND b.project_id = ?2 AND {}
                       AND p.state NOT IN ('completed', 'failed', 'cancelled', 'skipped', 'blocked')
                     ORDER BY p.id LIMIT 1",
                    super::backend::batch_matches("b", 3)
                ),
                params![dedupe, project_id, layers, loops],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Completed posts of a watch whose files have not been moved to `Uploaded/` yet.
    pub fn moves_due(&self, watch_id: i64) -> Result<Vec<MoveDue>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT w.post_id, w.sidecar FROM watch_posts w JOIN posts p ON p.id = w.post_id
             WHERE w.watch_id = ?1 AND w.moved_at IS NULL AND p.state = 'completed'
             ORDER BY w.post_id",
        )?;
        let rows = stmt.query_map(params![watch_id], |r| {
            Ok((r.get::<i64>(0)?, r.get::<Option<String>>(1)?))
        })?;
        let due: Vec<(i64, Option<String>)> = rows.collect::<Result<_, _>>()?;
        let mut files_stmt = conn.prepare(
            "SELECT path, size_bytes, mtime_ns, sha256 FROM post_files WHERE post_id = ?1
             ORDER BY position",
        )?;
        let mut out = Vec::with_capacity(due.len());
        for (post_id, sidecar) in due {
            let rows: Vec<(String, UploadedFile)> = files_stmt
                .query_map(params![post_id], |r| {
                    Ok((
                        r.get::<String>(0)?,
                        UploadedFile {
                            size_bytes: r.get::<i64>(1)?.max(0) as u64,
                            mtime_ns: r.get(2)?,
                            sha256: r.get(3)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let (files, uploaded) = rows.into_iter().map(|(p, u)| (PathBuf::from(p), u)).unzip();
            out.push(MoveDue {
                post_id,
                files,
                uploaded,
                sidecar: sidecar.map(PathBuf::from),
            });
        }
        Ok(out)
    }

    /// Records that a post's files were moved to `Uploaded/`.
    pub fn mark_moved(&self, post_id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE watch_posts SET moved_at = ?1 WHERE post_id = ?2",
            params![now_ms(), post_id],
        )?;
        Ok(())
    }
}

fn upsert_seen(
    tx: &Tx<'_>,
    watch_id: i64,
    s: &SeenFile,
    post_id: Option<i64>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO watch_files (watch_id, path, stamp, outcome, detail, post_id, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(watch_id, path) DO UPDATE SET stamp = excluded.stamp,
             outcome = excluded.outcome, detail = excluded.detail, post_id = excluded.post_id,
             updated_at = excluded.updated_at",
        params![
            watch_id,
            super::rows::path_value(&s.path),
            s.stamp,
            s.outcome.as_str(),
            s.detail,
            post_id,
            now_ms()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::store::{NewFile, NewPost};

    fn watch(folder: &str) -> NewWatch {
        NewWatch {
            folder: PathBuf::from(folder),
            project_id: "p1".into(),
            recursive: false,
            grouping: Grouping::PerFile,
            caption: "default".into(),
            settle_ms: 500,
            move_uploaded: true,
        }
    }

    fn post(sha: &str) -> NewPost {
        NewPost {
            caption: String::new(),
            files: vec![NewFile {
                path: PathBuf::from(format!("/w/{sha}.jpg")),
                filename: format!("{sha}.jpg"),
                content_type: "image/jpeg".into(),
                size_bytes: 10,
                mtime_ns: Some(1),
                sha256: sha.into(),
            }],
            rejected: None,
        }
    }

    #[test]
    fn a_version_one_queue_gains_the_watch_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(super::super::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            super::super::SCHEMA_VERSION
        );
        assert!(store.watches().unwrap().is_empty());
    }

    #[test]
    fn a_saved_watch_is_updated_in_place_and_keeps_its_decisions() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("q")).unwrap();
        let first = store.save_watch(&watch("/w")).unwrap();
        let seen = SeenFile {
            path: PathBuf::from("/w/a.gif"),
            stamp: "1:2:3".into(),
            outcome: Outcome::Refused,
            detail: Some("unsupported_type".into()),
        };
        store.remember_seen(first.id, &[seen]).unwrap();
        let mut changed = watch("/w");
        changed.settle_ms = 2000;
        let again = store.save_watch(&changed).unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(store.watches().unwrap()[0].settings.settle_ms, 2000);
        let seen = store.seen_files(first.id).unwrap();
        assert_eq!(
            seen.get(Path::new("/w/a.gif")),
            Some(&("1:2:3".to_string(), Outcome::Refused))
        );
    }

    #[test]
    fn watched_posts_are_twins_until_done_then_due_for_moving_once() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("q")).unwrap();
        let w = store.save_watch(&watch("/w")).unwrap();
        let batch = NewBatch {
            project_id: "p1".into(),
            destination: "layers-content".into(),
            grouping: Grouping::PerFile,
            force: false,
            posts: vec![post("aa")],
        };
        let watched = WatchedPost {
            seen: vec![SeenFile {
                path: PathBuf::from("/w/aa.jpg"),
                stamp: "s".into(),
                outcome: Outcome::Queued,
                detail: None,
            }],
            sidecar: Some(PathBuf::from("/w/aa.txt")),
        };
        let ids = store.enqueue_watched(w.id, &batch, &[watched]).unwrap();
        assert_eq!(store.unfinished_twin("p1", "aa").unwrap(), Some(ids[0]));
        assert_eq!(store.unfinished_twin("p2", "aa").unwrap(), None);
        assert!(
            store.moves_due(w.id).unwrap().is_empty(),
            "not completed yet"
        );
        store
            .conn()
            .execute(
                "UPDATE posts SET state = 'completed'",
                super::super::db::params![],
            )
            .unwrap();
        let due = store.moves_due(w.id).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].files, vec![PathBuf::from("/w/aa.jpg")]);
        assert_eq!(due[0].sidecar, Some(PathBuf::from("/w/aa.txt")));
        store.mark_moved(ids[0]).unwrap();
        assert!(store.moves_due(w.id).unwrap().is_empty());
        assert_eq!(store.unfinished_twin("p1", "aa").unwrap(), None);
    }
}
