//! The post state machine: every state a post can be in, and every allowed move, in one place.
//! The store refuses any transition this table does not allow, so a bug shows up as an error
//! instead of a post that silently skips a step (and loses or duplicates an upload).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a post is in its life. Persisted as the lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostState {
    /// Planned; no session yet (or its old session was lost and a new one is needed).
    Queued,
    /// A create-session call is (or may be) in flight; its Idempotency-Key is stored.
    Reserving,
    /// The session exists: presigned URLs are stored, nothing confirmed uploaded yet.
    Reserved,
    /// PUTs are in flight; each file's `put_confirmed` says which landed.
    Uploading,
    /// Every file's PUT is confirmed.
    Uploaded,
    /// A finalize call is (or may be) in flight; its Idempotency-Key is stored.
    Finalizing,
    /// The content item exists and is recorded in the ledger.
    Completed,
    /// A non-retryable error, or a retryable one that ran out of attempts.
    Failed,
    /// The project's upload quota is full; usage and limits are stored.
    Blocked,
    /// Already uploaded to this project (the ledger knows it).
    Skipped,
    /// Backing off after a retryable error, until `next_attempt_at`.
    Waiting,
    /// Paused by the user.
    Paused,
    /// Cancelled by the user.
    Cancelled,
}

/// All states, for listings and tests.
pub const ALL_STATES: [PostState; 13] = [
    PostState::Queued,
    PostState::Reserving,
    PostState::Reserved,
    PostState::Uploading,
    PostState::Uploaded,
    PostState::Finalizing,
    PostState::Completed,
    PostState::Failed,
    PostState::Blocked,
    PostState::Skipped,
    PostState::Waiting,
    PostState::Paused,
    PostState::Cancelled,
];

impl PostState {
    /// The persisted and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            PostState::Queued => "queued",
            PostState::Reserving => "reserving",
            PostState::Reserved => "reserved",
            PostState::Uploading => "uploading",
            PostState::Uploaded => "uploaded",
            PostState::Finalizing => "finalizing",
            PostState::Completed => "completed",
            PostState::Failed => "failed",
            PostState::Blocked => "blocked",
            PostState::Skipped => "skipped",
            PostState::Waiting => "waiting",
            PostState::Paused => "paused",
            PostState::Cancelled => "cancelled",
        }
    }

    /// States on the happy path, the ones work resumes into after a wait or a pause.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            PostState::Queued
                | PostState::Reserving
                | PostState::Reserved
                | PostState::Uploading
                | PostState::Uploaded
                | PostState::Finalizing
        )
    }

    /// States `upload`/`resume` stop at: nothing more happens without the user.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PostState::Completed
                | PostState::Failed
                | PostState::Blocked
                | PostState::Skipped
                | PostState::Cancelled
        )
    }
}

impl fmt::Display for PostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a state (a corrupt row, or a newer schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown post state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for PostState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATES
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

/// What happens to a post; each maps to at most one next state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostEvent {
    /// The runner is about to send create-session (the key is stored first).
    Reserve,
    /// Create-session answered 201 and the URLs are stored.
    SessionCreated,
    /// A PUT starts (also again after `409 UPLOAD_INCOMPLETE`).
    StartUpload,
    /// Every file is confirmed.
    AllUploaded,
    /// The runner is about to send finalize (the key is stored first).
    Finalize,
    /// The runner is about to send a URL-fetch call, the one step of that transport (its key
    /// is stored first, as for finalize): a URL-fetch post goes `queued → finalizing`.
    FetchFromUrls,
    /// Finalize answered 200 and the item is in the ledger.
    Complete,
    /// The session can no longer be used (URL expired, reaped, storage refused, file changed):
    /// start over with a new session.
    SessionLost,
    /// A retryable error: back off, then resume from `resume_to`.
    Wait,
    /// A backoff elapsed (or the user resumed): go back to the saved active state.
    Resume(PostState),
    /// A non-retryable error.
    Fail,
    /// Quota full.
    Block,
    /// The ledger already has this post for this project.
    Skip,
    /// The user paused it.
    Pause,
    /// The user cancelled it.
    Cancel,
    /// The user asked to try a failed, blocked or cancelled post again.
    Retry,
    /// The user asked to try again a post whose finalize (or URL fetch) may already have run:
    /// its stored Idempotency-Key is sent again before anything else, so an item the server
    /// already made is read back instead of uploaded a second time. The store sends this
    /// instead of [`PostEvent::Retry`] when the post holds a finalize key.
    Refinalize,
}

/// A move the table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a post cannot go from {from} on {event:?}")]
pub struct InvalidTransition {
    pub from: PostState,
    pub event: PostEvent,
}

