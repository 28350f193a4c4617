use super::*;
use crate::error::ErrorCode;

fn touch(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b"x").unwrap();
    p
}

fn canon(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap()
}

#[test]
fn only_granted_files_pass() {
    let dir = tempfile::tempdir().unwrap();
    let a = touch(dir.path(), "a.jpg");
    let b = touch(dir.path(), "b.jpg");
    let mut g = Grants::default();
    g.grant([&a]);
    assert!(g.check(&a).is_ok());
    let err = g.check(&b).unwrap_err();
    assert_eq!(err.code, ErrorCode::PathNotGranted);
    assert!(err.message.contains("b.jpg"), "{}", err.message);
}

#[test]
fn a_folder_grants_its_own_files_but_not_deeper_or_beside() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(folder.join("deep")).unwrap();
    let inside = touch(&folder, "a.mp4");
    let deep = touch(&folder.join("deep"), "b.mp4");
    let beside = touch(dir.path(), "c.mp4");
    touch(&folder, "a.txt");
    touch(&folder, ".hidden.mp4");
    let mut g = Grants::default();
    g.grant([&folder]);
    assert!(g.check(&inside).is_ok());
    assert!(g.check(&deep).is_err());
    assert!(g.check(&beside).is_err());
    let files = g.expand(&folder).unwrap();
    assert_eq!(files, vec![canon(&inside)]);
}

#[test]
fn a_granted_folder_does_not_expose_a_child_folders_files() {
    // Granting `~` must not open `~/.ssh/*` or any other folder inside it.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let ssh = home.join("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    touch(&ssh, "id_ed25519.jpg");
    let mut g = Grants::default();
    g.grant([&home]);
    let err = g.check(&ssh).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::PathNotGranted,
        "a child folder is not a file"
    );
    assert_eq!(
        g.expand(&ssh).unwrap_err().code,
        ErrorCode::PathNotGranted,
        "a child folder cannot be listed"
    );
    assert!(g.check(&ssh.join("id_ed25519.jpg")).is_err());
    assert!(
        g.expand(&home).unwrap().is_empty(),
        "the folder has no files of its own"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_a_granted_folder_are_refused_and_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    let outside = dir.path().join("private");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let secret = touch(&outside, "secret.jpg");
    touch(&outside, "also-secret.jpg");
    let own = touch(&folder, "own.jpg");
    std::os::unix::fs::symlink(&secret, folder.join("link.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, folder.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink(&own, folder.join("alias.jpg")).unwrap();
    let mut g = Grants::default();
    g.grant([&folder]);
    assert!(g.check(&folder.join("link.jpg")).is_err(), "file link out");
    assert!(
        g.check(&folder.join("linked-dir")).is_err(),
        "folder link out"
    );
    assert!(g.expand(&folder.join("linked-dir")).is_err());
    assert!(g.check(&folder.join("linked-dir/also-secret.jpg")).is_err());
    assert!(g.check(&folder.join("../private/secret.jpg")).is_err());
    assert_eq!(
        g.expand(&folder).unwrap(),
        vec![canon(&own)],
        "only the folder's own file, once (a link inside the folder leads to it too)"
    );
}

#[test]
fn hidden_partial_and_sidecar_names_are_refused_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(&folder).unwrap();
    let names = [
        ".hidden.mp4",
        "cut.mp4.part",
        "cut.mp4.tmp",
        "clip.mp4.crdownload",
        "~backup.mp4",
        "clip.txt",
    ];
    let mut g = Grants::default();
    g.grant([&folder]);
    for name in names {
        let p = touch(&folder, name);
        let err = g.check(&p).unwrap_err();
        assert_eq!(err.code, ErrorCode::PathNotGranted, "{name}");
        assert!(
            err.message.contains("never uploaded"),
            "{name}: {}",
            err.message
        );
    }
    // Dropped on their own they are not granted either (no card, nothing to refuse later).
    let loose = dir.path().join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    let paths: Vec<PathBuf> = names.iter().map(|n| touch(&loose, n)).collect();
    let kept = touch(&loose, "kept.mp4");
    assert_eq!(g.grant(paths.iter().chain([&kept])), vec![canon(&kept)]);
    for p in &paths {
        assert!(g.check(p).is_err(), "{}", p.display());
    }
}

#[test]
fn a_watch_folder_is_granted_until_the_watch_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("watched");
    std::fs::create_dir_all(&folder).unwrap();
    let clip = touch(&folder, "clip.mp4");
    let mut g = Grants::default();
    assert_eq!(g.grant_watch(7, &folder), Some(canon(&folder)));
    assert!(g.check(&clip).is_ok());
    g.revoke_watch(7);
    assert_eq!(g.check(&clip).unwrap_err().code, ErrorCode::PathNotGranted);
    assert!(g.expand(&folder).is_err());
    // A folder the person also dropped stays granted after the watch goes.
    g.grant([&folder]);
    g.grant_watch(8, &folder);
    g.revoke_watch(8);
    assert!(g.check(&clip).is_ok());
    assert_eq!(
        g.grant_watch(9, &clip),
        None,
        "a file is not a watch folder"
    );
}

#[test]
fn a_missing_path_is_refused_not_granted() {
    let mut g = Grants::default();
    assert!(g.grant(["/no/such/file.jpg"]).is_empty());
    assert_eq!(
        g.check(Path::new("/no/such/file.jpg")).unwrap_err().code,
        ErrorCode::PathNotGranted
    );
}
