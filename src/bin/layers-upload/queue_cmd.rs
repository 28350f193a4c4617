//! `upload`, `resume` and `queue list|retry|cancel`: the persistent queue from the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use layers_uploader::api::types::{Grouping, MAX_FILES_PER_CALL};
use layers_uploader::media::{Inspection, Inspector, Limits};
use layers_uploader::queue::plan::{check_caption, plan_posts};
use layers_uploader::queue::store::{Change, NewBatch, NewPost, PostError, Store};
use layers_uploader::queue::{PostEvent, PostState, RunEnd, Scope};

use tokio::sync::watch;

use crate::engine::{self, Ended, RunOpts};
use crate::GlobalOpts;

/// Arguments of `upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// per-file: one post per file; slideshow: one post of all the images (2–10).
    #[arg(long, value_enum, default_value = "per-file")]
    grouping: GroupingArg,
    /// The caption, published exactly as written (at most 2,200 characters).
    #[arg(long, conflicts_with = "caption_file")]
    caption: Option<String>,
    /// Read the caption from a file (a leading BOM and one trailing newline are dropped).
    #[arg(long, value_name = "FILE")]
    caption_file: Option<PathBuf>,
    /// Upload even if the same bytes were already uploaded to this project.
    #[arg(long)]
    force: bool,
    /// Upload a fitted copy (made beside it, as `fit` does) of each file that does not fit.
    #[arg(long)]
    make_fit: bool,
    #[command(flatten)]
    run: RunOpts,
    /// Files, or folders (the files directly in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// The `--grouping` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GroupingArg {
    PerFile,
    Slideshow,
}

impl From<GroupingArg> for Grouping {
    fn from(g: GroupingArg) -> Grouping {
        match g {
            GroupingArg::PerFile => Grouping::PerFile,
            GroupingArg::Slideshow => Grouping::Slideshow,
        }
    }
}

/// Arguments of `resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    run: RunOpts,
}

/// `queue` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// List every post in the queue.
    List {
        /// One JSON object per post on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Try failed, blocked, cancelled or paused posts again, and run the queue.
    Retry {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
        #[command(flatten)]
        run: RunOpts,
    },
    /// Cancel posts that have not completed.
    Cancel {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<i64>,
    },
}

/// Reads a caption file by the sidecar rule, with an error message that names the file.
pub fn read_caption_file(path: &std::path::Path) -> Result<String, String> {
    layers_uploader::queue::plan::read_caption_file(path)
        .map_err(|e| format!("cannot read the caption file {}: {e}", path.display()))
}

