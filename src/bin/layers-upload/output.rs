//! How the CLI talks on stderr: `--quiet` keeps only errors, `--verbose` adds the log's
//! info (or, twice, debug) lines; colour only on a terminal, never with `NO_COLOR` or under
//! systemd's journal. Every error line starts with `layers-upload:`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Remembers `--quiet` for the whole run.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether only errors are shown.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether stderr may carry colour: a terminal, no `NO_COLOR` (any value, per no-color.org),
/// and not the journal (systemd sets `JOURNAL_STREAM` for a service's stderr).
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("JOURNAL_STREAM").is_none()
        && std::io::stderr().is_terminal()
}

/// The log level on stderr: `--quiet` errors only, default warnings, `-v` info, `-vv` debug.
pub fn stderr_level(quiet: bool, verbose: u8) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    }
}

/// An informational line on stderr, unless `--quiet`.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use say;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_flags() {
        assert_eq!(stderr_level(true, 2), "error");
        assert_eq!(stderr_level(false, 0), "warn");
        assert_eq!(stderr_level(false, 1), "info");
        assert_eq!(stderr_level(false, 3), "debug");
    }
}
