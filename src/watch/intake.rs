//! Taking what settled: inspect it (a video must probe cleanly), find its caption, check it
//! locally and against the ledger and the queue, then enqueue the new posts of one round as
//! one batch (so they share sessions) and remember every decision.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::folder::FolderWatch;
use super::layout::{self, sidecar_of, slideshow_files, SLIDESHOW_CAPTION};
use super::settle::{Key, Settled};
use super::{WatchError, WatchReport, PROBE_ATTEMPTS};
use crate::api::types::Grouping;
use crate::media::{ErrorCode, Inspection, LocalError};
use crate::queue::plan::{plan_posts, read_caption_file};
use crate::queue::store::{dedupe_key, NewBatch, NewPost, Outcome, SeenFile, WatchedPost};

/// The decisions of one round, written together.
#[derive(Default)]
struct Round {
    posts: Vec<NewPost>,
    watched: Vec<WatchedPost>,
    /// Decisions that enqueue nothing.
    seen: Vec<SeenFile>,
    /// Dedupe keys enqueued in this round, with the path that took them.
    keys: HashMap<String, PathBuf>,
}

impl FolderWatch {
    /// Takes every key whose settle time has passed.
    pub(super) async fn take_due(&mut self) -> Result<(), WatchError> {
        let due = self.settler.take_due(Instant::now());
        let (files, folders): (Vec<Settled>, Vec<Settled>) = due
            .into_iter()
            .filter(|s| self.unchanged(s))
            .partition(|s| matches!(s.key, Key::File(_)));
        if !files.is_empty() {
            let paths: Vec<PathBuf> = files.iter().map(|s| s.key.path().clone()).collect();
            let started = Instant::now();
            let mut inspections = self.inspect(paths).await?;
            tracing::debug!(files = files.len(), elapsed = ?started.elapsed(), "inspected settled files");
            if self.ctx.make_fit {
                inspections = self.fitted(inspections).await?;
            }
            let mut round = Round::default();
            for (settled, inspection) in files.into_iter().zip(inspections) {
                self.decide_file(settled, inspection, &mut round)?;
            }
            self.flush(round, Grouping::PerFile)?;
        }
        if !folders.is_empty() {
            let mut round = Round::default();
            for settled in folders {
                self.decide_folder(settled, &mut round).await?;
            }
            self.flush(round, Grouping::Slideshow)?;
        }
        Ok(())
    }

    /// Whether a settled key still has its stamp; if not, it goes back in flight (or is
    /// forgotten when it is gone).
    fn unchanged(&mut self, settled: &Settled) -> bool {
        match layout::stamp(&settled.key) {
            Some(now) if now == settled.stamp => true,
            Some(now) => {
                self.settler
                    .observe(settled.key.clone(), now, Instant::now());
                false
            }
            None => false,
        }
    }

    async fn inspect(&self, paths: Vec<PathBuf>) -> Result<Vec<Inspection>, WatchError> {
        let inspector = Arc::clone(&self.ctx.inspector);
        tokio::task::spawn_blocking(move || inspector.inspect_all(&paths))
            .await
            .map_err(|e| WatchError::Task(e.to_string()))
    }

    /// `--make-fit`: each inspection replaced by its fitted copy's when one is made.
    async fn fitted(&self, inspections: Vec<Inspection>) -> Result<Vec<Inspection>, WatchError> {
        let inspector = Arc::clone(&self.ctx.inspector);
        let cancel = Arc::clone(&self.fit_cancel);
        let reports = self.ctx.reports.clone();
        tokio::task::spawn_blocking(move || {
            let settings = crate::media::fit_encode::EncodeSettings::from_env();
            inspections
                .into_iter()
                .map(|ins| {
                    let (ins, report) = super::fitting::fitted(&inspector, ins, &settings, &cancel);
                    if let Some(report) = report {
                        let _ = reports.send(report);
                    }
                    ins
                })
                .collect()
        })
        .await
        .map_err(|e| WatchError::Task(e.to_string()))
    }

