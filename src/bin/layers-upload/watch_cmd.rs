//! `layers-upload watch DIR`: an export folder that uploads itself. Runs the folder's watch
//! (which feeds the queue) and the runner (which never gives up) until SIGINT/SIGTERM. A
//! watch that starts while Layers cannot be reached (a render server whose network comes up
//! after it) queues files offline and probes with backoff until Layers answers; only a key
//! Layers refuses ends it, since waiting cannot fix that.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use layers_uploader::api::retry::{human_wait, trouble, GaveUp, RetryNotice};
use layers_uploader::api::types::{Grouping, WhoAmI};
use layers_uploader::api::{ApiError, LayersClient, NetworkKind, RetryPolicy};
use layers_uploader::media::{Inspector, Limits};
use layers_uploader::queue::lock::RunLock;
use layers_uploader::queue::plan::check_caption;
use layers_uploader::queue::store::{NewWatch, Store};
use layers_uploader::queue::{RunEnd, Runner, Scope};
use layers_uploader::watch::{self, WatchContext, WatchReport};
use tokio::sync::{mpsc, watch as signal_watch};

use crate::engine::{self, RunOpts};
use crate::progress::Printer;
use crate::queue_cmd::{read_caption_file, GroupingArg};
use crate::GlobalOpts;

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Watch subfolders too (per-file: files at any depth become posts).
    #[arg(long)]
    recursive: bool,
    /// Seconds a file's size and modification time must hold still before it is taken
    /// (fractions allowed).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_settle)]
    settle: Duration,
    /// per-file: one post per file; slideshow: each immediate subfolder becomes one slideshow
    /// (files directly in DIR stay per-file).
    #[arg(long, value_enum, default_value = "per-file")]
    grouping: GroupingArg,
    /// The folder's default caption, for files without a `<name>.txt` sidecar (a slideshow
    /// folder uses its `caption.txt`).
    #[arg(long, value_name = "FILE")]
    caption_file: Option<PathBuf>,
    /// After a post completed, move its files (and sidecar) into DIR/Uploaded/.
    #[arg(long)]
    move_uploaded: bool,
    /// Queue a fitted copy of a file that misses TikTok or Instagram (made as `fit` does, in a
    /// hidden .fit/ folder beside it, which the watch never takes) instead of the file.
    #[arg(long)]
    make_fit: bool,
    #[command(flatten)]
    run: RunOpts,
    /// The folder to watch.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// `5`, `0.5`: a positive number of seconds.
