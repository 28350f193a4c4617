//! Where the app and the CLI keep their data: one shared directory, so both see one queue.

use std::io;
use std::path::{Path, PathBuf};

/// Directory name under the platform data dir.
pub const APP_DIR: &str = "layers-uploader";

/// The platform data dir plus `layers-uploader`: `$XDG_DATA_HOME` or `~/.local/share` on
/// Linux, `~/Library/Application Support` on macOS, `%APPDATA%` on Windows.
pub fn default_data_dir() -> Option<PathBuf> {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home().map(|h| h.join("Library/Application Support"))
    } else if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home().map(|h| h.join(".local/share")))
    };
    base.map(|b| b.join(APP_DIR))
}

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing a file there.
/// Linux: `renameat2(RENAME_NOREPLACE)`; where the file system (or the OS) cannot, a hard
/// link (which never replaces) and then the removal of the old name.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c_path = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path holds a NUL byte"))
        };
        let (old, new) = (c_path(from)?, c_path(to)?);
        // SAFETY: both pointers are NUL-terminated strings that live across the call, and
        // renameat2 reads nothing else from this process's memory.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                old.as_ptr(),
                libc::AT_FDCWD,
                new.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // EINVAL: this file system has no RENAME_NOREPLACE; ENOSYS: a kernel before 3.15.
        if !matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(err);
        }
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// `dest` if nothing is there, else `stem (2).ext`, `stem (3).ext`, …
pub fn free_name(dest: &Path) -> PathBuf {
    if std::fs::symlink_metadata(dest).is_err() {
        return dest.to_path_buf();
    }
    let stem = dest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2u64..)
        .map(|n| dest.with_file_name(format!("{stem} ({n}){ext}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| dest.to_path_buf())
}
