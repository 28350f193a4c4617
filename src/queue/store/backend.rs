//! Which service a post is for (migration 4). One data dir is shared by the CLI and the app,
//! and each may talk to a different service: the live API, a test server on another base, or
//! the app's embedded sandbox. Every batch records the service it was enqueued for, the
//! ledger is keyed by it, and a store handle bound to a backend claims, dedupes against and
//! skips by only that backend's rows. So a sandbox run never works a live post, and an upload
//! "completed" against a sandbox never makes the real upload of the same bytes look done.

use serde::{Deserialize, Serialize};

use super::Store;

/// The backend name of the app's embedded sandbox (its port changes every run).
pub const SANDBOX_BACKEND: &str = "sandbox";

/// The services a store handle works for: one for Layers destinations, one for Loops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// The normalized Layers API base, or [`SANDBOX_BACKEND`].
    pub layers: String,
    /// The normalized Loops API base, or [`SANDBOX_BACKEND`].
    pub loops: String,
}

impl Backend {
    /// Real services at these API bases (normalized: no trailing slash, lowercase host).
    pub fn at(layers_base: &str, loops_base: &str) -> Backend {
        Backend {
            layers: normalize_base(layers_base),
            loops: normalize_base(loops_base),
        }
    }

    /// The app's embedded sandbox, for Layers and Loops alike.
    pub fn sandbox() -> Backend {
        Backend {
            layers: SANDBOX_BACKEND.to_string(),
            loops: SANDBOX_BACKEND.to_string(),
        }
    }

    /// The backend a post bound for `destination` is recorded with.
    pub fn for_destination(&self, destination: &str) -> &str {
        if destination == crate::queue::names::LOOPS {
            &self.loops
        } else {
            &self.layers
        }
    }
}

/// An API base as the store records it: trimmed, without a trailing slash, the scheme and
/// host lowercased (`HTTPS://API.Layers.com/` and `https://api.layers.com` are one service).
pub fn normalize_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let mut out = String::with_capacity(base.len());
    if !scheme.is_empty() {
        out.push_str(&scheme.to_ascii_lowercase());
        out.push_str("://");
    }
    out.push_str(&host.to_ascii_lowercase());
    if !path.is_empty() {
        out.push('/');
        out.push_str(path);
    }
    out
}

/// Migration 4. Rows from before it are `''` ("not recorded"), except those whose stored
/// answers point at a loopback address: those came from a local sandbox (the app's fallback
/// wrote Loops completions against 127.0.0.1) and are marked [`SANDBOX_BACKEND`], so they
/// can never make a real upload look done. The ledger's key gains the backend.
pub(super) const MIGRATION_BACKEND: &str = r#"
ALTER TABLE batches ADD COLUMN backend TEXT NOT NULL DEFAULT '';
UPDATE batches SET backend = 'sandbox'
 WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.batch_id = batches.id
                 AND (s.response_json LIKE '%://127.0.0.1%' OR s.response_json LIKE '%://localhost%'))
    OR EXISTS (SELECT 1 FROM posts p WHERE p.batch_id = batches.id
                 AND (p.content_json LIKE '%://127.0.0.1%' OR p.content_json LIKE '%://localhost%'));
CREATE TABLE ledger_v4 (
    backend      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    content_id   TEXT NOT NULL,
    post_id      INTEGER,
    completed_at INTEGER NOT NULL,
    PRIMARY KEY (backend, project_id, dedupe_key)
);
INSERT OR REPLACE INTO ledger_v4 (backend, project_id, dedupe_key, content_id, post_id, completed_at)
SELECT COALESCE((SELECT b.backend FROM posts p JOIN batches b ON b.id = p.batch_id
                  WHERE p.id = l.post_id), ''),
       l.project_id, l.dedupe_key, l.content_id, l.post_id, l.completed_at
  FROM ledger l;
DROP TABLE ledger;
ALTER TABLE ledger_v4 RENAME TO ledger;
"#;

/// SQL true when the batch `b` belongs to the bound backend: `?{n}` is the Layers backend and
/// `?{n+1}` the Loops one, both NULL for an unbound handle (which sees every batch). Rows from
/// before migration 4 (`''`) belong to any real service, never to the sandbox: nearly all of
/// them were live work, and the sandbox is what must never run a live post.
pub(super) fn batch_matches(b: &str, n: usize) -> String {
    format!(
        "(CAST(?{n} AS TEXT) IS NULL OR {b}.backend = CASE WHEN {b}.destination = '{loops}' THEN ?{m} ELSE ?{n} END
          OR ({b}.backend = '' AND CASE WHEN {b}.destination = '{loops}' THEN ?{m} ELSE ?{n} END != '{sandbox}'))",
        m = n + 1,
        loops = crate::queue::names::LOOPS,
        sandbox = SANDBOX_BACKEND,
    )
}

