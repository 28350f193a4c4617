//! What the other destinations need from the store (migration 3): the URLs of a URL-fetch post,
//! the PUT headers a reserve answer gave (media library), and a count of reserve sends (Loops
//! has no idempotency: a second send of one intent may leave an orphan, and the user is told).

use super::db::{params, OptionalExtension};

use super::rows::transition_in;
use super::types::Change;
use super::{now_ms, Store, StoreError};
use crate::api::types::Grouping;
use crate::queue::state::PostEvent;

/// Migration 3: per post the URL-fetch sources, per file the verbatim PUT headers, per session
/// how often (and when last) its reserve call was sent. The destination itself has been a
/// batch column since migration 1 (`layers-content`, `layers-url-fetch`, `layers-media:KIND`,
/// `loops`).
pub(super) const MIGRATION_DESTINATIONS: &str = r#"
ALTER TABLE posts ADD COLUMN source_urls TEXT;
ALTER TABLE post_files ADD COLUMN put_headers TEXT;
ALTER TABLE sessions ADD COLUMN sends INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN sent_at INTEGER;
CREATE INDEX sessions_by_sent ON sessions(sent_at);
"#;

impl Store {
    /// Stores a URL-fetch batch: one post whose media are `urls` (fetched by Layers in one
    /// atomic call). Returns the batch id and the post id.
    pub fn enqueue_url_fetch(
        &self,
        project_id: &str,
        urls: &[String],
        caption: &str,
    ) -> Result<(String, i64), StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let batch_id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        tx.execute(
            "INSERT INTO batches (id, created_at, project_id, destination, grouping, force,
                                  backend)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
            params![
                batch_id,
                now,
                project_id,
                crate::queue::names::LAYERS_URL_FETCH,
                Grouping::PerFile.as_str(),
                self.backend_for(crate::queue::names::LAYERS_URL_FETCH)
            ],
        )?;
        let urls_json = serde_json::to_string(urls)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode URLs: {e}")))?;
        tx.execute(
            "INSERT INTO posts (batch_id, position, state, caption, source_urls, created_at,
                                updated_at, origin)
             VALUES (?1, 0, 'queued', ?2, ?3, ?4, ?4, ?5)",
            params![batch_id, caption, urls_json, now, self.machine],
        )?;
        let post_id = tx.last_insert_rowid()?;
        tx.commit()?;
        Ok((batch_id, post_id))
    }

    /// Stores the URL-fetch call's Idempotency-Key and moves the post to `finalizing`, before
    /// the call is sent. A replay (the post is still `finalizing` after a crash, a timeout or a
    /// backoff) reuses the key; a post the user retried from `queued` gets a new one, since the
    /// server may replay an old answer for an old key.
    pub fn begin_url_fetch(&self, post_id: i64) -> Result<String, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let (state, existing): (String, Option<String>) = tx.query_row(
            "SELECT state, finalize_key FROM posts WHERE id = ?1",
            params![post_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let key = existing
            .filter(|_| state == "finalizing")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        tx.execute(
            "UPDATE posts SET finalize_key = ?1 WHERE id = ?2",
            params![key, post_id],
        )?;
        transition_in(
            &tx,
            self.owner().as_deref(),
            post_id,
            PostEvent::FetchFromUrls,
            &Change::default(),
        )?;
        tx.commit()?;
        Ok(key)
    }

    /// Counts a send of a session's reserve call (committed before the call goes out);
    /// returns how many sends came before this one.
    pub fn note_reserve_send(&self, session_id: i64) -> Result<i64, StoreError> {
        let conn = self.conn();
        let tx = conn.write_tx()?;
        let before: i64 = tx
            .query_row(
                "SELECT sends FROM sessions WHERE id = ?1",
                params![session_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NoSuchSession(session_id))?;
        tx.execute(
            "UPDATE sessions SET sends = sends + 1, sent_at = ?1 WHERE id = ?2",
            params![now_ms(), session_id],
        )?;
        tx.commit()?;
        Ok(before)
    }

    /// When each answered reserve call to `destination` was last sent, since `since_ms`,
    /// oldest first
    /// (Loops' upload limit counts creates in a window and does not say when it frees).
    pub fn reserve_sends_since(
        &self,
        destination: &str,
        since_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT s.sent_at FROM sessions s JOIN batches b ON b.id = s.batch_id
             WHERE b.destination = ?1 AND s.sent_at IS NOT NULL AND s.sent_at >= ?2
               AND s.response_json IS NOT NULL
             ORDER BY s.sent_at",
        )?;
        let rows = stmt.query_map(params![destination, since_ms], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// After a caption fix (`PATCH /v1/content/:id`): the completed post of that content item,
    /// if this store has it, keeps the new caption and the item as the server now returns it.
    /// Returns how many posts were updated (0 for an item uploaded elsewhere).
    pub fn record_caption_fix(
        &self,
        content_id: &str,
        caption: &str,
        content_json: &str,
    ) -> Result<usize, StoreError> {
        Ok(self.conn().execute(
            "UPDATE posts SET caption = ?1, content_json = ?2, updated_at = ?3
             WHERE container_id = ?4 AND state = 'completed'",
            params![caption, content_json, now_ms(), content_id],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::queue::store::{NewBatch, NewFile, NewPost, MIGRATIONS};

    fn batch(destination: &str) -> NewBatch {
        NewBatch {
            project_id: "prj".into(),
            destination: destination.into(),
            grouping: Grouping::PerFile,
            force: false,
            posts: vec![NewPost {
                caption: String::new(),
                files: vec![NewFile {
                    path: PathBuf::from("/m/a.png"),
                    filename: "a.png".into(),
                    content_type: "image/png".into(),
                    size_bytes: 3,
                    mtime_ns: Some(1),
                    sha256: "abc".into(),
                }],
                rejected: None,
            }],
        }
    }

    #[test]
    fn a_version_two_queue_gains_the_destination_columns_and_keeps_its_posts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
            conn.execute_batch(
                "INSERT INTO batches VALUES ('b1', 1, 'prj', 'layers-content', 'per-file', 0);
                 INSERT INTO posts (id, batch_id, position, state, caption, dedupe_key,
                                    created_at, updated_at)
                 VALUES (7, 'b1', 0, 'queued', 'old', 'abc', 1, 1);
                 INSERT INTO post_files (post_id, position, path, filename, content_type,
                                         size_bytes, sha256)
                 VALUES (7, 0, '/m/a.png', 'a.png', 'image/png', 3, 'abc');",
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            super::super::SCHEMA_VERSION
        );
        let old = store.post(7).unwrap();
        assert_eq!(
            old.dedupe_key.as_deref(),
            Some("abc"),
            "content keys stay as they were"
        );
        assert!(old.source_urls.is_empty());
        assert_eq!(old.files[0].put_headers, None);
    }

    #[test]
    fn the_ledger_key_carries_the_destination() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("q")).unwrap();
        let (_, content) = store.enqueue(&batch("layers-content")).unwrap();
        let (_, media) = store.enqueue(&batch("layers-media:logo")).unwrap();
        let (_, loops) = store.enqueue(&batch("loops")).unwrap();
        let key = |id: i64| store.post(id).unwrap().dedupe_key.unwrap();
        assert_eq!(key(content[0]), "abc");
        assert_eq!(key(media[0]), "layers-media:logo|abc");
        assert_eq!(key(loops[0]), "loops|abc");
        // Same bytes, other destination: not a twin.
        assert_eq!(store.earlier_twin(media[0]).unwrap(), None);
    }

    #[test]
    fn url_fetch_posts_keep_their_urls_and_one_key_and_reserve_sends_are_counted() {
        let store = Store::open(&tempfile::tempdir().unwrap().path().join("q")).unwrap();
        let urls = vec!["https://x/a.mp4".to_string()];
        let (batch_id, post) = store.enqueue_url_fetch("prj", &urls, "c").unwrap();
        let stored = store.post(post).unwrap();
        assert_eq!(stored.source_urls, urls);
        assert_eq!(stored.destination, "layers-url-fetch");
        assert_eq!(store.list(None).unwrap()[0].files, urls);
        let k1 = store.begin_url_fetch(post).unwrap();
        let k2 = store.begin_url_fetch(post).unwrap();
        assert_eq!(k1, k2, "a replay sends the same Idempotency-Key");
        // Cancelled while the call may have run: the retry replays it with the same key.
        store
            .transition(post, PostEvent::Cancel, Change::default())
            .unwrap();
        store
            .transition(post, PostEvent::Retry, Change::default())
            .unwrap();
        assert_eq!(store.post(post).unwrap().state.as_str(), "finalizing");
        assert_eq!(
            store.begin_url_fetch(post).unwrap(),
            k1,
            "replayed, not resent"
        );
        // Refused by the server (the runner forgets the key): a retry is a new operation.
        store.forget_finalize_key(post).unwrap();
        store
            .transition(post, PostEvent::Fail, Change::default())
            .unwrap();
        store
            .transition(post, PostEvent::Retry, Change::default())
            .unwrap();
        let k3 = store.begin_url_fetch(post).unwrap();
        assert_ne!(k1, k3, "a retry by the user is a new operation");
        let (_, ids) = store.enqueue(&batch("loops")).unwrap();
        let session = store.begin_session(&batch_id, &ids, "{}").unwrap();
        assert_eq!(store.note_reserve_send(session.id).unwrap(), 0);
        assert_eq!(store.note_reserve_send(session.id).unwrap(), 1);
        assert_eq!(store.session(session.id).unwrap().sends, 2);
    }
}
