//! The runner: drives stored posts through reserve → PUT → finalize, for whichever
//! [`Destination`](super::dest::Destination) each batch names, until nothing is runnable.
//!
//! Each round reads what is runnable from the store, reserves sessions for queued posts
//! (`reserve.rs`), and drives every reserved post through its PUTs and finalize concurrently
//! (`post.rs`; PUTs bounded by a semaphore, writes paced). URL-fetch posts take their one call
//! (`url_fetch.rs`). Every step is committed before the call that depends on it, so a
//! crash at any point resumes from the store without losing or duplicating an upload.

mod faults;
mod post;
mod reserve;
mod url_fetch;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify, Semaphore};
use tokio::task::JoinSet;

use super::dest::{Clients, Destination, Unavailable};
use super::events::{QueueEvent, EVENT_CAPACITY};
use super::pacer::WritePacer;
use super::plan::DEFAULT_THROUGHPUT_BPS;
use super::state::{PostEvent, PostState};
use super::store::{now_ms, Change, PostError, Store, StoreError, StoredPost};
use crate::api::client::LayersClient;
use crate::api::error::ApiError;
use crate::api::retry::RetryPolicy;
use crate::media::Limits;
use crate::transfer::Transfer;
use faults::{post_error, post_error_api, Action};

/// Queued posts taken into one round: enough to fill sessions and keep PUTs busy, few enough
/// that a queue of 10,000 starts uploading at once.
pub const QUEUED_PER_ROUND: usize = 50;

/// How often the runner looks for new work while posts are in flight or still being fed.
const FEED_TICK: Duration = Duration::from_millis(100);

/// How often a runner on a shared queue looks again at a post it holds back for an identical
/// post another machine is uploading.
const TWIN_POLL: Duration = Duration::from_secs(1);

/// How often an idle runner that never stops (watch, the app) looks at a shared queue again.
pub const SHARED_IDLE_LOOK: Duration = Duration::from_secs(15);

/// Settings key of the measured PUT throughput (bytes/s, one stream).
pub const THROUGHPUT_SETTING: &str = "put_throughput_bps";

/// How the runner behaves; the CLI gives up when retries run out, the app and `watch` never do.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// PUTs in flight at once (design default 3).
    pub put_concurrency: usize,
    /// Backoff and attempts per step.
    pub retry: RetryPolicy,
    /// Stop (leaving posts `waiting`, resumable) when a post used all its attempts.
    pub give_up_when_exhausted: bool,
    /// Write pacing (the standard tier allows 60 writes a minute); 0 = off.
    pub writes_per_minute: u32,
    /// The caps files are re-checked against when they changed.
    pub limits: Limits,
    /// How often one post may start over with a new session before it fails.
    pub max_restarts: i64,
    /// Consecutive retryable failures (across posts) that mean an outage: then only one post
    /// probes at a time, at the backoff cap, until something succeeds.
    pub outage_threshold: u32,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            put_concurrency: 3,
            retry: RetryPolicy::default(),
            give_up_when_exhausted: true,
            writes_per_minute: 60,
            limits: Limits::from_env(),
            max_restarts: 5,
            outage_threshold: 6,
        }
    }
}

/// Which posts a run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every runnable post in the store (`resume`, the app).
    All,
    /// One batch (`upload`).
    Batch(String),
}

impl Scope {
    fn batch(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Batch(b) => Some(b),
        }
    }
}

/// Why a run returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Nothing is runnable any more.
    Idle,
    /// The stop signal came.
    Stopped,
    /// Some posts are still `waiting` but used up their attempts (CLI mode).
    GaveUp,
}

/// A failure of the runner itself (not of an upload: those are stored on the post).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a runner task stopped unexpectedly: {0}")]
    Task(String),
}

impl RunError {
    /// Stable snake_case code for front ends (`disk_full` when the data dir's disk filled).
    pub fn code(&self) -> &'static str {
        match self {
            RunError::Store(e) => e.code(),
            RunError::Task(_) => "runner_task",
        }
    }
}

