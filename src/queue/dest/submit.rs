//! Putting work for the other destinations into the queue: what the CLI and the app call. Each
//! file is identified and checked against its destination's rules first; a file that fails them
//! becomes a post that is `failed` from the start (reported, never lost), as for content.

use std::path::{Path, PathBuf};

use super::local::{check_loops, check_media, identify};
use super::{DestinationKind, LOOPS_SCOPE};
use crate::api::types::{Grouping, MediaLibraryKind, MAX_FILES_PER_CALL};
use crate::media::{ErrorCode, LocalError};
use crate::queue::plan::check_caption;
use crate::queue::store::{NewBatch, NewFile, NewPost, Store, StoreError};

/// Why a submission was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The input breaks a rule (no URLs, too many, a caption too long, not a URL).
    #[error("{}", .0.message)]
    Local(LocalError),
    /// The queue could not store it.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SubmitError {
    /// Stable code for UIs.
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Local(e) => e.code.as_str(),
            SubmitError::Store(_) => "store",
        }
    }
}

/// A stored submission: its batch and posts (in the order of the paths or URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The batch id (`Scope::Batch` runs exactly this).
    pub batch_id: String,
    /// The post ids, one per file (one in all for a URL-fetch).
    pub post_ids: Vec<i64>,
}

/// Queues files for the Layers media library as `kind`, one post per file.
pub fn submit_media(
    store: &Store,
    project_id: &str,
    kind: MediaLibraryKind,
    paths: &[PathBuf],
    force: bool,
) -> Result<Submission, SubmitError> {
    let posts = paths
        .iter()
        .map(|p| post_for(p, kind == MediaLibraryKind::Audio, |f| check_media(f, kind)))
        .collect();
    enqueue(
        store,
        project_id,
        DestinationKind::LayersMedia(kind),
        force,
        posts,
    )
}

/// Queues images as Loops email assets, one post per file.
pub fn submit_loops(
    store: &Store,
    paths: &[PathBuf],
    force: bool,
) -> Result<Submission, SubmitError> {
    let posts = paths
        .iter()
        .map(|p| post_for(p, false, check_loops))
        .collect();
    enqueue(store, LOOPS_SCOPE, DestinationKind::Loops, force, posts)
}

/// Queues one URL-fetch: Layers fetches every URL in one atomic call (1–10 URLs: one video,
/// one image, or a slideshow of images) and the caption is published as written.
pub fn submit_url_fetch(
    store: &Store,
    project_id: &str,
    urls: &[String],
    caption: &str,
) -> Result<Submission, SubmitError> {
    check_caption(caption).map_err(SubmitError::Local)?;
    if urls.is_empty() || urls.len() > MAX_FILES_PER_CALL {
        return Err(SubmitError::Local(LocalError::new(
            ErrorCode::TooManyFiles,
            format!(
                "a URL-fetch takes 1 to {MAX_FILES_PER_CALL} URLs (one post); {} were given",
                urls.len()
            ),
        )));
    }
    for url in urls {
        let ok = reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !ok {
            return Err(SubmitError::Local(LocalError::new(
                ErrorCode::NotFound,
                format!("{url:?} is not an http(s) URL Layers could fetch"),
            )));
        }
    }
    let (batch_id, post_id) = store.enqueue_url_fetch(project_id, urls, caption)?;
    Ok(Submission {
        batch_id,
        post_ids: vec![post_id],
    })
}

/// One post for one file: identified and checked, or failed from the start with the reason.
fn post_for(
    path: &Path,
    audio: bool,
    check: impl Fn(&NewFile) -> Result<(), LocalError>,
) -> NewPost {
    match identify(path, audio).and_then(|f| check(&f).map(|()| f)) {
        Ok(file) => NewPost {
            caption: String::new(),
            files: vec![file],
            rejected: None,
        },
        Err(e) => NewPost {
            caption: String::new(),
            files: vec![NewFile {
                path: path.to_path_buf(),
                filename: path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                content_type: String::new(),
                size_bytes: 0,
                mtime_ns: None,
                sha256: String::new(),
            }],
            rejected: Some((e.code.as_str().to_string(), e.message)),
        },
    }
}

fn enqueue(
    store: &Store,
    project_id: &str,
    destination: DestinationKind,
    force: bool,
    posts: Vec<NewPost>,
) -> Result<Submission, SubmitError> {
    if posts.is_empty() {
        return Err(SubmitError::Local(LocalError::new(
            ErrorCode::NotFound,
            "no files to upload were given",
        )));
    }
    let (batch_id, post_ids) = store.enqueue(&NewBatch {
        project_id: project_id.to_string(),
        destination: destination.as_string(),
        grouping: Grouping::PerFile,
        force,
        posts,
    })?;
    Ok(Submission { batch_id, post_ids })
}
