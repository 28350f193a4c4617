//! `layers-upload fit [--out DIR] [--trim] [--json] PATH...`: a compliant copy of each file
//! that does not fit, made with ffmpeg, re-inspected, and reported; or, for a file no honest
//! copy can fix, why not. Files that fit are left alone; originals are only ever read.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layers_uploader::media::fit::PlatformFit;
use layers_uploader::media::fit_convert::{self, MakeFitError};
use layers_uploader::media::fit_encode::EncodeSettings;
use layers_uploader::media::fit_plan::{self, clock, FitPlan, PlanOptions};
use layers_uploader::media::{ErrorCode, Inspection, Inspector, Limits, LocalError};
use serde::Serialize;

use crate::{engine, probe};

/// Arguments of `fit`.
#[derive(Debug, clap::Args)]
pub struct FitArgs {
    /// Folder for the copies (default: beside each original).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Cut a video longer than 10 minutes to its first 10 minutes (said in the result).
    #[arg(long)]
    trim: bool,
    /// One JSON object per input on stdout: {path, output, changes, platformFit, errors}.
    #[arg(long)]
    json: bool,
    /// Files, or folders (meaning the files directly in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// One input's result; `--json` prints exactly this.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FitRow {
    path: String,
    /// The copy; `None` when none was made (it fits already, or cannot be made to fit).
    output: Option<String>,
    changes: Vec<String>,
    /// The copy's verdict when one was made, else the original's.
    platform_fit: Vec<PlatformFit>,
    errors: Vec<LocalError>,
}

impl FitRow {
    fn fits(&self) -> bool {
        self.errors.is_empty()
            && !self.platform_fit.is_empty()
            && self.platform_fit.iter().all(|p| p.ok)
    }
}

/// Why a run stops before its last file.
enum Stop {
    Signal(u8),
    Fatal(String),
}

/// What every file of a run shares.
struct FitContext {
    inspector: Arc<Inspector>,
    options: PlanOptions,
    settings: EncodeSettings,
    out: Option<PathBuf>,
}

impl FitContext {
    fn new(trim: bool, out: Option<PathBuf>) -> FitContext {
        let limits = Limits::from_env();
        FitContext {
            inspector: Arc::new(Inspector::new(limits)),
            options: PlanOptions {
                trim,
                video_cap_bytes: limits.video_cap_bytes,
            },
            settings: EncodeSettings::from_env(),
            out,
        }
    }

    /// Fits one path on a blocking thread. A signal stops ffmpeg and removes its partial
    /// file before the run ends with the signal's exit code.
    async fn fit_path(&self, path: PathBuf) -> Result<FitRow, ExitCode> {
        let cancel = Arc::new(AtomicBool::new(false));
        let job = {
            let (inspector, settings, cancel, out) = (
                self.inspector.clone(),
                self.settings.clone(),
                cancel.clone(),
                self.out.clone(),
            );
            let options = self.options;
            tokio::task::spawn_blocking(move || {
                fit_one(
                    &path,
                    &inspector,
                    &options,
                    &settings,
                    out.as_deref(),
                    &cancel,
                )
            })
        };
        tokio::pin!(job);
        let result = tokio::select! {
            r = &mut job => r,
            code = engine::wait_for_signal() => {
                cancel.store(true, Ordering::SeqCst);
                let _ = job.await;
                return Err(ExitCode::from(code));
            }
        };
        match result {
            Ok(Ok(row)) => Ok(row),
            Ok(Err(Stop::Fatal(message))) => Err(engine::cannot_start(message)),
            Ok(Err(Stop::Signal(code))) => Err(ExitCode::from(code)),
            Err(e) => Err(engine::cannot_start(format!("the fit job failed: {e}"))),
        }
    }
}