impl Store {
    /// Binds this handle to the services it works for: what it enqueues is recorded for them,
    /// and the runner, the ledger and duplicate checks see only their posts. `None` (the
    /// default) sees every post, as read-only tools and tests do.
    pub fn use_backend(&self, backend: Option<Backend>) {
        *self.backend.lock().unwrap_or_else(|p| p.into_inner()) = backend;
    }

    /// The services this handle is bound to, if any.
    pub fn backend(&self) -> Option<Backend> {
        self.backend
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether this handle's runner works a post bound for `destination` that was enqueued for
    /// `backend`: the same rule as the runner's own query ([`batch_matches`]).
    pub fn claims(&self, destination: &str, backend: &str) -> bool {
        match self.backend() {
            None => true,
            Some(b) => {
                let mine = b.for_destination(destination);
                backend == mine || (backend.is_empty() && mine != SANDBOX_BACKEND)
            }
        }
    }

    /// The two bound backend parameters for [`batch_matches`] (NULL when unbound).
    pub(super) fn backend_params(&self) -> (Option<String>, Option<String>) {
        match self.backend() {
            Some(b) => (Some(b.layers), Some(b.loops)),
            None => (None, None),
        }
    }

    /// What a new batch bound for `destination` records: the bound backend, or `''`.
    pub(super) fn backend_for(&self, destination: &str) -> String {
        self.backend()
            .map(|b| b.for_destination(destination).to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::store::MIGRATIONS;

    /// A store as version 3 left it: one live completion, one the app's sandbox fallback
    /// "completed" against 127.0.0.1 (a Loops upload), one queued post.
    fn legacy_store(path: &std::path::Path) {
        let conn = rusqlite::Connection::open(path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(
            r#"PRAGMA user_version = 3;
            INSERT INTO batches VALUES ('live', 1, 'prj', 'layers-content', 'per-file', 0);
            INSERT INTO batches VALUES ('fake', 1, 'loops', 'loops', 'per-file', 0);
            INSERT INTO batches VALUES ('todo', 1, 'prj', 'layers-content', 'per-file', 0);
            INSERT INTO posts (id, batch_id, position, state, caption, content_json, dedupe_key,
                               created_at, updated_at)
            VALUES (1, 'live', 0, 'completed', '', '{"id":"cnt_1"}', 'aa', 1, 1),
                   (2, 'fake', 0, 'completed', '',
                    '{"finalUrl":"http://127.0.0.1:4321/media/x.png"}', 'loops|bb', 1, 1),
                   (3, 'todo', 0, 'queued', '', NULL, 'cc', 1, 1);
            INSERT INTO ledger VALUES ('prj', 'aa', 'cnt_1', 1, 1);
            INSERT INTO ledger VALUES ('loops', 'loops|bb', 'asset_fake', 2, 1);"#,
        )
        .unwrap();
    }

    #[test]
    fn legacy_rows_count_for_real_services_and_sandbox_fakes_for_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        legacy_store(&path);
        let store = Store::open(&path).unwrap();
        store.use_backend(Some(Backend::at(
            "https://api.layers.com/",
            "https://app.loops.so",
        )));
        // The live completion still dedupes; the sandbox's fake Loops one no longer does.
        assert_eq!(
            store.ledger_lookup("prj", "aa").unwrap().as_deref(),
            Some("cnt_1")
        );
        assert_eq!(store.ledger_lookup("loops", "loops|bb").unwrap(), None);
        // The queued legacy post is worked by a real service's runner …
        assert_eq!(store.runnable(i64::MAX, None).unwrap(), vec![3]);
        // … and never by the sandbox's, which trusts no legacy ledger row either.
        store.use_backend(Some(Backend::sandbox()));
        assert!(store.runnable(i64::MAX, None).unwrap().is_empty());
        assert_eq!(store.ledger_lookup("prj", "aa").unwrap(), None);
        assert_eq!(
            store.ledger_lookup("loops", "loops|bb").unwrap().as_deref(),
            Some("asset_fake"),
            "the fake stays the sandbox's own"
        );
    }

    #[test]
    fn bases_that_name_one_service_normalize_alike() {
        assert_eq!(
            normalize_base(" HTTPS://API.Layers.com/ "),
            "https://api.layers.com"
        );
        assert_eq!(
            normalize_base("http://127.0.0.1:4010/v1/"),
            "http://127.0.0.1:4010/v1"
        );
        assert_ne!(
            normalize_base("http://127.0.0.1:4010"),
            normalize_base("http://127.0.0.1:4011")
        );
    }
}