/// Enqueues the files as one batch and runs it to the end.
pub async fn upload(global: &GlobalOpts, args: UploadArgs) -> ExitCode {
    let caption = match (&args.caption, &args.caption_file) {
        (Some(c), _) => c.clone(),
        (None, Some(f)) => match read_caption_file(f) {
            Ok(c) => c,
            Err(e) => return engine::cannot_start(e),
        },
        (None, None) => String::new(),
    };
    let grouping = Grouping::from(args.grouping);
    let project = match engine::project(global) {
        Ok(p) => p,
        Err(code) => return code,
    };
    // Local checks first: a batch the API would refuse is refused before any request.
    if let Err(e) = check_caption(&caption) {
        eprintln!("layers-upload: {} ({})", e.message, e.code.as_str());
        return ExitCode::from(1);
    }
    let paths = crate::probe::expand(&args.paths);
    let paths = if args.make_fit {
        match crate::fit_cmd::fitted_paths(paths).await {
            Ok(p) => p,
            Err(code) => return code,
        }
    } else {
        paths
    };
    let inspector = Inspector::new(Limits::from_env());
    // A slideshow's rules are about the whole set: check every file before reserving.
    let upfront = match grouping {
        Grouping::Slideshow => {
            let inspections = inspector.inspect_all(&paths);
            match plan_posts(&inspections, grouping, &caption) {
                Ok(posts) => posts,
                Err(e) => {
                    eprintln!("layers-upload: {} ({})", e.message, e.code.as_str());
                    return ExitCode::from(1);
                }
            }
        }
        Grouping::PerFile => Vec::new(),
    };
    // Per-file: inspection (probe + sha-256) starts now, while the key is checked and the
    // store opened, and each file joins the queue the moment it is checked, so the first PUT
    // starts as early as it can and the rest of the checking overlaps the PUTs.
    let inspected =
        (grouping == Grouping::PerFile).then(|| inspect_in_background(inspector, &paths));
    let (store, client, _lock) = match engine::start_run(global).await {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let batch = NewBatch {
        project_id: project,
        destination: "layers-content".into(),
        grouping,
        force: args.force,
        posts: upfront,
    };
    let (batch_id, _) = match store.enqueue(&batch) {
        Ok(b) => b,
        Err(e) => return engine::cannot_start(store.explain(e)),
    };
    crate::output::say!("layers-upload: batch {batch_id}: {} file(s)", paths.len());
    let runner = match engine::runner(store.clone(), client, &args.run, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (feed_tx, feed_rx) = watch::channel(inspected.is_some());
    if let Some(inspected) = inspected {
        let (store, batch_id, caption) = (store.clone(), batch_id.clone(), caption.clone());
        // A plain thread, not a runtime task: an interrupted run exits without waiting for it.
        std::thread::spawn(move || {
            feed_inspected(&store, &batch_id, &caption, inspected, &feed_tx)
        });
    }
    let total_bytes = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let totals = engine::Totals {
        bytes: total_bytes,
        posts: if grouping == Grouping::PerFile {
            paths.len()
        } else {
            1
        },
    };
    let scope = Scope::Batch(batch_id.clone());
    let ended =
        engine::run_with_signals(&runner, scope, args.run.json, totals, Some(feed_rx)).await;
    if ended.is_err() {
        say_not_queued(&store, &batch_id, &paths);
    }
    let ids = store.batch_posts(&batch_id).unwrap_or_default();
    finish(&store, ended, &ids)
}

/// After a run stopped on a fault of its own (a full disk), names the files that never made it
/// into the queue: `resume` cannot know them, so they need another `upload`.
fn say_not_queued(store: &Store, batch_id: &str, paths: &[PathBuf]) {
    let Ok(posts) = store.list(Some(batch_id)) else {
        return;
    };
    let queued: std::collections::HashSet<String> =
        posts.into_iter().flat_map(|p| p.files).collect();
    // The queue keeps canonical paths.
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| {
            let stored = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            !queued.contains(stored.to_string_lossy().as_ref())
        })
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "layers-upload: {} file(s) were not queued, so `resume` will not upload them: run `layers-upload upload` again for {}",
            missing.len(),
            missing.join(" ")
        );
    }
}

/// Inspects `paths` on a thread of its own: the first file alone (its PUT can start the
/// soonest, and on a busy machine it is checked fastest without company), then the rest in
/// parallel. Each inspection is sent as soon as it is done, in the order they finish.
fn inspect_in_background(inspector: Inspector, paths: &[PathBuf]) -> mpsc::Receiver<Inspection> {
    let (tx, rx) = mpsc::channel();
    let paths = paths.to_vec();
    std::thread::spawn(move || {
        let Some((first, rest)) = paths.split_first() else {
            return;
        };
        if tx.send(inspector.inspect(first)).is_err() {
            return;
        }
        let tx = std::sync::Mutex::new(tx);
        inspector.inspect_each(rest, |_, inspection| {
            if let Ok(tx) = tx.lock() {
                let _ = tx.send(inspection);
            }
        });
    });
    rx
}

/// Plans each inspected file as a post and queues it (in [`FeedChunk`]s), waking the runner
/// after each; says `false` on `feeding` once every file is queued.
fn feed_inspected(
    store: &Store,
    batch_id: &str,
    caption: &str,
    inspected: mpsc::Receiver<Inspection>,
    feeding: &watch::Sender<bool>,
) {
    let mut chunk = FeedChunk::default();
    for inspection in inspected {
        let posts = match plan_posts(&[inspection], Grouping::PerFile, caption) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("layers-upload: {}", e.message);
                continue;
            }
        };
        if let Some(ready) = chunk.push(posts) {
            feed(store, batch_id, &ready);
            // A changed value wakes a runner that waits for work; `true` = more may come.
            let _ = feeding.send(true);
        }
    }
    feed(store, batch_id, &std::mem::take(&mut chunk.posts));
    let _ = feeding.send(false);
}

