//! Logs and the support bundle: daily-rotated log files in `<data dir>/logs` (pruned), and an
//! export that zips them with a queue summary — scrubbed, so a bundle never carries a key.

mod scrub;
mod zip;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::queue::store::{Store, DB_FILE};

pub use scrub::scrub_line;

/// Sub-directory of the data dir that holds the log files.
pub const LOG_DIR: &str = "logs";
/// How many daily files each component keeps (older ones are deleted at rotation).
pub const KEEP_DAYS: usize = 14;
/// How many of the newest posts the queue summary lists one by one.
const SUMMARY_POSTS: usize = 200;

/// Why logging or an export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    #[error("cannot write logs to {path}: {source}")]
    LogDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a logger is already installed in this process")]
    AlreadyInstalled,
    #[error("cannot write the diagnostics bundle {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Keeps the background log writer alive: drop it last (it flushes what is buffered).
#[must_use = "logs stop being written when the guard is dropped"]
pub struct LogGuard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

/// How log lines appear on stderr (the daily file always takes `info`, or `LAYERS_LOG`).
#[derive(Debug, Clone, Copy)]
pub struct StderrLog {
    /// Default level on stderr (`LAYERS_LOG` overrides it): "error", "warn", "info", "debug".
    pub level: &'static str,
    /// Colour codes (only on a terminal, never with `NO_COLOR` or into the journal).
    pub ansi: bool,
}

impl Default for StderrLog {
    fn default() -> Self {
        StderrLog {
            level: "warn",
            ansi: false,
        }
    }
}

/// Installs the process-wide logger: `<data>/logs/<component>.YYYY-MM-DD.log` at info (or
/// `LAYERS_LOG`), and stderr as `stderr` says (or `LAYERS_LOG`). Nothing is installed on error, so the
/// caller may fall back to stderr alone.
pub fn init_logging(
    data_dir: &Path,
    component: &str,
    stderr: StderrLog,
) -> Result<LogGuard, DiagnosticsError> {
    let dir = data_dir.join(LOG_DIR);
    let log_dir_err = |source| DiagnosticsError::LogDir {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(log_dir_err)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(component)
        .filename_suffix("log")
        .max_log_files(KEEP_DAYS)
        .build(&dir)
        .map_err(|e| log_dir_err(std::io::Error::other(e)))?;
    let (writer, worker) = tracing_appender::non_blocking(WarnOnce::new(appender, dir.clone()));
    let filter = |default: &str| {
        EnvFilter::try_from_env("LAYERS_LOG").unwrap_or_else(|_| EnvFilter::new(default))
    };
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(filter("info"));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_ansi(stderr.ansi)
        .with_writer(std::io::stderr)
        .with_filter(filter(stderr.level));
    tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .try_init()
        .map_err(|_| DiagnosticsError::AlreadyInstalled)?;
    Ok(LogGuard { _worker: worker })
}

/// A log file writer that never fails: the first write error (a full disk, a log dir made
/// read-only) is told once on stderr, and from then on lines that cannot be written are
/// dropped — an upload never stops or slows because its log cannot be written.
struct WarnOnce<W> {
    inner: W,
    dir: PathBuf,
    warned: bool,
}

impl<W: Write> WarnOnce<W> {
    fn new(inner: W, dir: PathBuf) -> Self {
        WarnOnce {
            inner,
            dir,
            warned: false,
        }
    }

    fn note(&mut self, e: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "layers-upload: warning: cannot write the log in {}: {e}; going on without it",
                self.dir.display()
            );
        }
    }
}