/// Inside the runner's loop: a shared queue database that went away for longer than the store
/// rides out by itself ends only this round (each post stays at its last committed step), and
/// the loop tries again in a second; any other error ends the run.
macro_rules! round {
    ($e:expr, $stop:expr) => {
        match $e {
            Ok(v) => v,
            Err(RunError::Store(StoreError::Shared(e))) => {
                tracing::warn!(error = %e, "the shared queue is out of reach; trying again");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = $stop.changed() => {}
                }
                continue;
            }
            Err(e) => return Err(e),
        }
    };
}

/// The queue runner. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    clients: Clients,
    transfer: Transfer,
    config: RunnerConfig,
    events: broadcast::Sender<QueueEvent>,
    pacer: WritePacer,
    puts: Semaphore,
    /// Posts whose PUT failures must count even with a test key (the backend proved live).
    strict_puts: Mutex<HashSet<i64>>,
    /// Consecutive retryable failures with no success in between.
    failures_in_a_row: Mutex<u32>,
    /// Batches whose `BatchFinished` was already sent.
    finished: Mutex<HashSet<String>>,
    /// Batches this runner has worked on (only those get a `BatchFinished`).
    touched: Mutex<HashSet<String>>,
    /// Posts of a shared queue whose files this machine cannot read (already said so).
    elsewhere: Mutex<HashSet<i64>>,
    /// Posts of a shared queue whose files here hold other bytes than the machine that queued
    /// them read: left to that machine for the rest of this run.
    differ_here: Mutex<HashSet<i64>>,
    /// Per project: how many posts the quota had room for at the last `409` (next round only).
    quota_room: Mutex<HashMap<String, usize>>,
    /// Rung when new posts were enqueued while the runner may be waiting (watch folders).
    wake: Notify,
    /// Posts left alone because their destination has no client in this run (told once).
    parked: Mutex<HashSet<i64>>,
    /// The posts under way that the last round held identical posts back for (their twins).
    held_for: Mutex<HashSet<i64>>,
}

impl Runner {
    /// A runner over a store, talking to Layers through `client` and to storage via `transfer`.
    pub fn new(
        store: Arc<Store>,
        client: LayersClient,
        transfer: Transfer,
        config: RunnerConfig,
    ) -> Runner {
        let clients = Clients {
            layers: Some(client),
            loops: None,
        };
        Runner::with_clients(store, clients, transfer, config)
    }