/// Inspected posts waiting to join the queue together. They are added as one transaction when
/// they fill a session (10 files) or pass [`FEED_FLUSH_BYTES`]: small files are then reserved in
/// full sessions, while big files start uploading as soon as each is checked.
#[derive(Default)]
struct FeedChunk {
    posts: Vec<NewPost>,
    bytes: u64,
}

/// Past this many bytes, waiting for more files costs more time than an extra create call.
const FEED_FLUSH_BYTES: u64 = 64 * 1024 * 1024;

impl FeedChunk {
    /// Adds posts; returns the chunk to queue when it is full.
    fn push(&mut self, posts: Vec<NewPost>) -> Option<Vec<NewPost>> {
        self.bytes += posts
            .iter()
            .flat_map(|p| &p.files)
            .map(|f| f.size_bytes)
            .sum::<u64>();
        self.posts.extend(posts);
        let files: usize = self.posts.iter().map(|p| p.files.len()).sum();
        if files >= MAX_FILES_PER_CALL || self.bytes >= FEED_FLUSH_BYTES {
            self.bytes = 0;
            return Some(std::mem::take(&mut self.posts));
        }
        None
    }
}

/// Queues inspected posts of a batch, reporting the ones refused locally.
fn feed(store: &Store, batch_id: &str, posts: &[NewPost]) {
    if posts.is_empty() {
        return;
    }
    match store.add_posts(batch_id, posts) {
        Ok(ids) => {
            for (id, post) in ids.iter().zip(posts) {
                if let Some((code, message)) = &post.rejected {
                    eprintln!(
                        "layers-upload: post {id} failed: {message} ({code}); fix it, then `layers-upload queue retry {id}`"
                    );
                }
            }
        }
        Err(e) => {
            let names: Vec<String> = posts
                .iter()
                .flat_map(|p| &p.files)
                .map(|f| f.filename.clone())
                .collect();
            eprintln!(
                "layers-upload: {} not queued ({}): {}",
                names.join(", "),
                e.code(),
                store.explain(e)
            );
        }
    }
}

/// Runs everything runnable in the queue.
pub async fn resume(global: &GlobalOpts, args: ResumeArgs) -> ExitCode {
    run_all(global, &args.run).await
}

