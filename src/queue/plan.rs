//! The planner: a batch of inspected files → posts (enforcing the grouping rules before any
//! request), and queued posts → sessions (1–10 files, and only as many bytes as can be PUT
//! well inside the presigned URLs' lifetime at the measured throughput).

use std::path::Path;
use std::time::Duration;

use super::store::{NewFile, NewPost};
use crate::api::types::{caption_len, Grouping, MAX_CAPTION_UTF16, MAX_FILES_PER_CALL};
use crate::media::{ErrorCode, Inspection, LocalError, MediaKind};

/// The documented presigned-URL lifetime, used until a session tells us the real one.
pub const DEFAULT_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Throughput assumed before any PUT has been measured: a modest uplink (2 MB/s).
pub const DEFAULT_THROUGHPUT_BPS: u64 = 2 * 1024 * 1024;

/// Share of the URL lifetime a session's PUTs may take, leaving room for retries.
pub const LIFETIME_SHARE: f64 = 0.5;

/// Checks a caption the way the API counts it (UTF-16 code units, at most 2,200).
pub fn check_caption(caption: &str) -> Result<(), LocalError> {
    let len = caption_len(caption);
    if len > MAX_CAPTION_UTF16 {
        return Err(LocalError::new(
            ErrorCode::CaptionTooLong,
            format!(
                "the caption is {len} characters long; Layers publishes at most {MAX_CAPTION_UTF16}: shorten it by {}",
                len - MAX_CAPTION_UTF16
            ),
        ));
    }
    Ok(())
}

/// Reads a caption file or sidecar: drops a leading UTF-8 BOM and one trailing newline (LF or
/// CRLF), nothing else, so the caption is published exactly as the person wrote it.
pub fn read_caption_file(path: &Path) -> std::io::Result<String> {
    Ok(caption_from_text(&std::fs::read_to_string(path)?))
}

/// The sidecar rule on text already read (see [`read_caption_file`]).
pub fn caption_from_text(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
        .to_string()
}

/// Turns inspected files into posts. Per-file: one post per file, and a file with a hard
/// error becomes a post that is `failed` from the start (so it is reported, not lost).
/// Slideshow: one post of 1–10 images; anything else is refused before any request.
pub fn plan_posts(
    files: &[Inspection],
    grouping: Grouping,
    caption: &str,
) -> Result<Vec<NewPost>, LocalError> {
    check_caption(caption)?;
    if files.is_empty() {
        return Err(LocalError::new(
            ErrorCode::NotFound,
            "no files to upload were given",
        ));
    }
    match grouping {
        Grouping::PerFile => Ok(files
            .iter()
            .map(|f| NewPost {
                caption: caption.to_string(),
                files: new_file(f).into_iter().collect(),
                rejected: f
                    .errors
                    .first()
                    .map(|e| (e.code.as_str().to_string(), e.message.clone())),
            })
            .collect()),
        Grouping::Slideshow => {
            if let Some(video) = files.iter().find(|f| f.kind == Some(MediaKind::Video)) {
                return Err(LocalError::new(
                    ErrorCode::SlideshowHasVideo,
                    format!(
                        "{} is a video; slideshows are images only: upload it per-file",
                        name(&video.path)
                    ),
                ));
            }
            if files.len() > MAX_FILES_PER_CALL {
                return Err(LocalError::new(
                    ErrorCode::TooManyFiles,
                    format!(
                        "a slideshow takes at most {MAX_FILES_PER_CALL} images; {} were given: split them into several slideshows",
                        files.len()
                    ),
                ));
            }
            if let Some((f, e)) = files.iter().find_map(|f| f.errors.first().map(|e| (f, e))) {
                return Err(LocalError::new(
                    e.code,
                    format!("the slideshow cannot be uploaded: {}", e.message)
                        .replace(&format!(": {}", f.path), ""),
                ));
            }
            Ok(vec![NewPost {
                caption: caption.to_string(),
                files: files.iter().filter_map(new_file).collect(),
                rejected: None,
            }])
        }
    }
}