impl<W: Write> Write for WarnOnce<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.inner.write_all(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => {
                self.note(&e);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Err(e) = self.inner.flush() {
            self.note(&e);
        }
        Ok(())
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    pub path: PathBuf,
    pub log_files: usize,
    pub bytes: u64,
}

/// The queue's shape for a support request: counts by state, watches, and the newest posts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueSummary {
    schema_version: i64,
    posts: usize,
    by_state: BTreeMap<String, usize>,
    watches: Vec<WatchSummary>,
    newest_posts: Vec<crate::queue::store::PostSummary>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WatchSummary {
    id: i64,
    folder: PathBuf,
    project_id: String,
    grouping: String,
    recursive: bool,
    settle_ms: u64,
    move_uploaded: bool,
}

/// Every key this process can see (environment and keyring, Layers and Loops), so even a
/// key without a recognizable shape (Loops keys are opaque) is redacted from a bundle.
fn known_secrets() -> scrub::Scrubber {
    use crate::secrets::{Account, KeyStore};
    let store = KeyStore::new();
    let keys = [Account::Layers, Account::Loops]
        .into_iter()
        .filter_map(|account| store.resolve(account).ok())
        .map(|(key, _)| key.expose().to_string());
    let env = ["LAYERS_API_KEY", "LOOPS_API_KEY"]
        .iter()
        .filter_map(|v| std::env::var(v).ok());
    scrub::Scrubber::with_secrets(keys.chain(env))
}

/// Writes a zip at `out` with every retained log file (keys scrubbed), `queue-summary.json`
/// and `about.txt`. The queue store is only read, never created.
pub fn export(data_dir: &Path, out: &Path) -> Result<ExportReport, DiagnosticsError> {
    let write_err = |source| DiagnosticsError::Write {
        path: out.to_path_buf(),
        source,
    };
    let scrubber = known_secrets();
    let file = File::create(out).map_err(write_err)?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file), unix_now());

    let mut log_files = 0;
    for path in log_files_in(&data_dir.join(LOG_DIR)) {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // A log rotated away between listing and reading is simply not in the bundle.
        let Ok(f) = File::open(&path) else { continue };
        let mut scrubbed = scrub::ScrubbedReader::new(scrubber.clone(), BufReader::new(f));
        zip.add(&format!("logs/{name}"), &mut scrubbed)
            .map_err(write_err)?;
        log_files += 1;
    }

    let summary = match queue_summary(data_dir) {
        Ok(Some(s)) => serde_json::to_vec_pretty(&s).unwrap_or_default(),
        Ok(None) => b"{\"note\":\"no queue store in this data dir yet\"}".to_vec(),
        Err(e) => format!("{{\"error\":{}}}", serde_json::Value::from(e.to_string())).into_bytes(),
    };
    let summary = scrub::scrub_text(&scrubber, &summary);
    zip.add("queue-summary.json", &mut summary.as_slice())
        .map_err(write_err)?;
    let about = about_text(data_dir);
    zip.add("about.txt", &mut about.as_bytes())
        .map_err(write_err)?;

    let mut inner = zip.finish().map_err(write_err)?;
    inner.flush().map_err(write_err)?;
    drop(inner);
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    tracing::info!(path = %out.display(), log_files, bytes, "diagnostics exported");
    Ok(ExportReport {
        path: out.to_path_buf(),
        log_files,
        bytes,
    })
}

/// The default bundle name: `layers-uploader-diagnostics-YYYYMMDD-HHMMSS.zip`.
pub fn default_bundle_name() -> String {
    let secs = unix_now();
    let (y, m, d) = crate::queue::time::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "layers-uploader-diagnostics-{y:04}{m:02}{d:02}-{:02}{:02}{:02}.zip",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn log_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

fn queue_summary(data_dir: &Path) -> Result<Option<QueueSummary>, crate::queue::StoreError> {
    if !data_dir.join(DB_FILE).is_file() {
        return Ok(None);
    }
    let store = Store::open_in(data_dir)?;
    let posts = store.list(None)?;
    let mut by_state = BTreeMap::new();
    for p in &posts {
        *by_state.entry(p.state.as_str().to_string()).or_insert(0) += 1;
    }
    let watches = store
        .watches()?
        .into_iter()
        .map(|w| WatchSummary {
            id: w.id,
            folder: w.settings.folder,
            project_id: w.settings.project_id,
            grouping: w.settings.grouping.as_str().to_string(),
            recursive: w.settings.recursive,
            settle_ms: w.settings.settle_ms,
            move_uploaded: w.settings.move_uploaded,
        })
        .collect();
    let total = posts.len();
    let newest_posts = posts
        .into_iter()
        .rev()
        .take(SUMMARY_POSTS)
        .collect::<Vec<_>>();
    Ok(Some(QueueSummary {
        schema_version: store.schema_version()?,
        posts: total,
        by_state,
        watches,
        newest_posts,
    }))
}

fn about_text(data_dir: &Path) -> String {
    let ffprobe = std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "ffprobe not found on PATH".into());
    format!(
        "layers-uploader {}\nos: {} {}\ndata dir: {}\nffprobe: {}\nexported (unix): {}\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        data_dir.display(),
        ffprobe,
        unix_now(),
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