async fn run_all(global: &GlobalOpts, run: &RunOpts) -> ExitCode {
    let (dir, store) = match engine::open_store(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let clients = match engine::connect_all(global).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let _lock = match layers_uploader::queue::lock::RunLock::acquire(&dir) {
        Ok(l) => l,
        Err(e) => return engine::cannot_start(e),
    };
    // Judge the run by the posts it had to work on, not by old failures in the store.
    let all = match store.list(None) {
        Ok(all) => all,
        Err(e) => return engine::cannot_start(e),
    };
    let (mine, others): (Vec<_>, Vec<_>) = all
        .iter()
        .filter(|p| !p.state.is_terminal())
        .partition(|p| store.claims(&p.destination, &p.backend));
    if !others.is_empty() {
        crate::output::say!(
            "layers-upload: {} post(s) enqueued for another service are left alone (`queue list` says which): only a run against that service works them",
            others.len()
        );
    }
    let pending: Vec<i64> = mine.iter().map(|p| p.id).collect();
    let runner = match engine::runner_with(store.clone(), clients, run, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let totals = engine::Totals::of(&store, &pending);
    let ended = engine::run_with_signals(&runner, Scope::All, run.json, totals, None).await;
    finish(&store, ended, &pending)
}

/// The exit code of a run over `ids`: 0 when every one completed or was skipped; 1 otherwise.
pub fn finish(store: &Store, ended: Result<Ended, ExitCode>, ids: &[i64]) -> ExitCode {
    let end = match ended {
        Ok(Ended::Finished(end)) => end,
        Ok(Ended::Interrupted(code)) => return ExitCode::from(code),
        Err(code) => return code,
    };
    let posts = match store.list(None) {
        Ok(p) => p
            .into_iter()
            .filter(|p| ids.contains(&p.id))
            .collect::<Vec<_>>(),
        Err(e) => return engine::cannot_start(e),
    };
    let count = |s: PostState| posts.iter().filter(|p| p.state == s).count();
    let ok = count(PostState::Completed) + count(PostState::Skipped);
    crate::output::say!(
        "layers-upload: {} completed, {} skipped, {} failed, {} blocked, {} cancelled, {} waiting",
        count(PostState::Completed),
        count(PostState::Skipped),
        count(PostState::Failed),
        count(PostState::Blocked),
        count(PostState::Cancelled),
        count(PostState::Waiting)
    );
    if end == RunEnd::GaveUp {
        eprintln!("layers-upload: some posts are still waiting after their retries ran out; `layers-upload resume` tries again");
    }
    // On a shared queue: posts this machine cannot work (their files are on another one).
    for p in posts.iter().filter(|p| !p.state.is_terminal()) {
        if let Some(e) = p.error.as_ref().filter(|e| e.code == "needs_other_machine") {
            eprintln!("layers-upload: post {} {}", p.id, e.message);
        } else if p.state == PostState::Queued {
            // Held back for an identical post nobody is uploading now (on a shared queue, one
            // whose files are on a machine that is not running).
            if let Ok(Some((twin, _))) = store.earlier_twin(p.id) {
                eprintln!(
                    "layers-upload: post {} waits for post {twin}, which has the same bytes and is not finished; `layers-upload resume` skips it once post {twin} is uploaded",
                    p.id
                );
            }
        }
    }
    if ok == posts.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `queue list|retry|cancel`.
pub async fn queue(global: &GlobalOpts, command: QueueCommand) -> ExitCode {
    let (_, store) = match engine::open_store(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match command {
        QueueCommand::List { json } => list(&store, json),
        QueueCommand::Cancel { ids } => {
            let mut code = ExitCode::SUCCESS;
            for id in ids {
                match store.post(id) {
                    Ok(p) => match store.transition(id, PostEvent::Cancel, Change::default()) {
                        Ok(_) => {
                            let held = p.session_id.is_some() && p.state != PostState::Queued;
                            crate::output::say!(
                                "layers-upload: post {id} cancelled{}",
                                if held {
                                    " (its reserved quota is freed when Layers reaps the session, within about 2 hours)"
                                } else {
                                    ""
                                }
                            );
                        }
                        Err(e) => {
                            eprintln!("layers-upload: post {id}: {e}");
                            code = ExitCode::from(1);
                        }
                    },
                    Err(e) => {
                        eprintln!("layers-upload: post {id}: {e}");
                        code = ExitCode::from(1);
                    }
                }
            }
            code
        }
        QueueCommand::Retry { ids, run } => {
            for id in &ids {
                let change = Change {
                    error: Some(None::<PostError>),
                    next_attempt_at: Some(None),
                    reset_attempts: true,
                    ..Change::default()
                };
                if let Err(e) = store.transition(*id, PostEvent::Retry, change) {
                    return engine::cannot_start(format!("post {id}: {e}"));
                }
            }
            drop(store);
            run_all(global, &run).await
        }
    }
}

fn list(store: &Store, json: bool) -> ExitCode {
    let posts = match store.list(None) {
        Ok(p) => p,
        Err(e) => return engine::cannot_start(e),
    };
    let current = store.backend();
    let shared = store.is_shared();
    let mut out = std::io::stdout().lock();
    for p in &posts {
        let line = if json {
            serde_json::to_string(p).unwrap_or_default()
        } else {
            let files: Vec<String> = p
                .files
                .iter()
                .map(|f| {
                    std::path::Path::new(f)
                        .file_name()
                        .map_or(f.clone(), |n| n.to_string_lossy().into_owned())
                })
                .collect();
            let detail = match (&p.container_id, &p.error) {
                (_, Some(e)) if p.state != PostState::Completed => {
                    format!("{}: {}", e.code, e.message)
                }
                (Some(c), _) => c.clone(),
                _ => String::new(),
            };
            // Posts enqueued for another service are run only by a run against it: say which.
            let elsewhere = match &current {
                Some(b) if b.for_destination(&p.destination) != p.backend => {
                    if p.backend.is_empty() {
                        "  [enqueued before backends were recorded]".to_string()
                    } else {
                        format!("  [for {}]", p.backend)
                    }
                }
                _ => String::new(),
            };
            // On a shared queue: which machine holds (or last worked) each post.
            let machine = match (&p.machine, shared) {
                (Some(m), true) if p.held => format!("  @{m}"),
                (Some(m), true) => format!("  (by {m})"),
                _ => String::new(),
            };
            format!(
                "{:>6}  {:<10}  {}  {}{elsewhere}{machine}",
                p.id,
                p.state.as_str(),
                files.join(", "),
                detail
            )
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