    /// A runner with the clients of several destinations (Layers and/or Loops). Posts whose
    /// destination has no client here are left as they are, for a run that has one.
    pub fn with_clients(
        store: Arc<Store>,
        clients: Clients,
        transfer: Transfer,
        config: RunnerConfig,
    ) -> Runner {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Runner {
            inner: Arc::new(Inner {
                pacer: WritePacer::new(config.writes_per_minute),
                puts: Semaphore::new(config.put_concurrency.max(1)),
                store,
                clients,
                transfer,
                config,
                events,
                strict_puts: Mutex::new(HashSet::new()),
                failures_in_a_row: Mutex::new(0),
                finished: Mutex::new(HashSet::new()),
                touched: Mutex::new(HashSet::new()),
                elsewhere: Mutex::new(HashSet::new()),
                differ_here: Mutex::new(HashSet::new()),
                quota_room: Mutex::new(HashMap::new()),
                held_for: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                parked: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.events.subscribe()
    }

    /// Says new posts were enqueued: a runner waiting for a retry time looks again at once,
    /// and [`Runner::woken`] returns (a wake with no one waiting is kept for the next wait).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits for [`Runner::wake`]; what a front end that never stops (watch, the app) awaits
    /// after [`Runner::run`] returned `Idle`. On a shared queue it also returns after
    /// [`SHARED_IDLE_LOOK`]: what other machines do rings no bell here (a post given back that
    /// this machine can now work, a copy whose twin another machine finally uploaded).
    pub async fn woken(&self) {
        if self.inner.store.is_shared() {
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(SHARED_IDLE_LOOK) => {}
            }
        } else {
            self.inner.wake.notified().await;
        }
    }

    /// The store this runner works on.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Works until nothing in `scope` is runnable, the stop signal comes, or (CLI mode) a
    /// post used all its attempts.
    pub async fn run(
        &self,
        scope: &Scope,
        stop: watch::Receiver<bool>,
    ) -> Result<RunEnd, RunError> {
        self.run_fed(scope, stop, None).await
    }

    /// Like [`Runner::run`], but while `feeding` says `true` more posts may still arrive (files
    /// still being inspected), so an empty queue means "wait", not "done".
    ///
    /// The loop is continuous: whenever posts become runnable (newly queued, due after a
    /// backoff, sent back for a new session) their work starts at once, beside what is in
    /// flight, so PUT slots never idle while a slower post finishes.
    ///
    /// A store that cannot be written (a full disk) stops the run with
    /// [`StoreError::DiskFull`]: the failed transaction left its post where it was, so no post
    /// is marked failed and `resume` goes on from there once there is space.
    pub async fn run_fed(
        &self,
        scope: &Scope,
        stop: watch::Receiver<bool>,
        feeding: Option<watch::Receiver<bool>>,
    ) -> Result<RunEnd, RunError> {
        let store = &self.inner.store;
        // A runner claims what it works (see `store::lease`): on a shared queue other machines
        // run beside it; on the local one this only matters after a crash.
        let lease = match store.lease() {
            Some(l) => l,
            None => store.take_leases(&crate::queue::store::machine_name()),
        };
        let renewing = {
            let store = store.clone();
            let every = lease.time / 3;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let renewed = tokio::task::spawn_blocking({
                        let store = store.clone();
                        move || store.renew_leases()
                    })
                    .await;
                    if let Ok(Err(e)) = renewed {
                        tracing::warn!(error = %e, "could not renew this runner's claims");
                    }
                }
            })
        };
        let ended = self.run_rounds(scope, stop, feeding).await;
        renewing.abort();
        if let Err(e) = store.release_leases() {
            tracing::warn!(error = %e, "could not give back this runner's claims");
        }
        ended.map_err(|e| match e {
            RunError::Store(s) => RunError::Store(self.inner.store.explain(s)),
            other => other,
        })
    }

    async fn run_rounds(
        &self,
        scope: &Scope,
        mut stop: watch::Receiver<bool>,
        mut feeding: Option<watch::Receiver<bool>>,
    ) -> Result<RunEnd, RunError> {
        let mut tasks: JoinSet<Result<(), RunError>> = JoinSet::new();
        let mut task_posts: HashMap<tokio::task::Id, Vec<i64>> = HashMap::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        loop {
            if *stop.borrow() {
                return Ok(stop_tasks(&mut tasks).await);
            }
            // Read before looking for work: if feeding had already ended, finding nothing
            // means done; read after, posts fed in between would be missed.
            let more_coming = feeding.as_ref().is_some_and(|f| *f.borrow());
            let in_outage = self.in_outage();
            let mut exhausted = HashSet::new();
            let mut settled_without_work = false;
            if !in_outage || tasks.is_empty() {
                let (work, spent) = round!(self.collect_work(scope, &in_flight), stop);
                exhausted = spent;
                let looked_at: Vec<i64> = work.iter().map(|p| p.id).collect();
                let groups = round!(self.reserve_queued(work), stop);
                // A round that only settled posts (every one a duplicate, skipped) started no
                // task; more may be queued past the round's bound, so look again at once.
                if groups.is_empty() && !looked_at.is_empty() {
                    settled_without_work = round!(self.any_terminal(&looked_at), stop);
                }
                // In an outage only one session probes at a time.
                let take = if in_outage { 1 } else { usize::MAX };
                for (_, posts) in groups.into_iter().take(take) {
                    in_flight.extend(posts.iter().copied());
                    let runner = self.clone();
                    let ids = posts.clone();
                    let handle = tasks.spawn(async move { runner.drive_session(ids).await });
                    task_posts.insert(handle.id(), posts);
                }
            }
            if tasks.is_empty() && settled_without_work {
                continue;
            }
            if tasks.is_empty() {
                if more_coming {
                    let changed = async {
                        match feeding.as_mut() {
                            Some(f) => {
                                let _ = f.changed().await;
                            }
                            None => std::future::pending::<()>().await,
                        }
                    };
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep(FEED_TICK) => {}
                        _ = stop.changed() => return Ok(RunEnd::Stopped),
                    }
                    continue;
                }
                round!(self.announce_finished(), stop);
                let Some(at) = round!(self.next_wakeup(scope), stop) else {
                    return Ok(if exhausted.is_empty() {
                        RunEnd::Idle
                    } else {
                        RunEnd::GaveUp
                    });
                };
                let wait = Duration::from_millis((at - now_ms()).clamp(0, 60_000) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = self.inner.wake.notified() => continue,
                    _ = stop.changed() => return Ok(RunEnd::Stopped),
                }
            }
            tokio::select! {
                joined = tasks.join_next_with_id() => {
                    let id = match &joined {
                        Some(Ok((id, _))) => Some(*id),
                        Some(Err(e)) => Some(e.id()),
                        None => None,
                    };
                    if let Some(posts) = id.and_then(|id| task_posts.remove(&id)) {
                        for p in posts {
                            in_flight.remove(&p);
                        }
                    }
                    match joined {
                        Some(Ok((_, Err(RunError::Store(StoreError::LeaseLost { post, holder }))))) => {
                            tracing::warn!(post, holder = %holder,
                                "another runner holds this post now; leaving it to that one");
                        }
                        // The shared database went away mid-step: the step's transaction did
                        // not commit, so the post is picked up again from its last one.
                        Some(Ok((_, Err(RunError::Store(StoreError::Shared(e)))))) => {
                            tracing::warn!(error = %e,
                                "a post's step was cut by the shared queue database; it runs again");
                        }
                        Some(Ok((_, Err(e)))) => {
                            stop_tasks(&mut tasks).await;
                            return Err(e);
                        }
                        Some(Err(e)) if !e.is_cancelled() => {
                            stop_tasks(&mut tasks).await;
                            return Err(RunError::Task(e.to_string()));
                        }
                        _ => {}
                    }
                }
                // Look again when posts were fed (at once: PUT slots may be free), and now and
                // then: backoffs that came due.
                _ = fed(&mut feeding, more_coming) => {}
                _ = tokio::time::sleep(FEED_TICK) => {}
                _ = stop.changed() => return Ok(stop_tasks(&mut tasks).await),
            }
        }
    }

    /// Runnable posts, with due waiting ones resumed; exhausted ones are set aside (CLI mode).
    fn collect_work(
        &self,
        scope: &Scope,
        in_flight: &HashSet<i64>,
    ) -> Result<(Vec<StoredPost>, HashSet<i64>), RunError> {
        let store = &self.inner.store;
        let mut work = Vec::new();
        let mut exhausted = HashSet::new();
        let max = i64::from(self.inner.config.retry.max_attempts);
        // On a shared queue a runner claims only what it can start soon, so queued posts stay
        // free for the other machines' runners instead of waiting behind this one's.
        let queued = if store.is_shared() {
            (2 * self.inner.config.put_concurrency.max(1)).saturating_sub(in_flight.len())
        } else {
            QUEUED_PER_ROUND
        };
        for id in store.runnable_bounded(now_ms(), scope.batch(), queued)? {
            if in_flight.contains(&id) {
                continue;
            }
            let mut post = store.post(id)?;
            if !self.readable_here(&post)? {
                continue;
            }
            if let Err(why) = self.destination(&post) {
                self.park(&post, &why);
                continue;
            }
            if post.state == PostState::Waiting {
                if self.inner.config.give_up_when_exhausted && post.attempts >= max {
                    exhausted.insert(id);
                    continue;
                }
                let to = post.resume_state.unwrap_or(PostState::Queued);
                self.set(&post, PostEvent::Resume(to), Change::default(), None)?;
                post = store.post(id)?;
            }
            if let Ok(mut touched) = self.inner.touched.lock() {
                touched.insert(post.batch_id.clone());
            }
            work.push(post);
        }
        Ok((work, exhausted))
    }

    /// On a shared queue, a post queued on another machine is worked here only when its files
    /// can be read here at the same paths (a shared folder); otherwise it is given back, with
    /// a note that it waits for a machine that can, and left as it is.
    fn readable_here(&self, post: &StoredPost) -> Result<bool, RunError> {
        let store = &self.inner.store;
        if post.files.is_empty() {
            return Ok(true);
        }
        let Some((origin, here)) = self.queued_elsewhere(post.id)? else {
            return Ok(true);
        };
        if self.differs_here(post.id) {
            return Ok(false);
        }
        // Missing here, or another size: not the file that was queued (a shared folder
        // shows every machine the same one). Same size: the pre-PUT re-check compares bytes.
        let missing = post.files.iter().find(|f| {
            std::fs::metadata(&f.path).map_or(true, |m| !m.is_file() || m.len() != f.size_bytes)
        });
        let mut told = self
            .inner
            .elsewhere
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match missing {
            None => {
                if told.remove(&post.id) {
                    store.clear_machine_note(post.id)?;
                }
                Ok(true)
            }
            Some(f) => {
                let why = format!(
                    "waits for a machine that can read {} (it was queued on {origin}; on {here} it is missing or another file)",
                    f.path.display()
                );
                store.release_post(post.id, &why)?;
                if told.insert(post.id) {
                    tracing::info!(post = post.id, "{why}");
                    self.emit_state(post.id, &post.batch_id, post.state, None, None, Some(why));
                }
                Ok(false)
            }
        }
    }

    /// On a shared queue, for a post another machine queued: (that machine, this one).
    fn queued_elsewhere(&self, post: i64) -> Result<Option<(String, String)>, RunError> {
        let store = &self.inner.store;
        if !store.is_shared() {
            return Ok(None);
        }
        let origin = store.origin(post)?;
        let here = store.lease().map(|l| l.machine).unwrap_or_default();
        Ok((!origin.is_empty() && origin != here).then_some((origin, here)))
    }

    /// Whether a post was found to hold other bytes here than where it was queued.
    fn differs_here(&self, post: i64) -> bool {
        self.inner
            .differ_here
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&post)
    }

    /// A post of another machine whose file here holds other bytes than the ones it queued:
    /// given back to that machine instead of uploading this machine's file in its place.
    /// `false` when the post is this machine's own (then a changed file is a real change).
    fn give_back_if_queued_elsewhere(
        &self,
        post: &StoredPost,
        file: &std::path::Path,
    ) -> Result<bool, RunError> {
        let Some((origin, here)) = self.queued_elsewhere(post.id)? else {
            return Ok(false);
        };
        let why = format!(
            "waits for {origin}, where it was queued: {} on {here} holds other bytes",
            file.display()
        );
        self.inner.store.release_post(post.id, &why)?;
        self.inner
            .differ_here
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(post.id);
        tracing::info!(post = post.id, "{why}");
        self.emit_state(post.id, &post.batch_id, post.state, None, None, Some(why));
        Ok(true)
    }

    /// Whether any of these posts has reached a terminal state.
    fn any_terminal(&self, ids: &[i64]) -> Result<bool, RunError> {
        for id in ids {
            if self.inner.store.post(*id)?.state.is_terminal() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn next_wakeup(&self, scope: &Scope) -> Result<Option<i64>, RunError> {
        let config = &self.inner.config;
        let exhausted_at = config
            .give_up_when_exhausted
            .then_some(i64::from(config.retry.max_attempts));
        let at = self.inner.store.next_wakeup(scope.batch(), exhausted_at)?;
        let twin = self.next_twin_check()?;
        Ok([at, twin].into_iter().flatten().min())
    }

    /// On a shared queue, when to look again at the posts the last round held back for a twin
    /// under way. Nothing tells this machine when another one finishes the twin, so: at once
    /// when the twin has ended since, every [`TWIN_POLL`] while another runner holds it, and
    /// not at all for a twin nobody works (it waits for a machine that has its files).
    fn next_twin_check(&self) -> Result<Option<i64>, RunError> {
        let store = &self.inner.store;
        if !store.is_shared() {
            return Ok(None);
        }
        let twins: Vec<i64> = {
            let held_for = self
                .inner
                .held_for
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            held_for.iter().copied().collect()
        };
        let mut at = None;
        for twin in twins {
            let when = if !store.post(twin)?.state.is_active() {
                now_ms()
            } else if store.held_elsewhere(twin)? {
                now_ms() + TWIN_POLL.as_millis() as i64
            } else {
                continue;
            };
            at = Some(at.map_or(when, |a: i64| a.min(when)));
        }
        Ok(at)
    }

    /// Sends `BatchFinished` once for each batch in scope whose posts all need nothing more.
    fn announce_finished(&self) -> Result<(), RunError> {
        // Only batches this runner worked on and has not announced yet: no full-queue scan.
        let pending: Vec<String> = {
            let touched = self.inner.touched.lock().unwrap_or_else(|p| p.into_inner());
            let finished = self
                .inner
                .finished
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            touched.difference(&finished).cloned().collect()
        };
        for batch_id in pending {
            let states = self.inner.store.batch_states(&batch_id)?;
            if !states.iter().all(|s| s.is_terminal()) {
                continue;
            }
            let count = |want: PostState| states.iter().filter(|s| **s == want).count();
            let _ = self.inner.events.send(QueueEvent::BatchFinished {
                completed: count(PostState::Completed),
                skipped: count(PostState::Skipped),
                failed: count(PostState::Failed),
                blocked: count(PostState::Blocked),
                cancelled: count(PostState::Cancelled),
                batch_id: batch_id.clone(),
            });
            self.inner
                .finished
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(batch_id);
        }
        Ok(())
    }

    /// Fails several posts with one error.
    fn fail_all<'a>(
        &self,
        posts: impl Iterator<Item = &'a StoredPost>,
        code: &str,
        message: &str,
    ) -> Result<(), RunError> {
        for p in posts {
            let change = with_error(post_error(code, message));
            self.set(p, PostEvent::Fail, change, None)?;
        }
        Ok(())
    }

    /// Applies a transition and tells the front ends. A post changed under us (cancelled by
    /// another command) is left as it is.
    fn set(
        &self,
        post: &StoredPost,
        event: PostEvent,
        change: Change,
        note: Option<String>,
    ) -> Result<(), RunError> {
        let error = change.error.clone().flatten();
        let next_at = change.next_attempt_at.flatten();
        match self.inner.store.transition(post.id, event, change) {
            Ok(state) => {
                self.emit_state(post.id, &post.batch_id, state, error, next_at, note);
                Ok(())
            }
            Err(StoreError::Transition(e)) => {
                tracing::info!(post = post.id, "post changed while running: {e}");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn emit_state(
        &self,
        post_id: i64,
        batch_id: &str,
        state: PostState,
        error: Option<PostError>,
        next_attempt_at: Option<i64>,
        note: Option<String>,
    ) {
        let _ = self.inner.events.send(QueueEvent::PostState {
            post_id,
            batch_id: batch_id.to_string(),
            state,
            error,
            next_attempt_at,
            note,
        });
    }

    /// Carries out a fault's action on a post.
    async fn apply(
        &self,
        post: &StoredPost,
        action: Action,
        error: PostError,
    ) -> Result<(), RunError> {
        let store = &self.inner.store;
        match action {
            Action::Retry { after } => {
                let counted = after.is_none();
                if counted {
                    self.note_failure();
                } else if let Some(wait) = after {
                    self.inner.pacer.backoff(wait).await;
                }
                let attempt = if counted { post.attempts as u32 } else { 0 };
                let mut wait = after.unwrap_or_else(|| self.inner.config.retry.backoff(attempt));
                if self.in_outage() {
                    wait = wait.max(self.inner.config.retry.cap);
                }
                let at = now_ms() + wait.as_millis() as i64;
                let note = format!(
                    "retrying{}, next in {:.0} s: {}",
                    if counted {
                        format!(", attempt {}", post.attempts + 2)
                    } else {
                        String::new()
                    },
                    wait.as_secs_f64().ceil(),
                    error.message
                );
                let change = Change {
                    error: Some(Some(error)),
                    next_attempt_at: Some(Some(at)),
                    count_attempt: counted,
                    ..Change::default()
                };
                self.set(post, PostEvent::Wait, change, Some(note))
            }
            Action::Restart => {
                let restarts = store.restarts(post.id)?;
                if restarts >= self.inner.config.max_restarts {
                    let msg = format!("{} (gave up after {restarts} new sessions)", error.message);
                    return self.set(
                        post,
                        PostEvent::Fail,
                        with_error(post_error(&error.code, msg)),
                        None,
                    );
                }
                match store.restart_post(post.id, &error) {
                    Ok(_) => {
                        let note = "starting over with a new upload session".to_string();
                        self.emit_state(
                            post.id,
                            &post.batch_id,
                            PostState::Queued,
                            Some(error),
                            None,
                            Some(note),
                        );
                        Ok(())
                    }
                    Err(StoreError::Transition(_)) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Action::Block { usage } => {
                let note = usage.map(|u| {
                    format!(
                        "quota reached: {}/{} uploads, {}/{}. Archive uploads in the Layers app (Assets → Uploaded Content), then retry. Abandoned sessions free their quota within about 2 hours.",
                        u.current_uploads,
                        u.max_uploads,
                        crate::media::human_bytes(u.current_bytes),
                        crate::media::human_bytes(u.max_bytes)
                    )
                });
                self.set(post, PostEvent::Block, with_error(error), note)
            }
            Action::Fail | Action::CheckFile | Action::Reput { .. } => {
                self.set(post, PostEvent::Fail, with_error(error), None)
            }
        }
    }

    /// The destination a post's batch names, on this run's clients.
    fn destination(&self, post: &StoredPost) -> Result<Arc<dyn Destination>, Unavailable> {
        self.inner.clients.destination(&post.destination)
    }

    /// The error as this destination explains it; quota usage stays in the details.
    fn explain(&self, dest: &dyn Destination, e: &ApiError, post: &StoredPost) -> PostError {
        let mut error = dest.explain(e, post, &self.inner.store);
        if error.details.is_none() {
            error.details = post_error_api(e).details;
        }
        error
    }

    /// Leaves a post this run cannot drive as it is, saying why once.
    fn park(&self, post: &StoredPost, why: &Unavailable) {
        let first = self
            .inner
            .parked
            .lock()
            .map(|mut p| p.insert(post.id))
            .unwrap_or(false);
        if first {
            tracing::warn!(post = post.id, "left in the queue: {why}");
            self.emit_state(
                post.id,
                &post.batch_id,
                post.state,
                None,
                None,
                Some(format!("left in the queue: {why}")),
            );
        }
    }

    fn throughput(&self) -> u64 {
        self.inner
            .store
            .setting(THROUGHPUT_SETTING)
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(DEFAULT_THROUGHPUT_BPS)
    }

    fn note_success(&self) {
        *self
            .inner
            .failures_in_a_row
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = 0;
    }

    fn note_failure(&self) {
        *self
            .inner
            .failures_in_a_row
            .lock()
            .unwrap_or_else(|p| p.into_inner()) += 1;
    }

    fn in_outage(&self) -> bool {
        *self
            .inner
            .failures_in_a_row
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            >= self.inner.config.outage_threshold
    }
}

/// Resolves when the feeder says something new, while it may still feed; never otherwise (a
/// finished feeder's closed channel would resolve at once, every time).
async fn fed(feeding: &mut Option<watch::Receiver<bool>>, more_coming: bool) {
    match feeding.as_mut() {
        Some(f) if more_coming => {
            let _ = f.changed().await;
        }
        _ => std::future::pending::<()>().await,
    }
}

/// Stops every task (in-flight PUTs are abandoned; the store already says where each post
/// stands, and `resume` picks up from there).
async fn stop_tasks(tasks: &mut JoinSet<Result<(), RunError>>) -> RunEnd {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    RunEnd::Stopped
}

/// A change that records an error and clears any pending retry time.
fn with_error(error: PostError) -> Change {
    Change {
        error: Some(Some(error)),
        next_attempt_at: Some(None),
        ..Change::default()
    }
}