    fn decide_file(
        &mut self,
        settled: Settled,
        inspection: Inspection,
        round: &mut Round,
    ) -> Result<(), WatchError> {
        if !self.unchanged(&settled) {
            return Ok(()); // written to while we read it
        }
        let path = settled.key.path().clone();
        if let Some(e) = inspection.errors.first().cloned() {
            self.not_readable_yet(settled, &e, round);
            return Ok(());
        }
        let sidecar = sidecar_of(&path).filter(|p| p.is_file());
        let Some(caption) = self.caption(&path, &settled.stamp, sidecar.as_deref(), round) else {
            return Ok(());
        };
        self.report_fit(&path, &inspection);
        let posts = match plan_posts(
            std::slice::from_ref(&inspection),
            Grouping::PerFile,
            &caption,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.refuse(path, settled.stamp, &e, round);
                return Ok(());
            }
        };
        self.add(posts, vec![path], settled.stamp, sidecar, round)
    }

    async fn decide_folder(
        &mut self,
        settled: Settled,
        round: &mut Round,
    ) -> Result<(), WatchError> {
        let dir = settled.key.path().clone();
        let (files, ignored) = slideshow_files(&dir);
        for path in ignored {
            let reason = crate::media::names::ignore_reason(&path).unwrap_or("ignored name");
            if self.reported_ignored.insert(path.clone()) {
                self.report(WatchReport::Skipped {
                    path,
                    code: "ignored_name".into(),
                    message: reason.into(),
                });
            }
        }
        if files.is_empty() {
            return Ok(()); // nothing to take (yet)
        }
        let inspections = self.inspect(files.clone()).await?;
        if !self.unchanged(&settled) {
            return Ok(());
        }
        if let Some(e) = inspections.iter().find_map(|i| i.errors.first()).cloned() {
            let e = LocalError::new(
                e.code,
                format!(
                    "the slideshow {} cannot be uploaded: {}",
                    name(&dir),
                    e.message
                ),
            );
            self.not_readable_yet(settled, &e, round);
            return Ok(());
        }
        let sidecar = Some(dir.join(SLIDESHOW_CAPTION)).filter(|p| p.is_file());
        let Some(caption) = self.caption(&dir, &settled.stamp, sidecar.as_deref(), round) else {
            return Ok(());
        };
        for i in &inspections {
            self.report_fit(Path::new(&i.path), i);
        }
        match plan_posts(&inspections, Grouping::Slideshow, &caption) {
            Ok(posts) => self.add(posts, vec![dir], settled.stamp, sidecar, round),
            Err(e) => {
                self.refuse(dir, settled.stamp, &e, round);
                Ok(())
            }
        }
    }

    /// A file that cannot be read as media may still be being written (a video's index comes
    /// last): it is checked again a few times, then reported, and taken again if it changes.
    fn not_readable_yet(&mut self, settled: Settled, e: &LocalError, round: &mut Round) {
        let transient = matches!(e.code, ErrorCode::Unreadable | ErrorCode::Empty);
        if transient && settled.attempts + 1 < PROBE_ATTEMPTS {
            tracing::debug!(path = %settled.key.path().display(), attempt = settled.attempts + 1, "settled but not readable yet: {}", e.message);
            self.settler.retry(settled, Instant::now());
            return;
        }
        let mut e = e.clone();
        if transient {
            e.message
                .push_str(" (not uploaded; it is taken again when the file changes)");
        }
        self.refuse(settled.key.path().clone(), settled.stamp, &e, round);
    }

    /// The caption: the sidecar when there is one, else the folder's default; checked against
    /// the 2,200-character limit. `None` when refused (reported).
    fn caption(
        &mut self,
        path: &Path,
        stamp: &str,
        sidecar: Option<&Path>,
        round: &mut Round,
    ) -> Option<String> {
        let caption = match sidecar {
            Some(s) => match read_caption_file(s) {
                Ok(c) => c,
                Err(e) => {
                    let e = LocalError::new(
                        ErrorCode::Unreadable,
                        format!("cannot read its caption file {}: {e}", name(s)),
                    );
                    self.refuse(path.to_path_buf(), stamp.to_string(), &e, round);
                    return None;
                }
            },
            None => self.watch.settings.caption.clone(),
        };
        if let Err(mut e) = crate::queue::plan::check_caption(&caption) {
            e.message = match sidecar {
                Some(s) => format!("{} ({}: {})", name(path), name(s), e.message),
                None => format!(
                    "{} (the folder's default caption: {})",
                    name(path),
                    e.message
                ),
            };
            self.refuse(path.to_path_buf(), stamp.to_string(), &e, round);
            return None;
        }
        Some(caption)
    }

    fn report_fit(&self, path: &Path, inspection: &Inspection) {
        let mut issues: Vec<String> = inspection
            .platform_fit
            .iter()
            .flat_map(|f| f.issues.iter().cloned())
            .collect();
        issues.dedup();
        if !issues.is_empty() {
            self.report(WatchReport::FitIssues {
                path: path.to_path_buf(),
                issues,
            });
        }
    }

    fn refuse(&mut self, path: PathBuf, stamp: String, e: &LocalError, round: &mut Round) {
        self.report(WatchReport::Refused {
            path: path.clone(),
            code: e.code.as_str().into(),
            message: e.message.clone(),
        });
        round.seen.push(SeenFile {
            path,
            stamp,
            outcome: Outcome::Refused,
            detail: Some(format!("{}: {}", e.code.as_str(), e.message)),
        });
    }

    /// Adds a planned post to the round, unless its bytes are already uploaded to the project,
    /// still in the queue, or taken earlier in this round.
    fn add(
        &mut self,
        posts: Vec<NewPost>,
        paths: Vec<PathBuf>,
        stamp: String,
        sidecar: Option<PathBuf>,
        round: &mut Round,
    ) -> Result<(), WatchError> {
        let path = paths.first().cloned().unwrap_or_default();
        for post in posts {
            let Some(key) = dedupe_key(post.files.iter().map(|f| f.sha256.as_str())) else {
                continue;
            };
            if let Some(why) = self.duplicate_of(&key, round)? {
                self.report(WatchReport::Skipped {
                    path: path.clone(),
                    code: "duplicate".into(),
                    message: why.clone(),
                });
                round.seen.push(SeenFile {
                    path: path.clone(),
                    stamp: stamp.clone(),
                    outcome: Outcome::Duplicate,
                    detail: Some(why),
                });
                continue;
            }
            round.keys.insert(key, path.clone());
            round.watched.push(WatchedPost {
                seen: vec![SeenFile {
                    path: path.clone(),
                    stamp: stamp.clone(),
                    outcome: Outcome::Queued,
                    detail: None,
                }],
                sidecar: sidecar.clone(),
            });
            round.posts.push(post);
        }
        Ok(())
    }

    fn duplicate_of(&self, key: &str, round: &Round) -> Result<Option<String>, WatchError> {
        if let Some(first) = round.keys.get(key) {
            return Ok(Some(format!(
                "same bytes as {}, taken just now",
                name(first)
            )));
        }
        let store = &self.ctx.store;
        let project = &self.watch.settings.project_id;
        if let Some(content_id) = store.ledger_lookup(project, key)? {
            return Ok(Some(format!(
                "same bytes already uploaded to this project as {content_id}"
            )));
        }
        if let Some(post) = store.unfinished_twin(project, key)? {
            return Ok(Some(format!(
                "same bytes as post {post}, still in the queue"
            )));
        }
        Ok(None)
    }

    /// Writes a round: refusals and duplicates are remembered, new posts enqueued as one
    /// batch together with their decisions, and the runner is woken.
    fn flush(&mut self, round: Round, grouping: Grouping) -> Result<(), WatchError> {
        let store = Arc::clone(&self.ctx.store);
        if !round.seen.is_empty() {
            store.remember_seen(self.watch.id, &round.seen)?;
            for s in round.seen {
                self.seen.insert(s.path, (s.stamp, s.outcome));
            }
        }
        if round.posts.is_empty() {
            return Ok(());
        }
        let batch = NewBatch {
            project_id: self.watch.settings.project_id.clone(),
            destination: "layers-content".into(),
            grouping,
            force: false,
            posts: round.posts,
        };
        let started = Instant::now();
        let ids = store.enqueue_watched(self.watch.id, &batch, &round.watched)?;
        tracing::debug!(posts = ids.len(), elapsed = ?started.elapsed(), "enqueued");
        for ((id, post), watched) in ids.iter().zip(&batch.posts).zip(round.watched) {
            let files: Vec<PathBuf> = post.files.iter().map(|f| f.path.clone()).collect();
            self.report(WatchReport::Queued {
                post_id: *id,
                since_last_write_ms: since_last_write(&files),
                files,
                caption_from: watched.sidecar,
            });
            for s in watched.seen {
                self.seen.insert(s.path, (s.stamp, s.outcome));
            }
        }
        (self.ctx.on_enqueue)();
        Ok(())
    }
}

/// Milliseconds from the newest file's last write to now.
fn since_last_write(files: &[PathBuf]) -> u64 {
    let newest = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .max();
    newest
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
