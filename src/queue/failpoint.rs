//! Test-only crash points: with the `failpoints` feature, `LAYERS_FAILPOINT=<name>` aborts the
//! process at that point (like a `kill -9` there). Without the feature this compiles to nothing.

/// Aborts the process if the failpoint `name` is armed (feature `failpoints` only).
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("LAYERS_FAILPOINT").is_ok_and(|armed| armed == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
