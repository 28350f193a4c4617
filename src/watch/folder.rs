//! One running watch: what the OS's events mean for it, what is in flight, what it already
//! decided (so a restart neither re-hashes nor re-reports), and the moves to `Uploaded/`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::time::Instant;

use super::layout::{self, Layout, Meaning};
use super::moves::{holds_uploaded_bytes, move_to_uploaded};
use super::settle::{Key, Settler};
use super::{WatchContext, WatchError, WatchReport};
use crate::api::types::Grouping;
use crate::media::names;
use crate::queue::store::{Outcome, StoredWatch};

/// The state of one watch while it runs.
pub(super) struct FolderWatch {
    pub(super) ctx: WatchContext,
    pub(super) watch: StoredWatch,
    pub(super) layout: Layout,
    pub(super) settler: Settler,
    /// Per path: the stamp it had when decided, and the decision.
    pub(super) seen: HashMap<PathBuf, (String, Outcome)>,
    /// Ignored names already reported in this run (a growing `.part` is reported once).
    pub(super) reported_ignored: HashSet<PathBuf>,
    /// Set when the watch stops: a fitted copy being made is abandoned (`--make-fit`).
    pub(super) fit_cancel: Arc<AtomicBool>,
}

impl FolderWatch {
    /// Loads what the watch decided in earlier runs.
    pub(super) fn new(ctx: WatchContext, watch: StoredWatch) -> Result<Self, WatchError> {
        let seen = ctx.store.seen_files(watch.id)?;
        let s = &watch.settings;
        Ok(FolderWatch {
            layout: Layout {
                root: s.folder.clone(),
                recursive: s.recursive,
                slideshow: s.grouping == Grouping::Slideshow,
            },
            settler: Settler::new(std::time::Duration::from_millis(s.settle_ms)),
            seen,
            reported_ignored: HashSet::new(),
            fit_cancel: Arc::new(AtomicBool::new(false)),
            ctx,
            watch,
        })
    }

    pub(super) fn report(&self, report: WatchReport) {
        let _ = self.ctx.reports.send(report);
    }

    /// When the next thing in flight settles.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.settler.next_due()
    }

    /// Scans the whole folder and settles whatever is new or changed since it was decided: at
    /// start, and after the OS dropped events (`rescan`).
    pub(super) fn catch_up(&mut self, rescan: bool) {
        let now = Instant::now();
        for meaning in self.layout.scan(&self.layout.root.clone()) {
            self.handle(meaning, now);
        }
        let folder = self.layout.root.clone();
        if rescan {
            tracing::warn!(folder = %folder.display(), "file events were dropped; rescanned");
            self.report(WatchReport::Rescanned { folder });
        } else {
            let pending = self.settler.len();
            self.report(WatchReport::Watching { folder, pending });
        }
    }

    /// Takes a burst of OS events: each path is looked at once, whatever happened to it.
    pub(super) fn on_events(&mut self, events: Vec<notify::Result<notify::Event>>) {
        let mut paths = BTreeSet::new();
        let mut rescan = false;
        for event in events {
            match event {
                Ok(e) => {
                    rescan |= e.need_rescan();
                    paths.extend(e.paths);
                }
                Err(e) => {
                    tracing::warn!("file watch error: {e}");
                    rescan = true;
                }
            }
        }
        if rescan {
            self.catch_up(true);
        }
        let now = Instant::now();
        for path in paths {
            if let Some(meaning) = self.layout.classify(&path) {
                self.handle(meaning, now);
            }
        }
    }

    fn handle(&mut self, meaning: Meaning, now: Instant) {
        match meaning {
            Meaning::Candidate(key) => match layout::stamp(&key) {
                None => self.settler.forget(&key),
                Some(stamp) => {
                    let decided = self.seen.get(key.path()).is_some_and(|(s, _)| *s == stamp);
                    if !decided || self.settler.contains(&key) {
                        self.settler.observe(key, stamp, now);
                    }
                }
            },
            Meaning::Sidecar(sidecar) => self.sidecar_changed(&sidecar, now),
            Meaning::Ignored(path, reason) => {
                if self.reported_ignored.insert(path.clone()) {
                    self.report(WatchReport::Skipped {
                        path,
                        code: "ignored_name".into(),
                        message: reason.into(),
                    });
                }
            }
            Meaning::Subtree(dir) => {
                for m in self.layout.scan(&dir) {
                    self.handle(m, now);
                }
            }
        }
    }

    /// A sidecar arrived or changed: its media's window restarts if it is in flight; a media
    /// refused earlier (say, for a caption too long) is looked at again.
    fn sidecar_changed(&mut self, sidecar: &Path, now: Instant) {
        let (Some(dir), Some(stem)) = (sidecar.parent(), sidecar.file_stem()) else {
            return;
        };
        let media: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_stem() == Some(stem)
                    && !names::is_caption_sidecar(p)
                    && !names::is_partial_or_hidden(p)
            })
            .collect();
        for path in media {
            let key = Key::File(path.clone());
            if self.settler.touch(&key, now) {
                continue;
            }
            if matches!(self.seen.get(&path), Some((_, Outcome::Refused))) {
                self.seen.remove(&path);
                if let Some(stamp) = layout::file_stamp(&path) {
                    self.settler.observe(key, stamp, now);
                }
            }
        }
    }

    /// Moves the files of this watch's completed posts into `Uploaded/` (when it says so).
    pub(super) fn move_completed(&mut self) -> Result<(), WatchError> {
        if !self.watch.settings.move_uploaded {
            return Ok(());
        }
        let root = self.layout.root.clone();
        for due in self.ctx.store.moves_due(self.watch.id)? {
            // A file exported again under the same name since is new work for the watch (it
            // is taken as a new file): neither it nor the post's sidecar is filed away.
            let replaced = due
                .files
                .iter()
                .zip(&due.uploaded)
                .find(|(path, uploaded)| {
                    holds_uploaded_bytes(path, uploaded).is_ok_and(|same| !same)
                });
            if let Some((path, _)) = replaced {
                self.report(WatchReport::Problem {
                    path: path.clone(),
                    message: format!(
                        "not moved into {}/: it changed after it was uploaded (a new export?), so it stays to be uploaded as new",
                        super::UPLOADED_DIR
                    ),
                });
                self.ctx.store.mark_moved(due.post_id)?;
                continue;
            }
            let mut failed = false;
            for path in due.files.iter().chain(&due.sidecar) {
                match move_to_uploaded(&root, path) {
                    Ok(Some(to)) => self.report(WatchReport::Moved {
                        from: path.clone(),
                        to,
                    }),
                    Ok(None) => {}
                    Err(e) => {
                        failed = true;
                        self.report(WatchReport::Problem {
                            path: path.clone(),
                            message: format!("cannot move it into {}/: {e}", super::UPLOADED_DIR),
                        });
                    }
                }
            }
            if !failed {
                self.ctx.store.mark_moved(due.post_id)?;
            }
        }
        Ok(())
    }
}
