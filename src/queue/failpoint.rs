//! Test-only fault points, compiled to nothing without the `failpoints` feature:
//! - `LAYERS_FAILPOINT=<name>` aborts the process at that point (like a `kill -9` there);
//! - `LAYERS_FAILPOINT_HOLD=<name>:<file>` waits at that point while `<file>` exists (and
//!   creates `<file>.reached` when it gets there), so a test can change the world exactly then;
//! - `LAYERS_FAILPOINT_MAX_PAGES=<n>` caps the queue database at n pages (`SQLITE_FULL` past
//!   that), the stand-in for a full disk where a tiny file system cannot be mounted;
//! - `LAYERS_FAILPOINT_CLOCK_OFFSET_MS=<n>` moves this process's clock by n ms (a machine
//!   whose clock is wrong).

/// Aborts the process if the failpoint `name` is armed (feature `failpoints` only).
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        if std::env::var("LAYERS_FAILPOINT").is_ok_and(|armed| armed == name) {
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
        hold(name);
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

/// Blocks while the hold file for `name` exists (feature `failpoints` only).
#[cfg(feature = "failpoints")]
fn hold(name: &str) {
    let Ok(armed) = std::env::var("LAYERS_FAILPOINT_HOLD") else {
        return;
    };
    let Some((point, file)) = armed.split_once(':') else {
        return;
    };
    if point != name {
        return;
    }
    let file = std::path::Path::new(file);
    let _ = std::fs::write(file.with_extension("reached"), b"");
    let started = std::time::Instant::now();
    while file.exists() && started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The page cap for the queue database, when a test set one (feature `failpoints` only).
pub fn max_page_count() -> Option<i64> {
    #[cfg(feature = "failpoints")]
    {
        std::env::var("LAYERS_FAILPOINT_MAX_PAGES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
    }
    #[cfg(not(feature = "failpoints"))]
    None
}

/// How far a test moved this process's clock, in ms (feature `failpoints` only; else 0).
#[inline]
pub fn clock_offset_ms() -> i64 {
    #[cfg(feature = "failpoints")]
    {
        static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
        *OFFSET.get_or_init(|| {
            std::env::var("LAYERS_FAILPOINT_CLOCK_OFFSET_MS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        })
    }
    #[cfg(not(feature = "failpoints"))]
    0
}
