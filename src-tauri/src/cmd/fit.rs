//! "Make it fit": the planner's verdict for a granted file (so the UI offers a conversion only
//! when a copy would fit), making that copy beside the original with its progress on a channel,
//! and cancelling it. The copy is granted alone — exactly that file — so it can be inspected,
//! thumbnailed and queued like a dropped one.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use layers_uploader::media::fit_convert::{self, MakeFitError};
use layers_uploader::media::fit_encode::{EncodeProgress, EncodeSettings};
use layers_uploader::media::fit_plan::{FitPlan, PlanOptions};
use layers_uploader::media::{Inspection, Inspector, Limits};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::{AppError, CmdResult, ErrorCode};
use crate::fits::{eta_ms, Pacer};
use crate::state::AppState;

/// What a copy would do for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    /// It fits both platforms: nothing to make.
    Fits,
    /// A copy with `changes` would fit: the card offers "Make it fit".
    Fixable,
    /// No honest copy fits; `reasons` say why and what to do instead.
    CannotFit,
    /// Not media a copy can be made from (its inspection's errors say why).
    NotMedia,
}

/// The answer of `fit_check`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FitCheck {
    pub verdict: FitVerdict,
    /// What the copy would change, a line each (when `fixable`).
    pub changes: Vec<String>,
    /// Why no copy fits, a sentence each (when `cannot_fit`).
    pub reasons: Vec<String>,
}

/// One progress report of a conversion (≤ 10 a second).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FitProgress {
    /// Length of the copy written so far.
    pub done_ms: u64,
    /// The copy's full length.
    pub duration_ms: u64,
    /// Times real time, once ffmpeg knows.
    pub speed: Option<f64>,
    /// Time left at the pace so far.
    pub eta_ms: Option<u64>,
}

/// The finished copy: granted, inspected, with what it changed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FitMade {
    pub source: PathBuf,
    pub copy: Inspection,
    pub changes: Vec<String>,
}

/// The planner's verdict for a granted file.
#[tauri::command]
pub async fn fit_check(state: State<'_, AppState>, path: PathBuf) -> CmdResult<FitCheck> {
    let file = state.grants().check_file(&path)?;
    let inspector = state.inspector.clone();
    tauri::async_runtime::spawn_blocking(move || check(&inspector.inspect(&file)))
        .await
        .map_err(|e| AppError::internal(format!("the fit check stopped: {e}")))
}

/// Makes the fitted copy of a granted file beside it (`<stem>.fit.mp4`, never over an existing
/// file), reporting progress on `on_progress`; grants the copy and answers its inspection.
#[tauri::command]
pub async fn make_fit(
    state: State<'_, AppState>,
    path: PathBuf,
    on_progress: Channel<FitProgress>,
) -> CmdResult<FitMade> {
    let source = state.grants().check_file(&path)?;
    let job = state.fits.start(&source).ok_or_else(|| {
        AppError::invalid(format!("{} is being made to fit already", path.display()))
    })?;
    let (inspector, cancel) = (state.inspector.clone(), job.cancel.clone());
    let from = source.clone();
    let made = tauri::async_runtime::spawn_blocking(move || {
        convert(
            &inspector,
            &from,
            &EncodeSettings::from_env(),
            &cancel,
            |p| {
                let _ = on_progress.send(p);
            },
        )
    })
    .await
    .map_err(|e| AppError::internal(format!("the conversion stopped: {e}")))?;
    drop(job);
    let (output, changes) = made?;
    // Exactly the copy, nothing broader: its folder stays as granted (or not) as it was.
    let granted = state.grants().grant([&output]);
    let Some(copy_path) = granted.into_iter().next() else {
        return Err(AppError::internal(format!(
            "the copy {} disappeared before it could be added",
            output.display()
        )));
    };
    let inspector = state.inspector.clone();
    let copy = tauri::async_runtime::spawn_blocking(move || inspector.inspect(&copy_path))
        .await
        .map_err(|e| AppError::internal(format!("inspection stopped: {e}")))?;
    tracing::info!(source = %source.display(), copy = %copy.path, "fit copy made");
    Ok(FitMade {
        source,
        copy,
        changes,
    })
}

/// Stops the conversion of a file: ffmpeg is killed and its partial file removed (the
/// `make_fit` call then fails with `cancelled`). False when none was running.
#[tauri::command]
pub fn make_fit_cancel(state: State<'_, AppState>, path: PathBuf) -> CmdResult<bool> {
    let source = state.grants().check_file(&path)?;
    Ok(state.fits.cancel(&source))
}

fn plan_options() -> PlanOptions {
    PlanOptions {
        trim: false,
        video_cap_bytes: Limits::from_env().video_cap_bytes,
    }
}

/// The verdict for an inspection.
pub fn check(ins: &Inspection) -> FitCheck {
    let (verdict, changes, reasons) = match fit_convert::plan_for(ins, &plan_options()) {
        Ok(Some(FitPlan::AlreadyFits)) => (FitVerdict::Fits, vec![], vec![]),
        Ok(Some(plan @ FitPlan::Convert { .. })) => {
            (FitVerdict::Fixable, plan.change_lines(), vec![])
        }
        Ok(Some(FitPlan::CannotFit { reasons })) => (FitVerdict::CannotFit, vec![], reasons),
        Ok(None) => (FitVerdict::NotMedia, vec![], vec![]),
        Err(e) => (FitVerdict::NotMedia, vec![], vec![e.to_string()]),
    };
    FitCheck {
        verdict,
        changes,
        reasons,
    }
}

