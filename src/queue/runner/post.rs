//! One reserved post through its PUTs and finalize. Before each PUT and before finalize the
//! files are re-stat'ed: a file that changed since it was inspected is inspected again and
//! uploaded in a new session, never finalized with stale bytes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::faults::{
    action_for_api, action_for_transfer, post_error, post_error_api, post_error_transfer, Action,
};
use super::{with_error, RunError, Runner, THROUGHPUT_SETTING};
use crate::api::http::IdempotencyKey;
use crate::media::inspect;
use crate::queue::dest::local::identify;
use crate::queue::dest::{Destination, LAYERS_CONTENT};
use crate::queue::events::QueueEvent;
use crate::queue::failpoint;
use crate::queue::plan::mtime_ns;
use crate::queue::state::{PostEvent, PostState};
use crate::queue::store::{Change, NewFile, PostError, StoreError, StoredFile, StoredPost};
use crate::transfer::{Progress, ProgressFn};

/// What re-checking a file found.
enum FileCheck {
    Same,
    /// Touched but the same bytes: only the mtime moved.
    Touched(i64),
    /// Different bytes (or size): the new identity.
    Changed(NewFile),
    /// Gone, unreadable or no longer acceptable: the message says which.
    Unusable(String, String),
}

impl Runner {
    /// Drives one post as far as it can go now; failures are stored on the post.
    pub(super) async fn drive_post(&self, id: i64) -> Result<(), RunError> {
        // Bounded: each pass either finishes, stores a fault and returns, or re-PUTs after an
        // UPLOAD_INCOMPLETE (which the restart limit bounds).
        for _ in 0..8 {
            let post = self.inner.store.post(id)?;
            match post.state {
                PostState::Reserved | PostState::Uploading => {
                    if !self.upload(&post).await? {
                        return Ok(());
                    }
                }
                PostState::Uploaded | PostState::Finalizing => {
                    if !self.finalize(&post).await? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// PUTs every unconfirmed file. `true` when the post is `uploaded`.
    async fn upload(&self, post: &StoredPost) -> Result<bool, RunError> {
        let dest = match self.destination(post) {
            Ok(d) => d,
            Err(why) => {
                self.park(post, &why);
                return Ok(false);
            }
        };
        if !self.files_unchanged(post).await? {
            return Ok(false);
        }
        // `expiresAt` is the server's time: judge it by the server's clock, so a local clock
        // minutes off neither throws live links away nor PUTs to dead ones.
        let now = dest.server_now_ms();
        let throughput = self.throughput().max(1);
        for f in post.files.iter().filter(|f| !f.put_confirmed) {
            // Start a PUT only if it can finish before its URL expires. The slack stays small:
            // this only saves a doomed PUT; storage's own 403 on an expired URL also restarts.
            let needed = (f.size_bytes * 1000 / throughput) as i64 + 500;
            if f.upload_url.is_none() || f.expires_at.unwrap_or(0) < now + needed {
                let why = post_error(
                    "url_expired",
                    format!(
                        "the upload link for {} expired before it could be used",
                        f.filename
                    ),
                );
                self.apply(post, Action::Restart, why).await?;
                return Ok(false);
            }
        }
        if post.state == PostState::Reserved {
            self.set(post, PostEvent::StartUpload, Change::default(), None)?;
        }
        failpoint::hit("before_put");
        let pending: Vec<StoredFile> = post
            .files
            .iter()
            .filter(|f| !f.put_confirmed)
            .cloned()
            .collect();
        let puts = pending.iter().map(|f| self.put_one(dest.as_ref(), post, f));
        let results = futures_util::future::join_all(puts).await;
        let lenient = dest.lenient_puts() && !self.is_strict(post.id);
        for result in results {
            if let Err((action, error)) = result? {
                if lenient && action != Action::CheckFile {
                    // Test keys may get inert URLs: go on to finalize, which says whether the
                    // backend is live after all (then UPLOAD_INCOMPLETE brings us back here).
                    tracing::info!(
                        post = post.id,
                        "PUT failed with a test key, finalizing anyway: {}",
                        error.message
                    );
                    continue;
                }
                let action = if action == Action::CheckFile {
                    self.recheck_after_failure(post).await?
                } else {
                    Some(action)
                };
                if let Some(action) = action {
                    self.apply(&self.inner.store.post(post.id)?, action, error)
                        .await?;
                }
                return Ok(false);
            }
        }
        let fresh = self.inner.store.post(post.id)?;
        self.set(&fresh, PostEvent::AllUploaded, reset_retries(), None)?;
        Ok(true)
    }

    /// One PUT under the concurrency limit. `Ok(Err(..))` is a fault for the post.
    async fn put_one(
        &self,
        dest: &dyn Destination,
        post: &StoredPost,
        f: &StoredFile,
    ) -> Result<Result<(), (Action, PostError)>, RunError> {
        let Ok(_permit) = self.inner.puts.acquire().await else {
            return Ok(Err((
                Action::Retry { after: None },
                post_error("stopped", "the runner is stopping"),
            )));
        };
        if f.upload_url.is_none() {
            return Ok(Err((
                Action::Restart,
                post_error("no_url", "no upload link stored"),
            )));
        }
        let started = Instant::now();
        let progress = self.progress_fn(post.id, &f.filename);
        match dest.put(&self.inner.transfer, f, Some(progress)).await {
            Ok(receipt) => {
                self.inner.store.confirm_put(post.id, f.position)?;
                self.record_throughput(receipt.bytes, started.elapsed());
                self.note_success();
                Ok(Ok(()))
            }
            Err(e) => Ok(Err((action_for_transfer(&e), post_error_transfer(&e)))),
        }
    }

    /// Finalizes with the stored key. `true` when the post should be looked at again
    /// (re-PUT after UPLOAD_INCOMPLETE); `false` when done or a fault was stored.
    async fn finalize(&self, post: &StoredPost) -> Result<bool, RunError> {
        if !self.files_unchanged(post).await? {
            return Ok(false);
        }
        let dest = match self.destination(post) {
            Ok(d) => d,
            Err(why) => {
                self.park(post, &why);
                return Ok(false);
            }
        };
        if post.container_id.is_none() {
            self.apply(
                post,
                Action::Restart,
                post_error("no_container", "no container reserved"),
            )
            .await?;
            return Ok(false);
        }
        let key = match self.inner.store.begin_finalize(post.id) {
            Ok(k) => k,
            Err(StoreError::Transition(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        self.emit_state(
            post.id,
            &post.batch_id,
            PostState::Finalizing,
            None,
            None,
            None,
        );
        failpoint::hit("before_finalize");
        if dest.paced() {
            self.inner.pacer.acquire().await;
        }
        let key = IdempotencyKey::from_persisted(key);
        match dest.finalize(post, &key).await {
            Ok(done) => {
                failpoint::hit("after_finalize");
                self.note_success();
                let content_id = done.id.clone();
                match self
                    .inner
                    .store
                    .complete(post.id, &content_id, &done.json_line)
                {
                    Ok(()) => {}
                    Err(StoreError::Transition(_)) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
                self.emit_state(
                    post.id,
                    &post.batch_id,
                    PostState::Completed,
                    None,
                    None,
                    Some(content_id),
                );
                Ok(false)
            }
            Err(e) => {
                let fresh = self.inner.store.post(post.id)?;
                match action_for_api(&e) {
                    Action::Reput { missing_key } => {
                        self.strict(post.id);
                        let restarts = self.inner.store.restarts(post.id)?;
                        if fresh.attempts >= i64::from(self.inner.config.retry.max_attempts)
                            || restarts >= self.inner.config.max_restarts
                        {
                            self.set(
                                &fresh,
                                PostEvent::Fail,
                                with_error(self.explain(dest.as_ref(), &e, &fresh)),
                                None,
                            )?;
                            return Ok(false);
                        }
                        match fresh.files.iter().find(|f| {
                            Some(&f.r2_key) == Some(&missing_key) && missing_key.is_some()
                        }) {
                            Some(f) => self.inner.store.unconfirm_put(post.id, f.position)?,
                            None => self.inner.store.unconfirm_puts(post.id)?,
                        }
                        let change = Change {
                            count_attempt: true,
                            error: Some(Some(post_error_api(&e))),
                            ..Change::default()
                        };
                        self.set(
                            &fresh,
                            PostEvent::StartUpload,
                            change,
                            Some("the server is missing a file: uploading it again".into()),
                        )?;
                        Ok(true)
                    }
                    action => {
                        if action == Action::Fail {
                            // The server said no: that finalize did not make an item, so a
                            // retry by the user may start over instead of replaying it.
                            self.inner.store.forget_finalize_key(post.id)?;
                        }
                        let error = self.explain(dest.as_ref(), &e, &fresh);
                        self.apply(&fresh, action, error).await?;
                        Ok(false)
                    }
                }
            }
        }
    }

    /// Re-stats every file; anything changed is handled (restart or fail). `true` = go on.
    async fn files_unchanged(&self, post: &StoredPost) -> Result<bool, RunError> {
        for f in &post.files {
            match self.check_file(&post.destination, f).await {
                FileCheck::Same => {}
                FileCheck::Touched(mtime) => {
                    self.inner.store.set_mtime(post.id, f.position, mtime)?
                }
                FileCheck::Changed(new) => {
                    if self.give_back_if_queued_elsewhere(post, &f.path)? {
                        return Ok(false);
                    }
                    self.inner.store.refresh_file(post.id, f.position, &new)?;
                    let why = post_error(
                        "file_changed",
                        format!("{} changed after it was checked: uploading the new version in a new session", f.filename),
                    );
                    self.apply(post, Action::Restart, why).await?;
                    return Ok(false);
                }
                FileCheck::Unusable(code, message) => {
                    self.set(
                        post,
                        PostEvent::Fail,
                        with_error(post_error(&code, message)),
                        None,
                    )?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// After a PUT failed for a local reason: what the file looks like now decides.
    async fn recheck_after_failure(&self, post: &StoredPost) -> Result<Option<Action>, RunError> {
        // `files_unchanged` stores the outcome itself (restart or fail); if the file is in fact
        // unchanged, the read failed for a passing reason: retry.
        if self.files_unchanged(post).await? {
            Ok(Some(Action::Retry { after: None }))
        } else {
            Ok(None)
        }
    }

    async fn check_file(&self, destination: &str, f: &StoredFile) -> FileCheck {
        let path = f.path.clone();
        let meta = match tokio::fs::metadata(&path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return FileCheck::Unusable(
                    "not_found".into(),
                    format!(
                        "{} was moved or deleted before its upload finished",
                        f.filename
                    ),
                )
            }
            Err(e) => {
                return FileCheck::Unusable(
                    "unreadable".into(),
                    format!("{} cannot be read: {e}", f.filename),
                )
            }
        };
        let mtime = mtime_ns(&meta);
        if meta.len() == f.size_bytes && mtime == f.mtime_ns {
            // Same size and time, but it must still open as a file for reading: a mode
            // change (chmod 000) or a swap for a pipe changes neither.
            return match crate::media::inspect::open_regular(&path) {
                Ok(_) => FileCheck::Same,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    FileCheck::Unusable(
                        "permission_denied".into(),
                        format!(
                            "{} cannot be read any more (permission denied): give the uploader read access, then run `layers-upload queue retry`",
                            f.filename
                        ),
                    )
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => FileCheck::Unusable(
                    "not_a_file".into(),
                    format!("{} is no longer a regular file", f.filename),
                ),
                Err(e) => FileCheck::Unusable(
                    "unreadable".into(),
                    format!("{} cannot be read: {e}", f.filename),
                ),
            };
        }
        if destination != LAYERS_CONTENT {
            // Other destinations need the bytes only: identify again, with their own rules.
            let audio = destination.ends_with(":audio");
            let again = tokio::task::spawn_blocking(move || identify(&path, audio)).await;
            return match again {
                Ok(Ok(new)) if new.sha256 == f.sha256 && new.size_bytes == f.size_bytes => {
                    FileCheck::Touched(mtime.unwrap_or_default())
                }
                Ok(Ok(new)) => FileCheck::Changed(new),
                Ok(Err(e)) => FileCheck::Unusable(e.code.as_str().to_string(), e.message),
                Err(_) => FileCheck::Unusable(
                    "unreadable".into(),
                    format!("{} could not be checked again", f.filename),
                ),
            };
        }
        let limits = self.inner.config.limits;
        let inspected = tokio::task::spawn_blocking(move || inspect(&path, &limits)).await;
        let Ok(i) = inspected else {
            return FileCheck::Unusable(
                "unreadable".into(),
                format!("{} could not be checked again", f.filename),
            );
        };
        if let Some(e) = i.errors.first() {
            return FileCheck::Unusable(e.code.as_str().to_string(), e.message.clone());
        }
        match (&i.sha256, &i.content_type) {
            (Some(sha), Some(_)) if *sha == f.sha256 && i.size_bytes == f.size_bytes => {
                FileCheck::Touched(mtime.unwrap_or_default())
            }
            (Some(sha), Some(ct)) => FileCheck::Changed(NewFile {
                path: f.path.clone(),
                filename: f.filename.clone(),
                content_type: ct.clone(),
                size_bytes: i.size_bytes,
                mtime_ns: mtime,
                sha256: sha.clone(),
            }),
            _ => FileCheck::Unusable(
                "unreadable".into(),
                format!("{} could not be read again", f.filename),
            ),
        }
    }

    fn progress_fn(&self, post_id: i64, file: &str) -> ProgressFn {
        let events = self.inner.events.clone();
        let file = file.to_string();
        Arc::new(move |p: Progress| {
            let _ = events.send(QueueEvent::Progress {
                post_id,
                file: file.clone(),
                bytes_sent: p.bytes_sent,
                total_bytes: p.total_bytes,
                rate_bps: p.rate_bps(),
                eta_ms: p.eta().map(|d| d.as_millis() as u64),
            });
        })
    }

    /// Keeps a smoothed single-stream throughput for session sizing and expiry margins.
    fn record_throughput(&self, bytes: u64, took: Duration) {
        // Tiny files say more about latency than bandwidth.
        if bytes < 1024 * 1024 || took.is_zero() {
            return;
        }
        let measured = bytes as f64 / took.as_secs_f64();
        let old = self.throughput() as f64;
        let smoothed = (0.7 * old + 0.3 * measured) as u64;
        let _ = self
            .inner
            .store
            .set_setting(THROUGHPUT_SETTING, &smoothed.to_string());
    }

    fn is_strict(&self, post: i64) -> bool {
        self.inner
            .strict_puts
            .lock()
            .map_or(true, |s| s.contains(&post))
    }

    fn strict(&self, post: i64) {
        if let Ok(mut s) = self.inner.strict_puts.lock() {
            s.insert(post);
        }
    }
}

fn reset_retries() -> Change {
    Change {
        error: Some(None),
        next_attempt_at: Some(None),
        reset_attempts: true,
        ..Change::default()
    }
}
