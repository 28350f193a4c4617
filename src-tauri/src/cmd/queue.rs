//! The queue: enqueue a batch of granted files, list posts, pause / resume / cancel / retry,
//! and fix the caption of a completed post (`PATCH`, never a second finalize).

use std::path::PathBuf;

use layers_uploader::api::types::Grouping;
use layers_uploader::api::IdempotencyKey;
use layers_uploader::queue::dest::submit::{
    submit_loops, submit_media, submit_url_fetch, Submission, SubmitError,
};
use layers_uploader::queue::plan::{check_caption, plan_posts};
use layers_uploader::queue::store::{Change, NewBatch, PostError, StoredPost};
use layers_uploader::queue::{DestinationKind, PostEvent, PostState, Store};
use serde::{Deserialize, Serialize};
use tauri::State;

use super::inspect::expand_granted;
use crate::engine;
use crate::error::{AppError, CmdResult};
use crate::state::AppState;

/// The default destination of a batch: Layers content by direct upload. The picker may also
/// send `layers-media:KIND` (the media library) or `loops` (Loops email assets).
pub const DESTINATION_CONTENT: &str = "layers-content";

/// What the Upload button sends: the cards' paths in order (slides in slide order).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnqueueRequest {
    pub paths: Vec<PathBuf>,
    pub grouping: Grouping,
    #[serde(default)]
    pub caption: String,
    #[serde(default)]
    pub destination: Option<String>,
}

/// The batch that was queued.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnqueueReply {
    pub batch_id: String,
    pub post_ids: Vec<i64>,
}

/// One file of a queued post.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFile {
    pub path: PathBuf,
    pub filename: String,
    pub size_bytes: u64,
    pub put_confirmed: bool,
}

/// One post as the queue view shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRow {
    pub id: i64,
    pub batch_id: String,
    pub state: PostState,
    pub resume_state: Option<PostState>,
    pub caption: String,
    pub grouping: Grouping,
    pub destination: String,
    pub container_id: Option<String>,
    pub error: Option<PostError>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub updated_at: i64,
    pub total_bytes: u64,
    pub files: Vec<QueueFile>,
    /// The media library asset id of a completed media post.
    pub asset_id: Option<String>,
    /// The public URL of a completed Loops email asset.
    pub final_url: Option<String>,
    /// The media URLs of a URL-fetch post (it has no local files).
    pub source_urls: Vec<String>,
    /// On a shared queue, the machine that holds (or last worked) the post.
    pub machine: Option<String>,
}

/// What "Add from URL" sends: 1–10 http(s) URLs fetched as one post, and its caption.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlFetchRequest {
    pub urls: Vec<String>,
    #[serde(default)]
    pub caption: String,
}

/// A string field of the completed post's JSON (`assetId`, `finalUrl`), if present.
fn json_field(content_json: Option<&str>, field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(content_json?).ok()?;
    value.get(field)?.as_str().map(str::to_owned)
}

impl From<StoredPost> for QueueRow {
    fn from(p: StoredPost) -> QueueRow {
        let completed = p.state == PostState::Completed;
        let done_field = |field| {
            completed
                .then(|| json_field(p.content_json.as_deref(), field))
                .flatten()
        };
        let asset_id = done_field("assetId");
        let final_url = done_field("finalUrl");
        QueueRow {
            asset_id,
            final_url,
            source_urls: p.source_urls,
            machine: p.machine,
            id: p.id,
            batch_id: p.batch_id,
            state: p.state,
            resume_state: p.resume_state,
            caption: p.caption,
            grouping: p.grouping,
            destination: p.destination,
            container_id: p.container_id,
            error: p.error,
            attempts: p.attempts,
            next_attempt_at: p.next_attempt_at,
            updated_at: p.updated_at,
            total_bytes: p.files.iter().map(|f| f.size_bytes).sum(),
            files: p
                .files
                .into_iter()
                .map(|f| QueueFile {
                    path: f.path,
                    filename: f.filename,
                    size_bytes: f.size_bytes,
                    put_confirmed: f.put_confirmed,
                })
                .collect(),
        }
    }
}