fn new_file(f: &Inspection) -> Option<NewFile> {
    // The exact path (a name that is not UTF-8 must still be found); the text one only for an
    // inspection that came without it.
    let path = if f.local_path.as_os_str().is_empty() {
        Path::new(&f.path)
    } else {
        f.local_path.as_path()
    };
    let mtime_ns = std::fs::metadata(path).ok().and_then(|m| mtime_ns(&m));
    Some(NewFile {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        // The API takes UTF-8 names: odd bytes become U+FFFD (the file itself keeps its name).
        filename: name(&f.path),
        content_type: f.content_type.clone().unwrap_or_default(),
        size_bytes: f.size_bytes,
        mtime_ns,
        sha256: f.sha256.clone().unwrap_or_default(),
    })
}

/// Modification time in nanoseconds since the epoch: with the size, what says a file changed.
pub fn mtime_ns(meta: &std::fs::Metadata) -> Option<i64> {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
}

fn name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// The most bytes one session should carry: what the measured throughput PUTs in half the
/// URL lifetime.
pub fn session_byte_budget(throughput_bps: u64, url_lifetime: Duration) -> u64 {
    (throughput_bps as f64 * url_lifetime.as_secs_f64() * LIFETIME_SHARE) as u64
}

/// A queued post as the session planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostSize {
    pub id: i64,
    pub files: usize,
    pub bytes: u64,
}

/// Packs queued posts (of one batch and grouping, in order) into sessions: at most 10 files
/// and at most `budget` bytes each; a post larger than the budget gets a session of its own.
pub fn plan_sessions(posts: &[PostSize], budget: u64) -> Vec<Vec<i64>> {
    let mut sessions: Vec<Vec<i64>> = Vec::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    for p in posts {
        let fits = files + p.files <= MAX_FILES_PER_CALL && bytes + p.bytes <= budget;
        match sessions.last_mut() {
            Some(current) if fits && !current.is_empty() => {
                current.push(p.id);
                files += p.files;
                bytes += p.bytes;
            }
            _ => {
                sessions.push(vec![p.id]);
                files = p.files;
                bytes = p.bytes;
            }
        }
    }
    sessions
}

