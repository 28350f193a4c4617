//! "Start at login, in the tray": an XDG autostart entry (`~/.config/autostart/`) that opens
//! the app with `--hidden` (no window; the tray, the queue and the watch folders run). The
//! file itself is the setting — a user who removes it in the desktop's own settings has turned
//! it off — so nothing about it is stored elsewhere. Off by default.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The flag the entry passes: start with the window hidden.
pub const HIDDEN_FLAG: &str = "--hidden";

/// The entry's file name in the autostart folder.
pub const ENTRY_NAME: &str = "layers-uploader.desktop";

/// `$XDG_CONFIG_HOME/autostart`, else `~/.config/autostart`.
pub fn autostart_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("autostart"))
}

/// Whether the entry in `dir` starts the app at login (present, and not hidden or disabled
/// by the desktop's own settings).
pub fn is_enabled(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(ENTRY_NAME)) else {
        return false;
    };
    !text.lines().any(|l| {
        let l = l.trim();
        l.eq_ignore_ascii_case("Hidden=true")
            || l.eq_ignore_ascii_case("X-GNOME-Autostart-enabled=false")
    })
}

/// Writes (atomically) or removes the entry; `exe` is the program to start.
pub fn set_enabled(dir: &Path, exe: &Path, enabled: bool) -> std::io::Result<()> {
    let path = dir.join(ENTRY_NAME);
    if !enabled {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{ENTRY_NAME}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(entry(exe).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The desktop entry text (freedesktop Desktop Entry spec; `Exec` quoted as it requires).
pub fn entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\nType=Application\nName=Layers Uploader\n\
         Comment=Keeps watch folders and the upload queue running, in the tray\n\
         Exec={} {HIDDEN_FLAG}\nIcon=layers-uploader\nTerminal=false\nCategories=Network;AudioVideo;\n\
         X-GNOME-Autostart-enabled=true\n",
        exec_quote(&exe.to_string_lossy())
    )
}

/// Quotes a path for `Exec=` when it needs it: inside double quotes, `"`, `` ` ``, `$` and `\`
/// are escaped with a backslash (itself written `\\`, the string-value escape), and a
/// literal `%` is written `%%`.
fn exec_quote(path: &str) -> String {
    let path = path.replace('%', "%%");
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,".contains(c));
    if plain {
        return path;
    }
    let mut out = String::from("\"");
    for c in path.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    // The string-value escape (`\\` for a backslash) applies before the quoting rule.
    out.replace('\\', "\\\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turning_it_on_writes_an_entry_that_starts_hidden_and_off_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let auto = dir.path().join("autostart");
        assert!(!is_enabled(&auto), "off by default");
        set_enabled(&auto, Path::new("/usr/bin/layers-uploader"), true).unwrap();
        assert!(is_enabled(&auto));
        let text = std::fs::read_to_string(auto.join(ENTRY_NAME)).unwrap();
        assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
        assert!(
            text.contains("\nExec=/usr/bin/layers-uploader --hidden\n"),
            "{text}"
        );
        assert!(text.contains("\nType=Application\n"), "{text}");
        set_enabled(&auto, Path::new("/usr/bin/layers-uploader"), false).unwrap();
        assert!(!is_enabled(&auto));
        set_enabled(&auto, Path::new("/x"), false).unwrap(); // already off: fine
        assert_eq!(
            std::fs::read_dir(&auto).unwrap().count(),
            0,
            "no temp file left"
        );
    }

    #[test]
    fn the_desktops_own_switch_counts_as_off() {
        let dir = tempfile::tempdir().unwrap();
        set_enabled(dir.path(), Path::new("/a"), true).unwrap();
        let path = dir.path().join(ENTRY_NAME);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("enabled=true", "enabled=false")).unwrap();
        assert!(!is_enabled(dir.path()));
    }

    #[test]
    fn odd_paths_are_quoted_for_exec() {
        assert_eq!(exec_quote("/opt/app/bin"), "/opt/app/bin");
        assert_eq!(exec_quote("/home/a b/x"), "\"/home/a b/x\"");
        assert_eq!(exec_quote("/x/$y\"z"), r#""/x/\\$y\\"z""#);
        assert_eq!(exec_quote("/100%/a"), "\"/100%%/a\"");
    }
}