/// Plans and stores a batch; returns what was queued. Files are checked again here (the
/// inspector's cache makes that cheap), so a file changed since its card was drawn is judged
/// as it is now.
pub fn enqueue_batch(state: &AppState, req: &EnqueueRequest) -> CmdResult<EnqueueReply> {
    let destination = req.destination.as_deref().unwrap_or(DESTINATION_CONTENT);
    let kind = match DestinationKind::parse(destination) {
        Some(k @ (DestinationKind::LayersContent
        | DestinationKind::LayersMedia(_)
        | DestinationKind::Loops)) => k,
        _ => {
            return Err(AppError::invalid(format!(
                "unknown destination {destination:?}: choose Layers content, the media library or Loops"
            )))
        }
    };
    if kind == DestinationKind::LayersContent {
        check_caption(&req.caption).map_err(|e| AppError::invalid(e.message))?;
    }
    let files = expand_granted(state, &req.paths)?;
    if files.is_empty() {
        return Err(AppError::invalid("add files first: nothing to upload"));
    }
    let submitted = match kind {
        DestinationKind::LayersMedia(media) => Some(submit_media(
            &state.store,
            &state.project()?,
            media,
            &files,
            false,
        )),
        DestinationKind::Loops => Some(submit_loops(&state.store, &files, false)),
        _ => None,
    };
    if let Some(submitted) = submitted {
        return submitted.map(reply).map_err(submit_error);
    }
    let project = state.project()?;
    let inspections = state.inspector.inspect_all(&files);
    let posts = plan_posts(&inspections, req.grouping, &req.caption)
        .map_err(|e| AppError::invalid(e.message))?;
    let (batch_id, post_ids) = state.store.enqueue(&NewBatch {
        project_id: project,
        destination: DESTINATION_CONTENT.into(),
        grouping: req.grouping,
        force: false,
        posts,
    })?;
    Ok(EnqueueReply { batch_id, post_ids })
}

/// Queues one URL-fetch post: Layers fetches every URL in one atomic call.
pub fn enqueue_urls(state: &AppState, req: &UrlFetchRequest) -> CmdResult<EnqueueReply> {
    let urls: Vec<String> = req
        .urls
        .iter()
        .flat_map(|u| u.split_whitespace())
        .map(str::to_owned)
        .collect();
    submit_url_fetch(&state.store, &state.project()?, &urls, &req.caption)
        .map(reply)
        .map_err(submit_error)
}

fn reply(s: Submission) -> EnqueueReply {
    EnqueueReply {
        batch_id: s.batch_id,
        post_ids: s.post_ids,
    }
}

/// The engine's refusal as `{code, message}`: its messages already say what to fix.
fn submit_error(e: SubmitError) -> AppError {
    match e {
        SubmitError::Local(e) => AppError::invalid(e.message),
        SubmitError::Store(e) => e.into(),
    }
}

/// "Add from URL": queues the URL-fetch and wakes the runner.
#[tauri::command]
pub async fn enqueue_url(
    state: State<'_, AppState>,
    request: UrlFetchRequest,
) -> CmdResult<EnqueueReply> {
    let reply = enqueue_urls(state.inner(), &request)?;
    engine::wake(&state).await;
    Ok(reply)
}

/// Upload: queues the batch and wakes the runner.
#[tauri::command]
pub async fn enqueue(
    state: State<'_, AppState>,
    request: EnqueueRequest,
) -> CmdResult<EnqueueReply> {
    let reply = {
        let state = state.inner();
        tokio::task::block_in_place(|| enqueue_batch(state, &request))?
    };
    engine::wake(&state).await;
    Ok(reply)
}

/// Every post, oldest first (the window rebuilds the queue view from this).
#[tauri::command]
pub async fn queue_list(state: State<'_, AppState>) -> CmdResult<Vec<QueueRow>> {
    let store = state.store.clone();
    tauri::async_runtime::spawn_blocking(move || list_rows(&store))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?
}

/// Every post as rows.
pub fn list_rows(store: &Store) -> CmdResult<Vec<QueueRow>> {
    let mut rows = Vec::new();
    for summary in store.list(None)? {
        rows.push(QueueRow::from(store.post(summary.id)?));
    }
    Ok(rows)
}

/// A user action on posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pause,
    Resume,
    Cancel,
    Retry,
}

/// Applies an action to one post; `Ok(None)` when the post is in a state the action does not
/// apply to (pausing a completed post is not an error, just nothing to do).
pub fn apply(store: &Store, id: i64, action: Action) -> CmdResult<Option<QueueRow>> {
    let post = store.post(id)?;
    let s = post.state;
    let step = match action {
        Action::Pause if s.is_active() || s == PostState::Waiting => {
            Some((PostEvent::Pause, Change::default()))
        }
        Action::Resume if s == PostState::Paused => {
            let to = post
                .resume_state
                .filter(|r| r.is_active())
                .unwrap_or(PostState::Queued);
            Some((PostEvent::Resume(to), Change::default()))
        }
        Action::Cancel if !s.is_terminal() => Some((PostEvent::Cancel, Change::default())),
        Action::Retry
            if matches!(
                s,
                PostState::Failed | PostState::Blocked | PostState::Cancelled
            ) =>
        {
            Some((
                PostEvent::Retry,
                Change {
                    error: Some(None),
                    next_attempt_at: Some(None),
                    reset_attempts: true,
                    ..Change::default()
                },
            ))
        }
        _ => None,
    };
    let Some((event, change)) = step else {
        return Ok(None);
    };
    store.transition(id, event, change)?;
    Ok(Some(store.post(id)?.into()))
}