/// Whether one post can be PUT within the URL lifetime at this throughput at all; when not,
/// the message says so before anything is reserved.
pub fn check_fits_lifetime(
    post_bytes: u64,
    throughput_bps: u64,
    url_lifetime: Duration,
) -> Result<(), String> {
    let needed = post_bytes as f64 / throughput_bps.max(1) as f64;
    if needed > url_lifetime.as_secs_f64() * 0.9 {
        return Err(format!(
            "{} would take about {:.0} min to upload at the measured {}/s, longer than the {} min the upload links stay valid: upload fewer or smaller files at once",
            crate::media::human_bytes(post_bytes),
            needed / 60.0,
            crate::media::human_bytes(throughput_bps),
            url_lifetime.as_secs() / 60
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(path: &str, kind: MediaKind, errors: Vec<LocalError>) -> Inspection {
        Inspection {
            path: path.into(),
            local_path: path.into(),
            content_type: Some(match kind {
                MediaKind::Video => "video/mp4".into(),
                MediaKind::Image => "image/jpeg".into(),
            }),
            kind: Some(kind),
            size_bytes: 1000,
            width: Some(1080),
            height: Some(1920),
            duration_ms: None,
            fps: None,
            video_codec: None,
            audio_codec: None,
            bitrate_bps: None,
            rotation: Some(0),
            sha256: Some(format!("sha-of-{path}")),
            errors,
            platform_fit: vec![],
        }
    }

    #[test]
    fn eleven_images_as_a_slideshow_are_refused_before_any_request() {
        let files: Vec<_> = (0..11)
            .map(|i| inspection(&format!("{i}.jpg"), MediaKind::Image, vec![]))
            .collect();
        let e = plan_posts(&files, Grouping::Slideshow, "").unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyFiles);
        assert!(e.message.contains("11 were given"), "{}", e.message);
    }

    #[test]
    fn a_video_in_a_slideshow_is_refused() {
        let files = vec![
            inspection("a.jpg", MediaKind::Image, vec![]),
            inspection("b.mp4", MediaKind::Video, vec![]),
        ];
        let e = plan_posts(&files, Grouping::Slideshow, "").unwrap_err();
        assert_eq!(e.code, ErrorCode::SlideshowHasVideo);
        assert!(e.message.contains("b.mp4"));
    }

    #[test]
    fn slideshow_of_one_image_is_one_post() {
        let files = vec![inspection("a.jpg", MediaKind::Image, vec![])];
        let posts = plan_posts(&files, Grouping::Slideshow, "hi").unwrap();
        assert_eq!(posts.len(), 1);
        assert_eq!(posts[0].files.len(), 1);
    }

    #[test]
    fn per_file_keeps_rejected_files_as_failed_posts() {
        let bad = LocalError::new(ErrorCode::Empty, "x is empty");
        let files = vec![
            inspection("a.mp4", MediaKind::Video, vec![]),
            inspection("b.jpg", MediaKind::Image, vec![bad]),
        ];
        let posts = plan_posts(&files, Grouping::PerFile, "").unwrap();
        assert_eq!(posts.len(), 2);
        assert!(posts[0].rejected.is_none());
        assert_eq!(posts[1].rejected.as_ref().unwrap().0, "empty");
    }

    #[test]
    fn sidecar_text_loses_only_a_bom_and_one_trailing_newline() {
        assert_eq!(caption_from_text("\u{feff}Hello\r\n"), "Hello");
        assert_eq!(caption_from_text("two\n\n"), "two\n");
        assert_eq!(caption_from_text("  spaced  "), "  spaced  ");
        assert_eq!(caption_from_text(""), "");
    }

    #[test]
    fn caption_limit_counts_utf16_units() {
        assert!(check_caption(&"a".repeat(2200)).is_ok());
        let e = check_caption(&"😀".repeat(1101)).unwrap_err();
        assert_eq!(e.code, ErrorCode::CaptionTooLong);
        assert!(e.message.contains("2202"), "{}", e.message);
    }

    #[test]
    fn twenty_five_small_files_make_three_sessions() {
        let posts: Vec<PostSize> = (0..25)
            .map(|id| PostSize {
                id,
                files: 1,
                bytes: 2_000_000,
            })
            .collect();
        let budget = session_byte_budget(DEFAULT_THROUGHPUT_BPS, DEFAULT_URL_LIFETIME);
        let sessions = plan_sessions(&posts, budget);
        assert_eq!(
            sessions.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
    }

    #[test]
    fn big_videos_get_sessions_of_their_own() {
        let budget = 100 * 1024 * 1024;
        let posts = vec![
            PostSize {
                id: 1,
                files: 1,
                bytes: 90 * 1024 * 1024,
            },
            PostSize {
                id: 2,
                files: 1,
                bytes: 90 * 1024 * 1024,
            },
            PostSize {
                id: 3,
                files: 1,
                bytes: 1024,
            },
            PostSize {
                id: 4,
                files: 1,
                bytes: 1024,
            },
        ];
        assert_eq!(plan_sessions(&posts, budget), vec![vec![1], vec![2, 3, 4]]);
        // Larger than the whole budget: still planned, alone.
        let huge = vec![PostSize {
            id: 9,
            files: 1,
            bytes: 10 * budget,
        }];
        assert_eq!(plan_sessions(&huge, budget), vec![vec![9]]);
    }

    #[test]
    fn a_slow_link_is_named_before_reserving() {
        let life = DEFAULT_URL_LIFETIME;
        assert!(check_fits_lifetime(100 * 1024 * 1024, 1024 * 1024, life).is_ok());
        let e = check_fits_lifetime(300 * 1024 * 1024, 200 * 1024, life).unwrap_err();
        assert!(e.contains("longer than the 15 min"), "{e}");
    }
}
