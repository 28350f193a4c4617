//! How a CLI run shows itself: on a terminal, a bar per active file and an overall bar
//! (indicatif); otherwise plain lines (progress at most once a second per file). Completed
//! items go to stdout as the server's exact JSON when `--json` is given.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use layers_uploader::media::human_bytes;
use layers_uploader::queue::store::{PostError, Store};
use layers_uploader::queue::{PostState, QueueEvent};
use tokio::sync::broadcast;

/// What the printer needs to know about the run.
pub struct Printer {
    pub store: Arc<Store>,
    pub json: bool,
    pub tty: bool,
    /// Bytes the posts of this run have to upload (for the overall bar).
    pub total_bytes: u64,
    /// Posts in this run (for "3/10 posts").
    pub posts: usize,
}

impl Printer {
    /// Prints events until the channel closes or the task is aborted.
    pub async fn run(self, mut events: broadcast::Receiver<QueueEvent>) {
        let mut view = View::new(&self);
        loop {
            match events.recv().await {
                Ok(event) => view.show(&self, event),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
        view.finish();
    }
}

struct View {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    files: HashMap<(i64, String), (ProgressBar, u64)>,
    last_line: HashMap<(i64, String), Instant>,
    done: usize,
}

impl View {
    fn new(p: &Printer) -> View {
        if !p.tty {
            return View {
                multi: None,
                overall: None,
                files: HashMap::new(),
                last_line: HashMap::new(),
                done: 0,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let overall = multi.add(ProgressBar::new(p.total_bytes.max(1)));
        overall.set_style(style("{prefix:>12} [{bar:32.green/white}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} · ETA {eta}"));
        overall.set_prefix(format!("0/{} posts", p.posts));
        overall.enable_steady_tick(Duration::from_millis(250));
        View {
            multi: Some(multi),
            overall: Some(overall),
            files: HashMap::new(),
            last_line: HashMap::new(),
            done: 0,
        }
    }

    /// One line above the bars (or on stderr); with `--quiet` only errors are shown.
    fn line(&self, text: String, error: bool) {
        if !error && crate::output::quiet() {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn show(&mut self, p: &Printer, event: QueueEvent) {
        match event {
            QueueEvent::PostState { post_id, state, error, note, .. } => self.state(p, post_id, state, error, note),
            QueueEvent::Progress { post_id, file, bytes_sent, total_bytes, rate_bps, eta_ms } => {
                self.progress(post_id, file, bytes_sent, total_bytes, rate_bps, eta_ms)
            }
            QueueEvent::BatchFinished { completed, skipped, failed, blocked, cancelled, .. } => self.line(format!(
                "batch finished: {completed} completed, {skipped} skipped, {failed} failed, {blocked} blocked, {cancelled} cancelled"
            ), false),
        }
    }

    fn state(
        &mut self,
        p: &Printer,
        post_id: i64,
        state: PostState,
        error: Option<PostError>,
        note: Option<String>,
    ) {
        let post = p.store.post(post_id).ok();
        let files = post
            .as_ref()
            .map(|post| {
                if post.files.is_empty() {
                    return post.source_urls.join(", ");
                }
                post.files
                    .iter()
                    .map(|f| f.filename.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let text = match state {
            PostState::Completed => {
                self.post_done(p);
                if p.json {
                    if let Some(item) = post.and_then(|post| post.content_json) {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{item}");
                        let _ = out.flush();
                    }
                }
                format!(
                    "✓ post {post_id} completed: {files} → {}",
                    note.unwrap_or_default()
                )
            }
            PostState::Failed | PostState::Blocked | PostState::Skipped | PostState::Cancelled => {
                self.post_done(p);
                let why = note
                    .or(error.map(|e| format!("{}: {}", e.code, e.message)))
                    .unwrap_or_default();
                if matches!(state, PostState::Failed | PostState::Blocked) {
                    // An error line: it names the program and the next step.
                    self.line(
                        format!(
                            "layers-upload: ✗ post {post_id} {state}: {files}: {why} (then `layers-upload queue retry {post_id}`)"
                        ),
                        true,
                    );
                    return;
                }
                let mark = if state == PostState::Skipped {
                    "•"
                } else {
                    "✗"
                };
                format!("{mark} post {post_id} {state}: {files}: {why}")
            }
            PostState::Waiting => format!(
                "• post {post_id} waiting: {files}: {}",
                note.unwrap_or_default()
            ),
            PostState::Queued if note.is_some() => {
                format!("• post {post_id} {}: {files}", note.unwrap_or_default())
            }
            // The orphan warning of a resumed Loops create; a URL-fetch under way.
            PostState::Reserving | PostState::Finalizing if note.is_some() => {
                format!("• post {post_id}: {}", note.unwrap_or_default())
            }
            _ => return,
        };
        self.line(text, false);
    }

    fn post_done(&mut self, p: &Printer) {
        self.done += 1;
        if let Some(bar) = &self.overall {
            bar.set_prefix(format!("{}/{} posts", self.done.min(p.posts), p.posts));
        }
    }

    fn progress(
        &mut self,
        post_id: i64,
        file: String,
        sent: u64,
        total: u64,
        rate: f64,
        eta_ms: Option<u64>,
    ) {
        let key = (post_id, file.clone());
        if let Some(multi) = &self.multi {
            let (bar, last) = self.files.entry(key).or_insert_with(|| {
                let bar = multi.insert_from_back(1, ProgressBar::new(total.max(1)));
                bar.set_style(style("{prefix:>12} [{bar:32.cyan/white}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} · ETA {eta}"));
                bar.set_prefix(short(&file, 12));
                (bar, 0)
            });
            if let Some(overall) = &self.overall {
                overall.inc(sent.saturating_sub(*last));
            }
            *last = sent;
            bar.set_position(sent);
            if sent >= total {
                bar.finish_and_clear();
            }
            return;
        }
        let due = self
            .last_line
            .get(&key)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if (due || sent >= total) && !crate::output::quiet() {
            self.last_line.insert(key, Instant::now());
            let pct = (sent * 100).checked_div(total).unwrap_or(100);
            let eta = eta_ms
                .filter(|_| sent < total)
                .map(|ms| format!(", ETA {:.0} s", (ms as f64 / 1000.0).ceil()))
                .unwrap_or_default();
            eprintln!(
                "  {file}: {pct}% of {} at {}/s{eta}",
                human_bytes(total),
                human_bytes(rate as u64)
            );
        }
    }

    fn finish(&mut self) {
        for (bar, _) in self.files.values() {
            bar.finish_and_clear();
        }
        if let Some(bar) = &self.overall {
            bar.finish();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▌ ")
}

/// A name cut to `max` characters with an ellipsis, for the bar prefix.
fn short(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let head: String = name.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}