/// Pause, resume, cancel or retry posts (`ids` empty = every post the action applies to).
#[tauri::command]
pub async fn queue_action(
    state: State<'_, AppState>,
    action: Action,
    ids: Vec<i64>,
) -> CmdResult<Vec<QueueRow>> {
    let store = state.store.clone();
    let changed = tauri::async_runtime::spawn_blocking(move || {
        let ids = if ids.is_empty() {
            store.list(None)?.into_iter().map(|p| p.id).collect()
        } else {
            ids
        };
        let mut changed = Vec::new();
        for id in ids {
            if let Some(row) = apply(&store, id, action)? {
                changed.push(row);
            }
        }
        Ok::<_, AppError>(changed)
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))??;
    if matches!(action, Action::Resume | Action::Retry) {
        engine::wake(&state).await;
    }
    Ok(changed)
}

/// Fixes the caption of a completed post on Layers with `PATCH /v1/content/:id`.
#[tauri::command]
pub async fn fix_caption(
    state: State<'_, AppState>,
    post_id: i64,
    caption: String,
) -> CmdResult<QueueRow> {
    check_caption(&caption).map_err(|e| AppError::invalid(e.message))?;
    let post = state.store.post(post_id)?;
    if !matches!(
        DestinationKind::parse(&post.destination),
        Some(DestinationKind::LayersContent | DestinationKind::LayersUrlFetch)
    ) {
        return Err(AppError::invalid(
            "only Layers content has a caption; media library and Loops assets have none",
        ));
    }
    let container =
        match (&post.state, &post.container_id) {
            (PostState::Completed, Some(c)) => c.clone(),
            _ => return Err(AppError::invalid(
                "only a completed post's caption can be fixed; edit the caption before uploading",
            )),
        };
    let client = engine::client(&state).await?;
    client
        .patch_caption(&container, &caption, &IdempotencyKey::new_v4())
        .await?;
    state.store.record_caption(post_id, &caption)?;
    Ok(state.store.post(post_id)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use std::path::Path;

    fn image(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=1080x1350",
                "-frames:v",
                "1",
            ])
            .arg(&p)
            .status()
            .unwrap();
        assert!(ok.success(), "ffmpeg made {name}");
        p
    }

    fn state(dir: &Path) -> AppState {
        let s = AppState::open(dir.join("data"), std::time::Instant::now()).unwrap();
        s.set_status(|st| st.project_id = Some("proj-1".into()));
        s
    }

    fn request(paths: Vec<PathBuf>, grouping: Grouping) -> EnqueueRequest {
        EnqueueRequest {
            paths,
            grouping,
            caption: "Launch day 🚀".into(),
            destination: None,
        }
    }

    #[test]
    fn a_path_the_native_side_never_granted_is_refused_and_nothing_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let a = image(dir.path(), "a.png");
        let b = image(dir.path(), "b.png");
        s.grants().grant([&a]);
        let err = enqueue_batch(&s, &request(vec![a, b], Grouping::PerFile)).unwrap_err();
        assert_eq!(err.code, ErrorCode::PathNotGranted);
        assert!(err.message.contains("b.png"), "{}", err.message);
        assert!(s.store.list(None).unwrap().is_empty());
    }

    #[test]
    fn granted_files_become_posts_in_order_with_the_caption() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let a = image(dir.path(), "a.png");
        let b = image(dir.path(), "b.png");
        s.grants().grant([&b, &a]);
        let reply = enqueue_batch(
            &s,
            &request(vec![b.clone(), a.clone()], Grouping::Slideshow),
        )
        .unwrap();
        assert_eq!(reply.post_ids.len(), 1);
        let rows = list_rows(&s.store).unwrap();
        assert_eq!(rows.len(), 1);
        let names: Vec<&str> = rows[0].files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            ["b.png", "a.png"],
            "slides keep the order the UI sent"
        );
        assert_eq!(rows[0].caption, "Launch day 🚀");
        assert_eq!(rows[0].state, PostState::Queued);
        assert_eq!(rows[0].destination, DESTINATION_CONTENT);
    }

    #[test]
    fn bad_requests_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let a = image(dir.path(), "a.png");
        s.grants().grant([&a]);
        let mut long = request(vec![a.clone()], Grouping::PerFile);
        long.caption = "x".repeat(2201);
        let e = enqueue_batch(&s, &long).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("2201"), "{}", e.message);
        let mut elsewhere = request(vec![a], Grouping::PerFile);
        elsewhere.destination = Some("dropbox".into());
        assert_eq!(
            enqueue_batch(&s, &elsewhere).unwrap_err().code,
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn each_destination_makes_a_batch_of_its_own_kind_and_foreign_paths_stay_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let a = image(dir.path(), "a.png");
        let foreign = image(dir.path(), "foreign.png");
        s.grants().grant([&a]);
        for (destination, want) in [
            ("layers-media:logo", "layers-media:logo"),
            (
                "layers-media:reference_image",
                "layers-media:reference_image",
            ),
            ("loops", "loops"),
        ] {
            let mut req = request(vec![a.clone()], Grouping::PerFile);
            req.destination = Some(destination.into());
            let reply = enqueue_batch(&s, &req).unwrap();
            assert_eq!(reply.post_ids.len(), 1, "{destination}");
            let row = QueueRow::from(s.store.post(reply.post_ids[0]).unwrap());
            assert_eq!(row.destination, want);
            assert_eq!(
                row.state,
                PostState::Queued,
                "{destination}: {:?}",
                row.error
            );
            assert_eq!(row.files[0].filename, "a.png");
            let mut sneaky = request(vec![a.clone(), foreign.clone()], Grouping::PerFile);
            sneaky.destination = Some(destination.into());
            let e = enqueue_batch(&s, &sneaky).unwrap_err();
            assert_eq!(e.code, ErrorCode::PathNotGranted, "{destination}");
        }
        assert_eq!(
            s.store.list(None).unwrap().len(),
            3,
            "nothing of the refused ones"
        );
    }

    #[test]
    fn urls_become_one_url_fetch_post_and_bad_urls_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let reply = enqueue_urls(
            &s,
            &UrlFetchRequest {
                urls: vec!["https://cdn.example.com/a.jpg\nhttps://cdn.example.com/b.jpg".into()],
                caption: "From the CDN".into(),
            },
        )
        .unwrap();
        let rows = list_rows(&s.store).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, reply.post_ids[0]);
        assert_eq!(rows[0].destination, "layers-url-fetch");
        assert_eq!(rows[0].caption, "From the CDN");
        assert_eq!(rows[0].source_urls.len(), 2);
        let e = enqueue_urls(
            &s,
            &UrlFetchRequest {
                urls: vec!["ftp://x/y.jpg".into()],
                caption: String::new(),
            },
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert!(e.message.contains("ftp://x/y.jpg"), "{}", e.message);
        let none = UrlFetchRequest {
            urls: vec!["  ".into()],
            caption: String::new(),
        };
        assert_eq!(
            enqueue_urls(&s, &none).unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert_eq!(list_rows(&s.store).unwrap().len(), 1);
    }

    #[test]
    fn a_completed_rows_asset_id_and_final_url_come_from_its_json() {
        let json =
            r#"{"success":true,"emailAssetId":"ea_1","finalUrl":"https://cdn.loops.so/x.png"}"#;
        assert_eq!(
            json_field(Some(json), "finalUrl").as_deref(),
            Some("https://cdn.loops.so/x.png")
        );
        assert_eq!(json_field(Some(json), "assetId"), None);
        assert_eq!(json_field(Some("not json"), "assetId"), None);
        assert_eq!(json_field(None, "assetId"), None);
    }

    #[test]
    fn pause_resume_cancel_and_retry_follow_the_state_machine() {
        let dir = tempfile::tempdir().unwrap();
        let s = state(dir.path());
        let a = image(dir.path(), "a.png");
        s.grants().grant([&a]);
        let id = enqueue_batch(&s, &request(vec![a], Grouping::PerFile))
            .unwrap()
            .post_ids[0];
        let st = |row: Option<QueueRow>| row.map(|r| r.state);
        assert_eq!(
            st(apply(&s.store, id, Action::Pause).unwrap()),
            Some(PostState::Paused)
        );
        assert_eq!(
            st(apply(&s.store, id, Action::Pause).unwrap()),
            None,
            "already paused"
        );
        assert_eq!(
            st(apply(&s.store, id, Action::Retry).unwrap()),
            None,
            "retry is for failures"
        );
        assert_eq!(
            st(apply(&s.store, id, Action::Resume).unwrap()),
            Some(PostState::Queued)
        );
        assert_eq!(
            st(apply(&s.store, id, Action::Cancel).unwrap()),
            Some(PostState::Cancelled)
        );
        assert_eq!(st(apply(&s.store, id, Action::Resume).unwrap()), None);
        assert_eq!(
            st(apply(&s.store, id, Action::Retry).unwrap()),
            Some(PostState::Queued)
        );
        let e = apply(&s.store, 999, Action::Pause).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidInput);
    }

    #[test]
    fn actions_arrive_as_lowercase_words() {
        let a: Action = serde_json::from_str("\"retry\"").unwrap();
        assert_eq!(a, Action::Retry);
        let r: EnqueueRequest = serde_json::from_value(serde_json::json!({
            "paths": ["/x.png"], "grouping": "slideshow"
        }))
        .unwrap();
        assert_eq!(r.grouping, Grouping::Slideshow);
        assert_eq!(r.caption, "");
    }
}