/// Plans and makes the copy; the copy's path and the changes' lines.
fn convert(
    inspector: &Inspector,
    source: &Path,
    settings: &EncodeSettings,
    cancel: &AtomicBool,
    mut report: impl FnMut(FitProgress),
) -> CmdResult<(PathBuf, Vec<String>)> {
    let ins = inspector.inspect(source);
    let (changes, spec) = match fit_convert::plan_for(&ins, &plan_options()) {
        Ok(Some(FitPlan::Convert { changes, spec })) => (changes, spec),
        Ok(Some(FitPlan::AlreadyFits)) => {
            return Err(AppError::invalid(
                "it fits TikTok and Instagram already: no copy is needed",
            ))
        }
        Ok(Some(FitPlan::CannotFit { reasons })) => {
            return Err(AppError::new(ErrorCode::CannotFit, reasons.join(" ")))
        }
        Ok(None) => {
            return Err(AppError::new(
                ErrorCode::CannotFit,
                "it is not a video or image a copy can be made from",
            ))
        }
        Err(e) => return Err(conversion_error(e)),
    };
    let planned = fit_convert::planned_output(&ins.local_path, None);
    let (started, total, mut pacer) = (Instant::now(), spec.duration_ms, Pacer::default());
    tracing::info!(source = %ins.path, preset = %settings.preset, "making a fit copy");
    let on_progress = |p: EncodeProgress| {
        if p.finished || pacer.ready(Instant::now()) {
            let done_ms = p.done_ms.min(total);
            let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            report(FitProgress {
                done_ms: if p.finished { total } else { done_ms },
                duration_ms: total,
                speed: p.speed,
                eta_ms: if p.finished {
                    Some(0)
                } else {
                    eta_ms(elapsed, done_ms, total)
                },
            });
        }
    };
    let output = fit_convert::make_copy(
        &ins.local_path,
        &planned,
        &spec,
        settings,
        cancel,
        on_progress,
    )
    .map_err(conversion_error)?;
    Ok((output, changes.iter().map(|c| c.describe()).collect()))
}

fn conversion_error(e: MakeFitError) -> AppError {
    match e {
        MakeFitError::Cancelled => AppError::new(
            ErrorCode::Cancelled,
            "Stopped before the copy was finished; nothing was kept.",
        ),
        other => AppError::new(ErrorCode::ConversionFailed, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// A 2560x1440 H.264 clip of `secs` seconds: too wide for both platforms.
    fn wide_clip(dir: &Path, name: &str, secs: &str) -> PathBuf {
        let path = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i"])
            .arg("testsrc2=s=2560x1440:r=30")
            .args(["-t", secs, "-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success(), "ffmpeg made the test clip");
        path
    }

    fn fast() -> EncodeSettings {
        EncodeSettings {
            preset: "ultrafast".into(),
            ..EncodeSettings::default()
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn a_too_wide_video_is_fixable_and_a_too_short_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let inspector = Inspector::new(Limits::DOCUMENTED);
        let wide = check(&inspector.inspect(&wide_clip(dir.path(), "wide.mp4", "3.5")));
        assert_eq!(wide.verdict, FitVerdict::Fixable, "{wide:?}");
        assert!(
            wide.changes.iter().any(|c| c.contains("1920x1080")),
            "{wide:?}"
        );
        let short = check(&inspector.inspect(&wide_clip(dir.path(), "short.mp4", "1.5")));
        assert_eq!(short.verdict, FitVerdict::CannotFit, "{short:?}");
        assert!(short.reasons[0].contains("shorter than"), "{short:?}");
        assert_eq!(
            serde_json::to_value(&short).unwrap()["verdict"],
            "cannot_fit"
        );
    }

    #[test]
    fn cancel_leaves_only_the_original_and_a_copy_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = wide_clip(dir.path(), "clip.mp4", "3.5");
        let inspector = Inspector::new(Limits::DOCUMENTED);
        let stop = AtomicBool::new(true);
        let e = convert(&inspector, &source, &fast(), &stop, |_| {}).unwrap_err();
        assert_eq!(e.code, ErrorCode::Cancelled, "{e:?}");
        assert_eq!(names(dir.path()), ["clip.mp4"], "Cancel left a file behind");

        stop.store(false, Ordering::SeqCst);
        let mut reports = Vec::new();
        let (first, changes) =
            convert(&inspector, &source, &fast(), &stop, |p| reports.push(p)).unwrap();
        assert_eq!(first, dir.path().join("clip.fit.mp4"));
        assert!(!changes.is_empty());
        let last = reports.last().expect("progress was reported");
        assert_eq!((last.done_ms, last.eta_ms), (last.duration_ms, Some(0)));
        let (second, _) = convert(&inspector, &source, &fast(), &stop, |_| {}).unwrap();
        assert_eq!(second, dir.path().join("clip.fit (2).mp4"));
        assert_eq!(
            names(dir.path()),
            ["clip.fit (2).mp4", "clip.fit.mp4", "clip.mp4"]
        );
    }
}
