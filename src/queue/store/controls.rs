//! What a front end that manages the queue and its watches needs beyond running them: a
//! watch's tally of decisions (taken, skipped and why), removing a watch, and recording a
//! caption fixed after completion (the item itself is fixed with `PATCH`, never re-finalized).

use std::path::PathBuf;

use super::db::params;
use serde::Serialize;

use super::{now_ms, Store, StoreError};

/// How many of a watch's latest non-taken decisions [`Store::watch_tally`] lists.
pub const TALLY_RECENT: usize = 20;

/// One decision of a watch that did not take the file, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchDecision {
    pub path: PathBuf,
    /// `duplicate` or `refused`.
    pub outcome: String,
    pub detail: Option<String>,
    pub updated_at: i64,
}

/// What a watch has done so far.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchTally {
    /// Files (or slideshow folders) enqueued.
    pub taken: u64,
    /// Same bytes already uploaded or queued.
    pub duplicates: u64,
    /// Not uploadable as they are.
    pub refused: u64,
    /// The latest duplicates and refusals, newest first.
    pub recent: Vec<WatchDecision>,
}

impl Store {
    /// The counts of a watch's decisions and its latest skips with their reasons.
    pub fn watch_tally(&self, watch_id: i64) -> Result<WatchTally, StoreError> {
        let conn = self.conn();
        let mut tally = WatchTally::default();
        let mut stmt = conn.prepare(
            "SELECT outcome, COUNT(*) FROM watch_files WHERE watch_id = ?1 GROUP BY outcome",
        )?;
        let rows = stmt.query_map(params![watch_id], |r| {
            Ok((r.get::<String>(0)?, r.get::<i64>(1)?))
        })?;
        for row in rows {
            let (outcome, n) = row?;
            let n = n.max(0) as u64;
            match outcome.as_str() {
                "queued" => tally.taken = n,
                "duplicate" => tally.duplicates = n,
                "refused" => tally.refused = n,
                other => return Err(StoreError::Corrupt(format!("watch outcome {other:?}"))),
            }
        }
        let mut stmt = conn.prepare(
            "SELECT path, outcome, detail, updated_at FROM watch_files
             WHERE watch_id = ?1 AND outcome != 'queued'
             ORDER BY updated_at DESC, path LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![watch_id, TALLY_RECENT as i64], |r| {
            Ok(WatchDecision {
                path: super::rows::path_from(r.get::<super::db::Value>(0)?)?,
                outcome: r.get(1)?,
                detail: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })?;
        for row in rows {
            tally.recent.push(row?);
        }
        Ok(tally)
    }

    /// Forgets a watch and its decisions (its posts stay in the queue); `false` if unknown.
    pub fn delete_watch(&self, watch_id: i64) -> Result<bool, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        tx.execute(
            "DELETE FROM watch_files WHERE watch_id = ?1",
            params![watch_id],
        )?;
        tx.execute(
            "DELETE FROM watch_posts WHERE watch_id = ?1",
            params![watch_id],
        )?;
        let n = tx.execute("DELETE FROM watches WHERE id = ?1", params![watch_id])?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Records the caption a completed post now has on Layers (after a `PATCH`).
    pub fn record_caption(&self, post_id: i64, caption: &str) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE posts SET caption = ?1, updated_at = ?2 WHERE id = ?3",
            params![caption, now_ms(), post_id],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchPost(post_id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Grouping;
    use crate::queue::store::{NewBatch, NewFile, NewPost, NewWatch, Outcome, SeenFile};

    fn seen(path: &str, outcome: Outcome, detail: Option<&str>) -> SeenFile {
        SeenFile {
            path: PathBuf::from(path),
            stamp: "1:1".into(),
            outcome,
            detail: detail.map(str::to_owned),
        }
    }

    fn store_with_watch() -> (tempfile::TempDir, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let w = store
            .save_watch(&NewWatch {
                folder: PathBuf::from("/exports"),
                project_id: "p1".into(),
                recursive: false,
                grouping: Grouping::PerFile,
                caption: String::new(),
                settle_ms: 5000,
                move_uploaded: false,
            })
            .unwrap();
        (dir, store, w.id)
    }

    #[test]
    fn a_tally_counts_each_outcome_and_lists_the_reasons_for_skips() {
        let (_dir, store, id) = store_with_watch();
        assert_eq!(store.watch_tally(id).unwrap(), WatchTally::default());
        store
            .remember_seen(
                id,
                &[
                    seen("/exports/a.mp4", Outcome::Queued, None),
                    seen("/exports/b.mp4", Outcome::Queued, None),
                    seen(
                        "/exports/c.mp4",
                        Outcome::Duplicate,
                        Some("already uploaded"),
                    ),
                    seen(
                        "/exports/d.gif",
                        Outcome::Refused,
                        Some("unsupported_type: a GIF"),
                    ),
                ],
            )
            .unwrap();
        let t = store.watch_tally(id).unwrap();
        assert_eq!((t.taken, t.duplicates, t.refused), (2, 1, 1));
        let mut reasons: Vec<_> = t
            .recent
            .iter()
            .map(|d| (d.outcome.as_str(), d.detail.as_deref().unwrap()))
            .collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                ("duplicate", "already uploaded"),
                ("refused", "unsupported_type: a GIF")
            ]
        );
    }

    #[test]
    fn removing_a_watch_forgets_its_decisions_but_not_other_watches() {
        let (_dir, store, id) = store_with_watch();
        store
            .remember_seen(id, &[seen("/exports/c.mp4", Outcome::Duplicate, None)])
            .unwrap();
        assert!(store.delete_watch(id).unwrap());
        assert!(!store.delete_watch(id).unwrap(), "already gone");
        assert!(store.watches().unwrap().is_empty());
        assert_eq!(store.watch_tally(id).unwrap(), WatchTally::default());
    }

    #[test]
    fn a_fixed_caption_is_recorded_on_the_post() {
        let (_dir, store, _) = store_with_watch();
        let (_, ids) = store
            .enqueue(&NewBatch {
                project_id: "p1".into(),
                destination: "layers-content".into(),
                grouping: Grouping::PerFile,
                force: false,
                posts: vec![NewPost {
                    caption: "old".into(),
                    files: vec![NewFile {
                        path: PathBuf::from("/exports/a.jpg"),
                        filename: "a.jpg".into(),
                        content_type: "image/jpeg".into(),
                        size_bytes: 10,
                        mtime_ns: None,
                        sha256: "ab".repeat(32),
                    }],
                    rejected: None,
                }],
            })
            .unwrap();
        store.record_caption(ids[0], "new ✨").unwrap();
        assert_eq!(store.post(ids[0]).unwrap().caption, "new ✨");
        assert!(matches!(
            store.record_caption(9999, "x"),
            Err(StoreError::NoSuchPost(9999))
        ));
    }
}
