//! `watch --make-fit`: a settled file that misses a platform is swapped for its fitted copy
//! before it is queued. The copy is made in a hidden `.fit/` folder beside the original: the
//! watch never looks inside a hidden folder ([`super::layout::Layout::classify`]), so the copy
//! is never taken as a new file (no loop), and ffmpeg's partial file is hidden there too.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::WatchReport;
use crate::media::fit_convert::{self, MakeFitError};
use crate::media::fit_encode::EncodeSettings;
use crate::media::fit_plan::{FitPlan, PlanOptions};
use crate::media::{Inspection, Inspector, Limits};

/// The hidden folder, beside each original, that holds its fitted copies.
pub const FIT_DIR: &str = ".fit";

/// What to queue for a settled file: its fitted copy's inspection when one was made and fits,
/// else the original's; and what to tell people about it.
pub fn fitted(
    inspector: &Inspector,
    original: Inspection,
    settings: &EncodeSettings,
    cancel: &AtomicBool,
) -> (Inspection, Option<WatchReport>) {
    let misses = original.platform_fit.iter().any(|p| !p.ok);
    if !original.errors.is_empty() || !misses {
        return (original, None);
    }
    let options = PlanOptions {
        trim: false,
        video_cap_bytes: Limits::from_env().video_cap_bytes,
    };
    let path = original.local_path.clone();
    let problem = |message: String| {
        Some(WatchReport::Problem {
            path: path.clone(),
            message,
        })
    };
    let (changes, spec) = match fit_convert::plan_for(&original, &options) {
        Ok(Some(FitPlan::Convert { changes, spec })) => (changes, spec),
        Ok(Some(FitPlan::CannotFit { reasons })) => {
            let said = format!(
                "no copy can make it fit ({}); uploading the original",
                reasons.join(" ")
            );
            return (original, problem(said));
        }
        Ok(_) => return (original, None),
        Err(e) => {
            let said = format!("cannot plan a fitted copy ({e}); uploading the original");
            return (original, problem(said));
        }
    };
    let dir = path.parent().unwrap_or(Path::new(".")).join(FIT_DIR);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        let said = format!(
            "cannot create {} ({e}); uploading the original",
            dir.display()
        );
        return (original, problem(said));
    }
    let planned = fit_convert::planned_output(&path, Some(&dir));
    tracing::info!(source = %path.display(), "watch: making a fitted copy");
    match fit_convert::make_copy(&path, &planned, &spec, settings, cancel, |_| {}) {
        Ok(copy_path) => {
            let copy = inspector.inspect(&copy_path);
            if copy.errors.is_empty() && copy.platform_fit.iter().all(|p| p.ok) {
                let report = WatchReport::Fitted {
                    path,
                    copy: copy_path,
                    changes: changes.iter().map(|c| c.describe()).collect(),
                };
                (copy, Some(report))
            } else {
                let said = format!(
                    "the fitted copy {} still does not fit; uploading the original",
                    copy_path.display()
                );
                (original, problem(said))
            }
        }
        Err(MakeFitError::Cancelled) => (original, None),
        Err(e) => {
            let said = format!("could not make a fitted copy ({e}); uploading the original");
            (original, problem(said))
        }
    }
}
