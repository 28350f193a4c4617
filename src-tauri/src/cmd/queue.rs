//! The queue: enqueue a batch of granted files, list posts, pause / resume / cancel / retry,
//! and fix the caption of a completed post (`PATCH`, never a second finalize).

use std::path::PathBuf;

use layers_uploader::api::types::Grouping;
use layers_uploader::api::IdempotencyKey;
use layers_uploader::queue::plan::{check_caption, plan_posts};
use layers_uploader::queue::store::{Change, NewBatch, PostError, StoredPost};
use layers_uploader::queue::{PostEvent, PostState, Store};
use serde::{Deserialize, Serialize};
use tauri::State;

use super::inspect::expand_granted;
use crate::engine;
use crate::error::{AppError, CmdResult};
use crate::state::AppState;

/// The one destination the engine has today. The per-batch destination picker ("Layers
/// content", the media library, Loops, "Add from URL") plugs in here when the engine's
/// destinations land: the UI already sends `destination`.
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
}

impl From<StoredPost> for QueueRow {
    fn from(p: StoredPost) -> QueueRow {
        QueueRow {
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
    if destination != DESTINATION_CONTENT {
        return Err(AppError::invalid(format!(
            "unknown destination {destination:?}: this version uploads to Layers content"
        )));
    }
    check_caption(&req.caption).map_err(|e| AppError::invalid(e.message))?;
    let files = expand_granted(state, &req.paths)?;
    if files.is_empty() {
        return Err(AppError::invalid("add files first: nothing to upload"));
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
        elsewhere.destination = Some("loops".into());
        assert_eq!(
            enqueue_batch(&s, &elsewhere).unwrap_err().code,
            ErrorCode::InvalidInput
        );
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