/// The whole state machine: the next state, or why not.
pub fn next(from: PostState, event: PostEvent) -> Result<PostState, InvalidTransition> {
    use PostEvent as E;
    use PostState as S;
    let to = match (from, event) {
        (S::Queued | S::Reserving, E::Reserve) => S::Reserving,
        (S::Reserving, E::SessionCreated) => S::Reserved,
        // From `uploaded`/`finalizing` too: `409 UPLOAD_INCOMPLETE` means re-PUT what is missing.
        (S::Reserved | S::Uploading | S::Uploaded | S::Finalizing, E::StartUpload) => S::Uploading,
        (S::Reserved | S::Uploading, E::AllUploaded) => S::Uploaded,
        (S::Uploaded | S::Finalizing, E::Finalize) => S::Finalizing,
        (S::Queued | S::Finalizing, E::FetchFromUrls) => S::Finalizing,
        (S::Finalizing, E::Complete) => S::Completed,
        // A replayed finalize after a crash may find the post still `uploaded`.
        (S::Uploaded, E::Complete) => S::Completed,
        // A finalize already in flight when the user paused or cancelled may still succeed:
        // the item then exists on the server, and the post must say so (and be in the
        // ledger), or a retry would upload it a second time.
        (S::Paused | S::Cancelled, E::Complete) => S::Completed,
        (s, E::SessionLost) if s.is_active() || s == S::Waiting => S::Queued,
        (s, E::Wait) if s.is_active() => S::Waiting,
        (S::Waiting | S::Paused, E::Resume(to)) if to.is_active() => to,
        (s, E::Fail) if s.is_active() || s == S::Waiting => S::Failed,
        (s, E::Block) if s.is_active() || s == S::Waiting => S::Blocked,
        (S::Queued, E::Skip) => S::Skipped,
        (s, E::Pause) if s.is_active() || s == S::Waiting => S::Paused,
        (s, E::Cancel) if !s.is_terminal() => S::Cancelled,
        (S::Failed | S::Blocked | S::Cancelled | S::Paused, E::Retry) => S::Queued,
        (S::Failed | S::Blocked | S::Cancelled | S::Paused, E::Refinalize) => S::Finalizing,
        _ => return Err(InvalidTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_walks_every_step() {
        let mut s = PostState::Queued;
        for e in [
            PostEvent::Reserve,
            PostEvent::SessionCreated,
            PostEvent::StartUpload,
            PostEvent::AllUploaded,
            PostEvent::Finalize,
            PostEvent::Complete,
        ] {
            s = next(s, e).unwrap();
        }
        assert_eq!(s, PostState::Completed);
    }

    #[test]
    fn steps_cannot_be_skipped() {
        assert!(next(PostState::Queued, PostEvent::Finalize).is_err());
        assert!(next(PostState::Reserved, PostEvent::Complete).is_err());
        assert!(next(PostState::Completed, PostEvent::Reserve).is_err());
        assert!(next(PostState::Completed, PostEvent::Cancel).is_err());
        assert!(next(PostState::Skipped, PostEvent::Retry).is_err());
    }

    #[test]
    fn in_flight_steps_can_be_replayed_after_a_crash() {
        assert_eq!(
            next(PostState::Reserving, PostEvent::Reserve),
            Ok(PostState::Reserving)
        );
        assert_eq!(
            next(PostState::Uploading, PostEvent::StartUpload),
            Ok(PostState::Uploading)
        );
        assert_eq!(
            next(PostState::Finalizing, PostEvent::Finalize),
            Ok(PostState::Finalizing)
        );
    }

    #[test]
    fn waiting_resumes_only_into_active_states() {
        let w = next(PostState::Uploading, PostEvent::Wait).unwrap();
        assert_eq!(w, PostState::Waiting);
        assert_eq!(
            next(w, PostEvent::Resume(PostState::Uploading)),
            Ok(PostState::Uploading)
        );
        assert!(next(w, PostEvent::Resume(PostState::Completed)).is_err());
    }

    #[test]
    fn a_lost_session_starts_over() {
        for s in [
            PostState::Reserved,
            PostState::Uploading,
            PostState::Uploaded,
            PostState::Waiting,
        ] {
            assert_eq!(
                next(s, PostEvent::SessionLost),
                Ok(PostState::Queued),
                "{s}"
            );
        }
    }

    #[test]
    fn a_url_fetch_is_one_step_from_queued() {
        let s = next(PostState::Queued, PostEvent::FetchFromUrls).unwrap();
        assert_eq!(s, PostState::Finalizing);
        assert_eq!(next(s, PostEvent::FetchFromUrls), Ok(PostState::Finalizing));
        assert_eq!(next(s, PostEvent::Complete), Ok(PostState::Completed));
        assert!(next(PostState::Reserved, PostEvent::FetchFromUrls).is_err());
    }

    #[test]
    fn a_finalize_that_succeeds_after_a_pause_or_cancel_still_completes() {
        for s in [PostState::Paused, PostState::Cancelled] {
            assert_eq!(
                next(s, PostEvent::Complete),
                Ok(PostState::Completed),
                "{s}"
            );
            assert_eq!(
                next(s, PostEvent::Refinalize),
                Ok(PostState::Finalizing),
                "{s}"
            );
        }
        assert!(next(PostState::Failed, PostEvent::Complete).is_err());
        assert!(next(PostState::Completed, PostEvent::Refinalize).is_err());
        assert!(next(PostState::Queued, PostEvent::Refinalize).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in ALL_STATES {
            assert_eq!(s.as_str().parse::<PostState>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("bogus".parse::<PostState>().is_err());
    }
}
