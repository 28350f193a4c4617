//! The SQLite queue store on a real file: migrations, the full post life, crash-replay keys,
//! the ledger, and refusal of moves the state machine does not allow.

use std::path::PathBuf;

use layers_uploader::api::types::Grouping;
use layers_uploader::queue::store::{
    Change, NewBatch, NewFile, NewPost, PostError, ReservedFile, ReservedUpload, Store, StoreError,
    SCHEMA_VERSION,
};
use layers_uploader::queue::{PostEvent, PostState};

fn file(name: &str, sha: &str) -> NewFile {
    NewFile {
        path: PathBuf::from(format!("/exports/{name}")),
        filename: name.into(),
        content_type: "image/jpeg".into(),
        size_bytes: 1234,
        mtime_ns: Some(1),
        sha256: sha.into(),
    }
}

fn reserved(container: &str, url: &str, expires_at: i64) -> ReservedUpload {
    ReservedUpload {
        container_id: container.into(),
        files: vec![ReservedFile {
            upload_url: url.into(),
            r2_key: format!("k/{container}"),
            expires_at,
            headers: None,
        }],
    }
}

fn batch(posts: Vec<NewPost>) -> NewBatch {
    NewBatch {
        project_id: "prj_1".into(),
        destination: "layers-content".into(),
        grouping: Grouping::PerFile,
        force: false,
        posts,
    }
}

fn post(name: &str, sha: &str) -> NewPost {
    NewPost {
        caption: format!("caption of {name}"),
        files: vec![file(name, sha)],
        rejected: None,
    }
}