/// Fits every path in turn (ffmpeg uses every core on its own); exit 0 when every input fits
/// afterwards, 1 when any does not, 2 when the run cannot start, 130/143 on a signal.
pub async fn run(args: FitArgs) -> ExitCode {
    if let Some(dir) = &args.out {
        if !dir.is_dir() {
            return engine::cannot_start(format!(
                "--out {} is not a folder (create it first)",
                dir.display()
            ));
        }
    }
    let ctx = FitContext::new(args.trim, args.out.clone());
    let mut all_fit = true;
    for path in probe::expand(&args.paths) {
        let row = match ctx.fit_path(path).await {
            Ok(row) => row,
            Err(code) => return code,
        };
        all_fit &= row.fits();
        if let Err(e) = print_row(&row, args.json) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return engine::cannot_start(format!("cannot write output: {e}"));
            }
        }
    }
    if all_fit {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `upload --make-fit`: each path replaced by its fitted copy (made beside it) when one is
/// made. A file that fits, or that no honest copy can fix, goes as it is, said on stderr (fit
/// is advisory; the server takes it); a failed conversion stops the upload before it starts.
pub async fn fitted_paths(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, ExitCode> {
    let ctx = FitContext::new(false, None);
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let row = ctx.fit_path(path.clone()).await?;
        let name = short_name(&row.path, 64);
        let cannot = |e: &LocalError| e.code == ErrorCode::CannotFit;
        match &row.output {
            Some(copy) if row.fits() => {
                crate::output::say!(
                    "• {name}: uploading the fitted copy {copy} ({})",
                    row.changes.join("; ")
                );
                out.push(PathBuf::from(copy));
            }
            _ if !row.errors.is_empty() && !row.errors.iter().all(cannot) => {
                for e in &row.errors {
                    eprintln!("layers-upload: ✗ {name}: {} {}", e.code.as_str(), e.message);
                }
                return Err(ExitCode::from(1));
            }
            _ => {
                for e in &row.errors {
                    crate::output::say!("• {name}: uploading the original: {}", e.message);
                }
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// Inspects, plans, converts and re-inspects one file.
fn fit_one(
    path: &Path,
    inspector: &Inspector,
    options: &PlanOptions,
    settings: &EncodeSettings,
    out_dir: Option<&Path>,
    cancel: &AtomicBool,
) -> Result<FitRow, Stop> {
    let ins = inspector.inspect(path);
    let mut row = FitRow {
        path: ins.path.clone(),
        output: None,
        changes: Vec::new(),
        platform_fit: ins.platform_fit.clone(),
        errors: Vec::new(),
    };
    let (facts, details) = match fit_convert::source_facts(&ins) {
        Ok(Some(found)) => found,
        Ok(None) => {
            row.errors = ins.errors.clone();
            return Ok(row);
        }
        Err(e) => {
            row.errors.push(LocalError::new(e.code(), e.to_string()));
            return Ok(row);
        }
    };
    let (changes, spec) = match fit_plan::plan(&facts, &details, options) {
        FitPlan::AlreadyFits => return Ok(row),
        FitPlan::CannotFit { reasons } => {
            row.errors = reasons
                .into_iter()
                .map(|r| LocalError::new(ErrorCode::CannotFit, r))
                .collect();
            return Ok(row);
        }
        FitPlan::Convert { changes, spec } => (changes, spec),
    };
    row.changes = changes.iter().map(|c| c.describe()).collect();
    let planned = fit_convert::planned_output(&ins.local_path, out_dir);
    let bar = progress_bar(&ins, spec.duration_ms);
    tracing::info!(source = %ins.path, changes = ?row.changes, "making a fit copy");
    let made = fit_convert::make_copy(&ins.local_path, &planned, &spec, settings, cancel, |p| {
        bar.set_position(p.done_ms.min(spec.duration_ms));
        let speed = p.speed.map(|s| format!(" · {s:.1}x")).unwrap_or_default();
        bar.set_message(format!(
            "{}/{}{speed}",
            clock(p.done_ms),
            clock(spec.duration_ms)
        ));
    });
    bar.finish_and_clear();
    let output = match made {
        Ok(output) => output,
        Err(MakeFitError::Cancelled) => return Err(Stop::Signal(130)),
        Err(MakeFitError::FfmpegMissing) => {
            return Err(Stop::Fatal(MakeFitError::FfmpegMissing.to_string()))
        }
        Err(e) => {
            row.errors.push(LocalError::new(e.code(), e.to_string()));
            return Ok(row);
        }
    };
    let copy = inspector.inspect(&output);
    row.output = Some(copy.path.clone());
    row.platform_fit = copy.platform_fit.clone();
    row.errors = copy.errors.clone();
    if copy.errors.is_empty() && copy.platform_fit.iter().any(|p| !p.ok) {
        row.errors.push(LocalError::new(
            ErrorCode::CannotFit,
            "the copy still does not fit (see platformFit): re-export it from the source",
        ));
    }
    Ok(row)
}

fn progress_bar(ins: &Inspection, total_ms: u64) -> ProgressBar {
    // `--quiet`: no bar (indicatif draws nothing when stderr is not a terminal anyway).
    let target = if crate::output::quiet() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    };
    let bar = ProgressBar::with_draw_target(Some(total_ms.max(1)), target);
    let style =
        ProgressStyle::with_template("{prefix:>16} [{bar:32.cyan/white}] {msg} · ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▌ ");
    bar.set_style(style);
    bar.set_prefix(short_name(&ins.path, 16));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn print_row(row: &FitRow, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::to_string(row).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
        return out.flush();
    }
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let name = short_name(&row.path, 64);
    match (&row.output, row.fits()) {
        (Some(output), true) => writeln!(out, "{} {name} → {output}", paint("32", "✓"))?,
        (Some(output), false) => writeln!(out, "{} {name} → {output}", paint("31", "✗"))?,
        (None, true) => writeln!(
            out,
            "{} {name} fits already: no copy made",
            paint("32", "✓")
        )?,
        (None, false) => writeln!(out, "{} {name}: no copy made", paint("31", "✗"))?,
    }
    for c in &row.changes {
        writeln!(out, "    {c}")?;
    }
    for e in &row.errors {
        writeln!(out, "    {} {}", paint("31", e.code.as_str()), e.message)?;
    }
    for p in row.platform_fit.iter().filter(|p| !p.ok) {
        for issue in &p.issues {
            writeln!(out, "    {}: {issue}", p.platform)?;
        }
    }
    out.flush()
}

fn short_name(path: &str, max: usize) -> String {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    if name.chars().count() <= max {
        return name;
    }
    let head: String = name.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}
