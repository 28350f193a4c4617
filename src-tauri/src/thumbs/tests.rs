use super::*;
use layers_uploader::media::{Inspector, Limits};

fn make_image(path: &Path) {
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1080x1920",
            "-frames:v",
            "1",
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg made the test image");
}

fn inspect(path: &Path) -> Inspection {
    Inspector::new(Limits::default()).inspect(path)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn an_image_gets_a_small_cached_jpeg_that_changes_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("frame.png");
    make_image(&src);
    let thumbs = Thumbnails::new(dir.path().join("thumbs")).unwrap();
    let t = thumbs.get(&src, &inspect(&src)).await.unwrap();
    assert!(t.starts_with(thumbs.dir()));
    let bytes = std::fs::read(&t).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
    assert!(bytes.len() < 60_000, "small: {} bytes", bytes.len());
    assert_eq!(thumbs.get(&src, &inspect(&src)).await.unwrap(), t, "cached");
    assert_eq!(
        files_in(thumbs.dir()).len(),
        1,
        "no temp file left: {:?}",
        files_in(thumbs.dir())
    );
    std::fs::write(&src, b"not an image any more").unwrap();
    assert_ne!(
        thumbs.cache_path(&src).unwrap(),
        t,
        "a changed file is a new key"
    );
    assert!(thumbs.get(&src, &inspect(&src)).await.is_err());
}

#[tokio::test]
async fn a_file_inspection_did_not_accept_gets_no_thumbnail_and_ffmpeg_never_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let thumbs = Thumbnails::new(dir.path().join("thumbs")).unwrap();
    // A playlist dressed as a video: ffmpeg's HLS demuxer would open what it names.
    let playlist = dir.path().join("clip.mp4");
    std::fs::write(
        &playlist,
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
    )
    .unwrap();
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "just words").unwrap();
    for file in [&playlist, &text] {
        let inspection = inspect(file);
        assert!(!inspection.is_accepted(), "{}", file.display());
        let err = thumbs.get(file, &inspection).await.unwrap_err();
        assert!(err.message.contains("no thumbnail"), "{}", err.message);
    }
    // Even an inspection that says "accepted" gets nothing for a type outside the list.
    let src = dir.path().join("frame.png");
    make_image(&src);
    let mut gif = inspect(&src);
    gif.content_type = Some("image/gif".into());
    assert!(thumbs.get(&src, &gif).await.is_err());
    assert!(
        files_in(thumbs.dir()).is_empty(),
        "{:?}",
        files_in(thumbs.dir())
    );
}

#[test]
fn ffmpeg_reads_with_a_fixed_demuxer_and_the_file_protocol_only() {
    let args: Vec<String> = ffmpeg_args(
        Path::new("/media/a:b.mp4"),
        Path::new("/data/thumbs/x.part.jpg"),
        "mov",
        true,
    )
    .into_iter()
    .map(|a| a.into_string().unwrap())
    .collect();
    let at = |s: &str| args.iter().position(|a| a == s).unwrap();
    let input = at("-i");
    let wl = at("-protocol_whitelist");
    assert_eq!(args[wl + 1], "file");
    assert!(wl < input, "the whitelist applies to the input: {args:?}");
    let f = at("-f");
    assert_eq!(args[f + 1], "mov");
    assert!(f < input, "the input format is fixed: {args:?}");
    assert_eq!(args[input + 1], "file:/media/a:b.mp4");
    assert_eq!(args.last().unwrap(), "file:/data/thumbs/x.part.jpg");
    assert_eq!(input_format("video/quicktime"), Some("mov"));
    assert_eq!(input_format("image/jpeg"), Some("jpeg_pipe"));
    assert_eq!(input_format("image/png"), Some("png_pipe"));
    assert_eq!(input_format("image/webp"), Some("webp_pipe"));
    assert_eq!(input_format("image/gif"), None);
    assert_eq!(input_format("application/vnd.apple.mpegurl"), None);
}

#[test]
fn every_request_writes_to_its_own_temp_name() {
    let dir = tempfile::tempdir().unwrap();
    let thumbs = Thumbnails::new(dir.path().join("thumbs")).unwrap();
    let out = thumbs.dir().join("abc.jpg");
    let a = thumbs.temp_path(&out);
    let b = thumbs.temp_path(&out);
    assert_ne!(a, b);
    for t in [&a, &b] {
        assert!(t.starts_with(thumbs.dir()));
        assert!(
            t.to_string_lossy().ends_with(".part.jpg"),
            "{}",
            t.display()
        );
    }
}

fn aged(path: &Path, secs_ago: u64) {
    let f = std::fs::File::options().append(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
        .unwrap();
}

#[test]
fn a_crashs_leftovers_are_removed_at_start_and_a_running_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("thumbs");
    std::fs::create_dir_all(&cache).unwrap();
    let stale = cache.join("aa.1-0.part.jpg");
    let fresh = cache.join("bb.2-0.part.jpg");
    std::fs::write(&stale, b"half").unwrap();
    std::fs::write(&fresh, b"half").unwrap();
    aged(&stale, 3600);
    Thumbnails::new(cache.clone()).unwrap();
    assert_eq!(files_in(&cache), ["bb.2-0.part.jpg"]);
}

#[tokio::test]
async fn the_cache_stays_under_its_limit_dropping_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("thumbs");
    std::fs::create_dir_all(&cache).unwrap();
    for (i, age) in [(0, 500), (1, 400), (2, 300), (3, 200)] {
        let p = cache.join(format!("old{i}.jpg"));
        std::fs::write(&p, vec![0u8; 10_000]).unwrap();
        aged(&p, age);
    }
    // 40,000 bytes in a 25,000-byte cache: pruned to 3/4 of it at start, oldest first.
    let thumbs = Thumbnails::with_limit(cache.clone(), 25_000).unwrap();
    assert_eq!(files_in(&cache), ["old3.jpg"]);
    let src = dir.path().join("frame.png");
    make_image(&src);
    let t = thumbs.get(&src, &inspect(&src)).await.unwrap();
    let total: u64 = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(total <= 25_000, "the cache holds {total} bytes");
    assert!(t.is_file(), "the newest thumbnail is kept");
}
