//! "Make it fit" conversions the app is running: one cancel flag per source file (so Cancel
//! stops exactly that ffmpeg and a second press on the same card is refused), and the pacing
//! of their progress reports to the window.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this often a conversion's progress goes to the window (≤ 10 reports a second).
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The running conversions, by canonical source path.
#[derive(Debug, Default)]
pub struct FitJobs {
    running: Mutex<HashMap<PathBuf, Arc<AtomicBool>>>,
}

impl FitJobs {
    /// Registers a conversion of `source`; `None` when one is already running for it.
    pub fn start(&self, source: &Path) -> Option<FitJob<'_>> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.contains_key(source) {
            return None;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        running.insert(source.to_path_buf(), cancel.clone());
        Some(FitJob {
            jobs: self,
            source: source.to_path_buf(),
            cancel,
        })
    }

    /// Asks the conversion of `source` to stop; false when none is running.
    pub fn cancel(&self, source: &Path) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(source).is_some_and(|flag| {
            flag.store(true, Ordering::SeqCst);
            true
        })
    }

    /// Asks every conversion to stop (the app is quitting: no partial copy is left behind).
    pub fn cancel_all(&self) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        for flag in running.values() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

/// One registered conversion; unregistered when dropped, however it ended.
#[derive(Debug)]
pub struct FitJob<'a> {
    jobs: &'a FitJobs,
    source: PathBuf,
    /// Set by Cancel; the converter polls it, kills ffmpeg and removes its partial file.
    pub cancel: Arc<AtomicBool>,
}

impl Drop for FitJob<'_> {
    fn drop(&mut self) {
        let mut running = self.jobs.running.lock().unwrap_or_else(|p| p.into_inner());
        running.remove(&self.source);
    }
}

/// Lets a report through at most once per [`REPORT_EVERY`] (the caller always sends the last
/// one, so the bar ends full).
#[derive(Debug, Default)]
pub struct Pacer {
    last: Option<Instant>,
}

impl Pacer {
    /// Whether a report at `now` may go.
    pub fn ready(&mut self, now: Instant) -> bool {
        match self.last {
            Some(last) if now.duration_since(last) < REPORT_EVERY => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// Time left at the pace so far: `None` until some of the copy is written.
pub fn eta_ms(elapsed_ms: u64, done_ms: u64, total_ms: u64) -> Option<u64> {
    if done_ms == 0 || elapsed_ms == 0 {
        return None;
    }
    let left = u128::from(total_ms.saturating_sub(done_ms));
    u64::try_from(u128::from(elapsed_ms) * left / u128::from(done_ms)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conversion_per_file_and_cancel_reaches_it() {
        let jobs = FitJobs::default();
        let a = Path::new("/media/a.mp4");
        let job = jobs.start(a).unwrap();
        assert!(
            jobs.start(a).is_none(),
            "a second press on the same card is refused"
        );
        assert!(jobs.start(Path::new("/media/b.mp4")).is_some());
        assert!(jobs.cancel(a));
        assert!(job.cancel.load(Ordering::SeqCst));
        drop(job);
        assert!(!jobs.cancel(a), "a finished conversion is forgotten");
        assert!(jobs.start(a).is_some(), "and can be started again");
    }

    #[test]
    fn reports_are_paced_to_ten_a_second() {
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        let sent = (0..100)
            .filter(|i| pacer.ready(t0 + Duration::from_millis(i * 10)))
            .count();
        assert_eq!(sent, 10, "one second of reports every 10 ms");
    }

    #[test]
    fn eta_follows_the_pace_so_far() {
        assert_eq!(eta_ms(2_000, 0, 10_000), None);
        assert_eq!(eta_ms(2_000, 5_000, 10_000), Some(2_000));
        assert_eq!(eta_ms(1_000, 2_000, 10_000), Some(4_000));
        assert_eq!(eta_ms(3_000, 10_000, 10_000), Some(0));
    }
}
