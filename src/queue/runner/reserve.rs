//! Reserving: dedupe queued posts against the ledger, plan them into reserve calls (sessions)
//! as their destination allows, store each call's intent, then send (or replay) it.

use std::collections::{BTreeMap, HashMap};

use tokio::task::JoinSet;

use super::faults::{action_for_api, post_error, Action};
use super::{with_error, RunError, Runner};
use crate::api::http::IdempotencyKey;
use crate::api::types::{Grouping, QuotaDetails};
use crate::queue::dest::loops::ORPHAN_NOTE;
use crate::queue::dest::LAYERS_CONTENT;
use crate::queue::failpoint;
use crate::queue::plan::{
    check_fits_lifetime, plan_sessions, session_byte_budget, PostSize, DEFAULT_URL_LIFETIME,
};
use crate::queue::state::{PostEvent, PostState};
use crate::queue::store::{StoreError, StoredPost};

impl Runner {
    /// Dedupes queued posts, plans their sessions and stores each create-session intent.
    /// Returns the work grouped by session, in order.
    pub(super) fn reserve_queued(
        &self,
        work: Vec<StoredPost>,
    ) -> Result<BTreeMap<i64, Vec<i64>>, RunError> {
        let store = &self.inner.store;
        // Only this round's holds count for when to look again.
        self.inner
            .held_for
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut queued: BTreeMap<String, Vec<StoredPost>> = BTreeMap::new();
        for post in work {
            if !post.source_urls.is_empty() {
                // URL-fetch: one call, no session; driven on its own (keyed apart from them).
                match post.state {
                    PostState::Queued | PostState::Finalizing => {
                        groups.insert(-post.id, vec![post.id]);
                    }
                    state => {
                        let why = format!("a URL-fetch post cannot be {state}");
                        self.fail_all(std::iter::once(&post), "bad_state", &why)?;
                    }
                }
                continue;
            }
            match (post.state, post.session_id) {
                (PostState::Queued, _) => {
                    if let Some(post) = self.dedupe(post)? {
                        queued.entry(post.batch_id.clone()).or_default().push(post);
                    }
                }
                (_, Some(session)) => groups.entry(session).or_default().push(post.id),
                (state, None) => {
                    // Only a store edited by hand gets here: start that post over.
                    let reason =
                        post_error("no_session", format!("post was {state} without a session"));
                    store.restart_post(post.id, &reason)?;
                }
            }
        }
        // After a quota split, reserve only what fits; the rest waits for a later round.
        let room: HashMap<String, usize> = self
            .inner
            .quota_room
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let mut used: HashMap<String, usize> = HashMap::new();
        for posts in queued.values_mut() {
            posts.retain(|p| match room.get(&p.project_id) {
                Some(limit) => {
                    let n = used.entry(p.project_id.clone()).or_default();
                    *n += 1;
                    *n <= *limit
                }
                None => true,
            });
        }
        queued.retain(|_, posts| !posts.is_empty());
        let throughput = self.throughput();
        let budget = session_byte_budget(throughput, DEFAULT_URL_LIFETIME);
        for (batch_id, posts) in queued {
            let Some(first) = posts.first() else {
                continue;
            };
            let grouping = first.grouping;
            let dest = match self.destination(first) {
                Ok(d) => d,
                Err(why) => {
                    self.fail_all(posts.iter(), "no_destination", &why.to_string())?;
                    continue;
                }
            };
            let sizes: Vec<PostSize> = posts
                .iter()
                .map(|p| PostSize {
                    id: p.id,
                    files: p.files.len(),
                    bytes: p.files.iter().map(|f| f.size_bytes).sum(),
                })
                .collect();
            let plan = match grouping {
                Grouping::PerFile if dest.packs_posts() => plan_sessions(&sizes, budget),
                _ => sizes.iter().map(|s| vec![s.id]).collect(),
            };
            for ids in plan {
                let members: Vec<&StoredPost> =
                    posts.iter().filter(|p| ids.contains(&p.id)).collect();
                let bytes: u64 = members
                    .iter()
                    .flat_map(|p| &p.files)
                    .map(|f| f.size_bytes)
                    .sum();
                if let Err(why) = check_fits_lifetime(bytes, throughput, DEFAULT_URL_LIFETIME) {
                    self.fail_all(members.iter().copied(), "too_slow", &why)?;
                    continue;
                }
                let body = match dest.reserve_request(&members) {
                    Ok(b) => b,
                    Err(why) => {
                        self.fail_all(members.iter().copied(), "bad_request", &why)?;
                        continue;
                    }
                };
                let session = store.begin_session(&batch_id, &ids, &body)?;
                for p in &members {
                    self.emit_state(p.id, &p.batch_id, PostState::Reserving, None, None, None);
                }
                groups.insert(session.id, ids);
            }
        }
        Ok(groups)
    }

    /// Skips a queued post already in the ledger (or whose twin in this queue completed);
    /// holds it back while an identical post is still going. `Some` means: reserve it.
    fn dedupe(&self, post: StoredPost) -> Result<Option<StoredPost>, RunError> {
        let store = &self.inner.store;
        if post.force {
            return Ok(Some(post));
        }
        let Some(key) = post.dedupe_key.clone() else {
            return Ok(Some(post));
        };
        if let Some(content_id) = store.ledger_lookup(&post.project_id, &key)? {
            let place = match post.destination.as_str() {
                LAYERS_CONTENT => "this project".to_string(),
                other => other.to_string(),
            };
            let note = format!(
                "already uploaded to {place} as {content_id}; use --force to upload it again"
            );
            self.set(
                &post,
                PostEvent::Skip,
                with_error(post_error("duplicate", note.clone())),
                Some(note),
            )?;
            return Ok(None);
        }
        if let Some((twin, state)) = store.earlier_twin(post.id)? {
            if state.is_active() {
                // Still going: hold this one until the twin is done (then it is skipped). On a
                // shared queue the runner looks again by itself (`next_twin_check`).
                self.inner
                    .held_for
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(twin);
                failpoint::hit("held_for_twin");
                return Ok(None);
            }
            if state == PostState::Completed {
                let note = format!("same bytes as post {twin}, already uploaded");
                self.set(
                    &post,
                    PostEvent::Skip,
                    with_error(post_error("duplicate", note.clone())),
                    Some(note),
                )?;
                return Ok(None);
            }
        }
        Ok(Some(post))
    }