#[test]
fn a_new_store_is_migrated_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    let again = Store::open_in(dir.path()).unwrap();
    assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_store_from_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite3");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match Store::open(&path) {
        Err(e @ StoreError::NewerSchema { .. }) => {
            assert!(e.to_string().contains("update the uploader"))
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

#[test]
fn a_post_walks_its_whole_life_and_lands_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let (batch_id, ids) = store
        .enqueue(&batch(vec![post("a.jpg", "aaa"), post("b.jpg", "bbb")]))
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!(store.runnable(0, Some(&batch_id)).unwrap(), ids);

    // The create-session key and body are stored before the call.
    let session = store
        .begin_session(&batch_id, &ids, r#"{"files":[]}"#)
        .unwrap();
    assert_eq!(store.post(ids[0]).unwrap().state, PostState::Reserving);
    assert_eq!(session.response_json, None);
    let replayed = store.session(session.id).unwrap();
    assert_eq!(
        replayed.idempotency_key, session.idempotency_key,
        "a crash replays the same key"
    );

    let uploads = vec![
        reserved("cnt_a", "http://s/a", 10_000),
        reserved("cnt_b", "http://s/b", 20_000),
    ];
    store
        .record_session(session.id, r#"{"uploads":[]}"#, &uploads)
        .unwrap();
    let a = store.post(ids[0]).unwrap();
    assert_eq!(a.state, PostState::Reserved);
    assert_eq!(a.container_id.as_deref(), Some("cnt_a"));
    assert_eq!(a.files[0].upload_url.as_deref(), Some("http://s/a"));
    assert_eq!(
        store.post(ids[1]).unwrap().container_id.as_deref(),
        Some("cnt_b")
    );
    assert_eq!(store.session(session.id).unwrap().expires_at, Some(10_000));

    store
        .transition(ids[0], PostEvent::StartUpload, Change::default())
        .unwrap();
    store.confirm_put(ids[0], 0).unwrap();
    assert!(store.post(ids[0]).unwrap().files[0].put_confirmed);
    store
        .transition(ids[0], PostEvent::AllUploaded, Change::default())
        .unwrap();

    let key = store.begin_finalize(ids[0]).unwrap();
    assert_eq!(
        store.begin_finalize(ids[0]).unwrap(),
        key,
        "finalize replays its key"
    );
    store
        .complete(ids[0], "cnt_a", r#"{"id":"cnt_a"}"#)
        .unwrap();
    let done = store.post(ids[0]).unwrap();
    assert_eq!(done.state, PostState::Completed);
    assert_eq!(done.content_json.as_deref(), Some(r#"{"id":"cnt_a"}"#));
    assert_eq!(
        store.ledger_lookup("prj_1", "aaa").unwrap().as_deref(),
        Some("cnt_a")
    );
    assert_eq!(
        store.ledger_lookup("prj_other", "aaa").unwrap(),
        None,
        "the ledger is per project"
    );
    assert_eq!(store.runnable(0, Some(&batch_id)).unwrap(), vec![ids[1]]);
}

#[test]
fn moves_the_state_machine_forbids_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let (_, ids) = store.enqueue(&batch(vec![post("a.jpg", "aaa")])).unwrap();
    let err = store
        .transition(ids[0], PostEvent::Complete, Change::default())
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
    assert_eq!(store.post(ids[0]).unwrap().state, PostState::Queued);
    assert!(
        store.complete(ids[0], "cnt", "{}").is_err(),
        "cannot complete a queued post"
    );
    assert_eq!(store.ledger_lookup("prj_1", "aaa").unwrap(), None);
}

#[test]
fn waiting_remembers_where_to_resume_and_when() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let (batch_id, ids) = store.enqueue(&batch(vec![post("a.jpg", "aaa")])).unwrap();
    store.begin_session(&batch_id, &ids, "{}").unwrap();
    let error = PostError {
        code: "server_error".into(),
        message: "503".into(),
        details: None,
    };
    store
        .transition(
            ids[0],
            PostEvent::Wait,
            Change {
                error: Some(Some(error.clone())),
                next_attempt_at: Some(Some(5_000)),
                count_attempt: true,
                ..Change::default()
            },
        )
        .unwrap();
    let p = store.post(ids[0]).unwrap();
    assert_eq!(
        (p.state, p.resume_state),
        (PostState::Waiting, Some(PostState::Reserving))
    );
    assert_eq!(
        (p.attempts, p.next_attempt_at, p.error),
        (1, Some(5_000), Some(error))
    );
    assert!(
        store.runnable(4_999, None).unwrap().is_empty(),
        "not before its time"
    );
    assert_eq!(store.runnable(5_000, None).unwrap(), ids);
    assert_eq!(store.next_wakeup(None, None).unwrap(), Some(5_000));
    store
        .transition(
            ids[0],
            PostEvent::Resume(PostState::Reserving),
            Change::default(),
        )
        .unwrap();
    assert_eq!(store.post(ids[0]).unwrap().state, PostState::Reserving);
}

#[test]
fn rejected_files_are_failed_posts_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let mut bad = post("zero.mp4", "");
    bad.rejected = Some(("empty".into(), "zero.mp4 is empty (0 bytes)".into()));
    let (_, ids) = store.enqueue(&batch(vec![bad])).unwrap();
    let list = store.list(None).unwrap();
    assert_eq!(list[0].state, PostState::Failed);
    assert_eq!(list[0].error.as_ref().unwrap().code, "empty");
    assert_eq!(list[0].files, vec!["/exports/zero.mp4".to_string()]);
    let json = serde_json::to_value(&list[0]).unwrap();
    for key in [
        "id",
        "batchId",
        "state",
        "destination",
        "files",
        "containerId",
        "error",
        "nextAttemptAt",
        "updatedAt",
    ] {
        assert!(
            json.get(key).is_some(),
            "queue list JSON lacks {key}: {json}"
        );
    }
    assert_eq!(
        store
            .transition(ids[0], PostEvent::Retry, Change::default())
            .unwrap(),
        PostState::Queued
    );
}

#[test]
fn a_changed_file_gets_a_new_identity_and_must_be_put_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let (batch_id, ids) = store.enqueue(&batch(vec![post("a.jpg", "old")])).unwrap();
    let s = store.begin_session(&batch_id, &ids, "{}").unwrap();
    store
        .record_session(s.id, "{}", &[reserved("cnt", "u", 1)])
        .unwrap();
    store.confirm_put(ids[0], 0).unwrap();
    store
        .refresh_file(ids[0], 0, &file("a.jpg", "new"))
        .unwrap();
    let p = store.post(ids[0]).unwrap();
    assert_eq!(p.files[0].sha256, "new");
    assert!(!p.files[0].put_confirmed);
    assert_eq!(p.dedupe_key.as_deref(), Some("new"));
}

#[test]
fn many_processes_opening_a_new_store_at_once_all_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.sqlite3");
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    let store = Store::open(&path).expect("a concurrent open succeeds");
                    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
                });
            }
        });
    }
}