fn parse_settle(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds like 5 or 0.5"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err("the settle time must be more than 0 and at most a day".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Watches the folder and uploads what settles in it, until interrupted.
pub async fn watch(global: &GlobalOpts, args: WatchArgs) -> ExitCode {
    let folder = match std::fs::canonicalize(&args.dir) {
        Ok(f) if f.is_dir() => f,
        Ok(f) => return engine::cannot_start(format!("{} is not a folder", f.display())),
        Err(e) => return engine::cannot_start(format!("cannot watch {}: {e}", args.dir.display())),
    };
    let caption = match &args.caption_file {
        Some(f) => match read_caption_file(f) {
            Ok(c) => c,
            Err(e) => return engine::cannot_start(e),
        },
        None => String::new(),
    };
    if let Err(e) = check_caption(&caption) {
        return engine::cannot_start(format!("the default caption: {}", e.message));
    }
    let project = match engine::project(global) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (dir, store) = match engine::open_store(global) {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let client = match engine::layers_client(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // One check now: a refused key ends the watch before anything is saved; an API that is
    // merely unreachable, rate-limited or failing does not.
    let offline = match client.whoami().await {
        Ok(me) => {
            engine::announce(global, &client, &me);
            None
        }
        Err(e) if e.is_retryable() => {
            eprintln!(
                "layers-upload: {}; watching offline: files are queued and upload once Layers answers",
                trouble(&e, "the key check")
            );
            Some(e)
        }
        Err(e) => {
            return engine::key_check_failed(&GaveUp {
                error: e,
                attempts: 1,
                elapsed: Duration::ZERO,
            })
        }
    };
    let _lock = match RunLock::acquire(&dir) {
        Ok(l) => l,
        Err(e) => return engine::cannot_start(e),
    };
    let saved = match store.save_watch(&NewWatch {
        folder: folder.clone(),
        project_id: project,
        recursive: args.recursive,
        grouping: Grouping::from(args.grouping),
        caption,
        settle_ms: args.settle.as_millis().max(1) as u64,
        move_uploaded: args.move_uploaded,
    }) {
        Ok(w) => w,
        Err(e) => return engine::cannot_start(e),
    };
    let runner = match engine::runner(store.clone(), client.clone(), &args.run, false) {
        Ok(r) => r,
        Err(code) => return code,
    };

    let (stop_tx, stop_rx) = signal_watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    // Plain lines, no bars: a watch runs for weeks, and an idle one should not redraw.
    let printer = Printer {
        store: store.clone(),
        json: args.run.json,
        tty: false,
        total_bytes: 0,
        posts: 0,
    };
    let printer = tokio::spawn(printer.run(runner.subscribe()));
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let report_printer = tokio::spawn(print_reports(reports_rx, folder.clone()));
    let signal = {
        let stop_tx = Arc::clone(&stop_tx);
        tokio::spawn(async move {
            let code = engine::wait_for_signal().await;
            let _ = stop_tx.send(true);
            code
        })
    };
    let waker = runner.clone();
    let ctx = WatchContext {
        store: store.clone(),
        inspector: Arc::new(Inspector::new(Limits::from_env())),
        reports: reports_tx,
        on_enqueue: Arc::new(move || waker.wake()),
        make_fit: args.make_fit,
    };
    let mut watch_task = tokio::spawn(watch::run(ctx, saved, runner.subscribe(), stop_rx.clone()));
    let uploading = async {
        if let Some(first) = offline {
            match wait_for_layers(&client, &store, first, stop_rx.clone()).await {
                Ok(Some(me)) => engine::announce(global, &client, &me),
                Ok(None) => return Ok(()),
                Err(refused) => return Err(Ended::Refused(refused)),
            }
        }
        run_forever(&runner, stop_rx).await.map_err(Ended::Failed)
    };
    let failure = tokio::select! {
        joined = &mut watch_task => match joined {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Ended::Failed(e.to_string())),
            Err(e) => Some(Ended::Failed(format!("the watch stopped unexpectedly: {e}"))),
        },
        ended = uploading => ended.err(),
    };
    // Whichever ended first, the other stops too; the queue and the watch persist.
    let _ = stop_tx.send(true);
    if !watch_task.is_finished() {
        let _ = tokio::time::timeout(Duration::from_secs(10), watch_task).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    printer.abort();
    report_printer.abort();
    match failure {
        Some(Ended::Failed(message)) => {
            signal.abort();
            eprintln!("layers-upload: the watch stopped: {message}");
            return ExitCode::from(1);
        }
        Some(Ended::Refused(e)) => {
            signal.abort();
            return engine::key_check_failed(&e);
        }
        None => {}
    }
    let code = signal.await.unwrap_or(130);
    eprintln!(
        "layers-upload: stopped watching {}; the queue is saved and `layers-upload watch` or `resume` picks it up",
        folder.display()
    );
    ExitCode::from(code)
}

/// Why a watch ended other than by a signal.
enum Ended {
    /// The watch or the queue failed (exit 1).
    Failed(String),
    /// Layers refused the key while the watch waited for it (exit 2).
    Refused(GaveUp<ApiError>),
}

/// Least time between two "Layers unreachable" lines when nothing else changed: a watch may
/// wait offline for hours, and its log should not fill up with the same line.
const OFFLINE_LINE_EVERY: Duration = Duration::from_secs(60);

/// Probes `GET /v1/whoami` with [`RetryPolicy::forever`] after the first check failed with
/// `first`, saying how many posts wait and when the next try is. `Ok(None)`: stopped first;
/// `Err`: the key was refused.
async fn wait_for_layers(
    client: &LayersClient,
    store: &Store,
    first: ApiError,
    mut stop: signal_watch::Receiver<bool>,
) -> Result<Option<WhoAmI>, GaveUp<ApiError>> {
    let mut first = Some(first);
    let mut said: Option<(Instant, usize)> = None;
    let policy = RetryPolicy::forever();
    let probe = policy.run_observed(
        |_| {
            let known = first.take();
            async move {
                match known {
                    Some(e) => Err(e),
                    None => client.whoami().await,
                }
            }
        },
        |notice| {
            let waiting = waiting_posts(store);
            let due = said.is_none_or(|(at, n)| n != waiting || at.elapsed() >= OFFLINE_LINE_EVERY);
            if due {
                eprintln!("layers-upload: {}", offline_line(notice, waiting));
                said = Some((Instant::now(), waiting));
            }
        },
    );
    tokio::select! {
        probed = probe => probed.map(Some),
        _ = stop.changed() => Ok(None),
    }
}

/// Posts not finished yet (they upload once Layers answers).
fn waiting_posts(store: &Store) -> usize {
    store
        .list(None)
        .map(|posts| posts.iter().filter(|p| !p.state.is_terminal()).count())
        .unwrap_or(0)
}

/// "Layers unreachable, 3 posts waiting, next try in 4 s".
fn offline_line(notice: &RetryNotice<'_, ApiError>, waiting: usize) -> String {
    let headline = match notice.error {
        ApiError::Network {
            kind: NetworkKind::Connect | NetworkKind::Reset,
            ..
        } => "Layers unreachable".to_string(),
        other => trouble(other, "the key check"),
    };
    format!(
        "{headline}, {waiting} post{} waiting, next try in {}",
        if waiting == 1 { "" } else { "s" },
        human_wait(notice.wait.delay)
    )
}

/// Runs the queue, and when it is idle waits for the watch to enqueue more, until stopped.
async fn run_forever(runner: &Runner, stop: signal_watch::Receiver<bool>) -> Result<(), String> {
    loop {
        match runner.run(&Scope::All, stop.clone()).await {
            Ok(RunEnd::Stopped) => return Ok(()),
            Ok(RunEnd::Idle | RunEnd::GaveUp) => {
                let mut stop = stop.clone();
                if *stop.borrow() {
                    return Ok(());
                }
                tokio::select! {
                    _ = runner.woken() => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
            Err(e) => return Err(format!("the queue stopped: {e}")),
        }
    }
}

/// One line on stderr per report, paths relative to the watched folder.
async fn print_reports(mut reports: mpsc::UnboundedReceiver<WatchReport>, root: PathBuf) {
    let rel = |p: &Path| {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    while let Some(report) = reports.recv().await {
        let line = match report {
            WatchReport::Watching { folder, pending } => format!(
                "layers-upload: watching {} ({pending} file(s) to settle from before); Ctrl-C stops",
                folder.display()
            ),
            WatchReport::Queued {
                post_id,
                files,
                caption_from,
                since_last_write_ms,
            } => format!(
                "→ queued {} as post {post_id}, {:.2} s after the last write{}",
                files.iter().map(|f| rel(f)).collect::<Vec<_>>().join(", "),
                since_last_write_ms as f64 / 1000.0,
                caption_from
                    .map(|c| format!(", caption from {}", rel(&c)))
                    .unwrap_or_default()
            ),
            WatchReport::Skipped {
                path,
                code,
                message,
            } => format!("• {}: skipped ({code}): {message}", rel(&path)),
            WatchReport::Refused {
                path,
                code,
                message,
            } => format!("✗ {}: not uploaded ({code}): {message}", rel(&path)),
            WatchReport::FitIssues { path, issues } => format!(
                "! {}: platform fit (advisory, uploading anyway): {}",
                rel(&path),
                issues.join("; ")
            ),
            WatchReport::Fitted {
                path,
                copy,
                changes,
            } => format!(
                "↺ {}: queued its fitted copy {} ({})",
                rel(&path),
                rel(&copy),
                changes.join("; ")
            ),
            WatchReport::Moved { from, to } => format!("↪ moved {} → {}", rel(&from), rel(&to)),
            WatchReport::Rescanned { folder } => format!(
                "• the OS dropped file events; rescanned {}",
                folder.display()
            ),
            WatchReport::Problem { path, message } => format!("✗ {}: {message}", rel(&path)),
        };
        if line.starts_with('✗') {
            eprintln!("layers-upload: {line}");
        } else {
            crate::output::say!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_takes_fractions_and_refuses_nonsense() {
        assert_eq!(parse_settle("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_settle("5"), Ok(Duration::from_secs(5)));
        for bad in ["0", "-1", "abc", "NaN", "inf"] {
            assert!(parse_settle(bad).is_err(), "{bad}");
        }
    }
}