    /// Creates the session if that is still to do, then drives each of its posts.
    pub(super) async fn drive_session(&self, post_ids: Vec<i64>) -> Result<(), RunError> {
        let store = &self.inner.store;
        let first = store.post(post_ids[0])?;
        if !first.source_urls.is_empty() {
            return self.fetch_urls(first).await;
        }
        if first.state == PostState::Reserving {
            if let Some(session_id) = first.session_id {
                if !self.create_session(session_id, &post_ids).await? {
                    return Ok(());
                }
            }
        }
        let mut posts = JoinSet::new();
        for id in post_ids {
            let runner = self.clone();
            posts.spawn(async move { runner.drive_post(id).await });
        }
        while let Some(joined) = posts.join_next().await {
            match joined {
                Ok(r) => r?,
                Err(e) if e.is_cancelled() => {}
                Err(e) => return Err(RunError::Task(e.to_string())),
            }
        }
        Ok(())
    }

    /// Sends (or replays) one stored reserve call. `true` when the posts are reserved.
    async fn create_session(&self, session_id: i64, post_ids: &[i64]) -> Result<bool, RunError> {
        let store = &self.inner.store;
        let session = store.session(session_id)?;
        let first = store.post(post_ids[0])?;
        let dest = match self.destination(&first) {
            Ok(d) => d,
            Err(why) => {
                let posts = self.posts(post_ids)?;
                self.fail_all(posts.iter(), "no_destination", &why.to_string())?;
                return Ok(false);
            }
        };
        if dest.paced() {
            self.inner.pacer.acquire().await;
        }
        let key = IdempotencyKey::from_persisted(session.idempotency_key.clone());
        failpoint::hit("before_create");
        // Counted before the call: without idempotency, a second send may orphan the first.
        let earlier_sends = store.note_reserve_send(session_id)?;
        if earlier_sends > 0 && !dest.idempotent() {
            tracing::warn!(post = first.id, sends = earlier_sends + 1, "{ORPHAN_NOTE}");
            self.emit_state(
                first.id,
                &first.batch_id,
                PostState::Reserving,
                None,
                None,
                Some(ORPHAN_NOTE.to_string()),
            );
        }
        let posts_before = self.posts(post_ids)?;
        let answer = dest
            .reserve(
                &first.project_id,
                &session.request_json,
                &key,
                &posts_before,
            )
            .await;
        failpoint::hit("after_create");
        let posts = self.posts(post_ids)?;
        match answer {
            Ok(reservation) => {
                self.note_success();
                store.record_session(
                    session_id,
                    &reservation.response_json,
                    &reservation.uploads,
                )?;
                failpoint::hit("after_record_session");
                for p in &posts {
                    self.emit_state(p.id, &p.batch_id, PostState::Reserved, None, None, None);
                }
                Ok(true)
            }
            Err(e) => {
                let action = action_for_api(&e);
                if let Action::Block { usage: Some(u) } = &action {
                    if self.upload_what_fits(&posts, u)? {
                        return Ok(false);
                    }
                }
                for p in &posts {
                    let error = self.explain(dest.as_ref(), &e, p);
                    self.apply(p, action.clone(), error).await?;
                }
                Ok(false)
            }
        }
    }

    fn posts(&self, ids: &[i64]) -> Result<Vec<StoredPost>, RunError> {
        Ok(ids
            .iter()
            .map(|id| self.inner.store.post(*id))
            .collect::<Result<_, _>>()?)
    }

    /// A session of several posts hit the quota but the details show room for some: all go
    /// back to the queue, and the next round reserves only as many as fit; the rest wait for
    /// those to finish, then meet the quota themselves (and are blocked with the real usage).
    /// `true` if that is what happens.
    fn upload_what_fits(
        &self,
        posts: &[StoredPost],
        usage: &QuotaDetails,
    ) -> Result<bool, RunError> {
        let free_uploads = usage.max_uploads.saturating_sub(usage.current_uploads);
        let mut free_bytes = usage.max_bytes.saturating_sub(usage.current_bytes);
        if posts.len() < 2 || free_uploads == 0 {
            return Ok(false);
        }
        let mut fits = 0usize;
        for p in posts {
            let bytes: u64 = p.files.iter().map(|f| f.size_bytes).sum();
            if fits as u64 >= free_uploads || bytes > free_bytes {
                break;
            }
            free_bytes -= bytes;
            fits += 1;
        }
        if fits == 0 {
            return Ok(false);
        }
        let note = format!("the project has room for {fits} more upload(s): uploading those first");
        let reason = post_error("quota_split", note.clone());
        for p in posts {
            match self.inner.store.restart_post(p.id, &reason) {
                Ok(_) | Err(StoreError::Transition(_)) => {}
                Err(e) => return Err(e.into()),
            }
            self.emit_state(
                p.id,
                &p.batch_id,
                PostState::Queued,
                None,
                None,
                Some(note.clone()),
            );
        }
        if let Ok(mut room) = self.inner.quota_room.lock() {
            room.insert(posts[0].project_id.clone(), fits);
        }
        Ok(true)
    }
}
