//! A URL-fetch post: one atomic call (`POST /v1/projects/:id/content/upload`) with an
//! Idempotency-Key stored before it is sent, so a crash or timeout replays the same call
//! instead of creating a second item. No local bytes, so no dedupe and no PUT.

use super::faults::{action_for_api, Action};
use super::{RunError, Runner};
use crate::api::http::IdempotencyKey;
use crate::api::types::{MediaUrl, UrlFetchRequest};
use crate::queue::dest::content::explain_url_fetch;
use crate::queue::dest::Unavailable;
use crate::queue::failpoint;
use crate::queue::state::PostState;
use crate::queue::store::{StoreError, StoredPost};

impl Runner {
    /// Sends (or replays) a URL-fetch post's call and completes it with the item.
    pub(super) async fn fetch_urls(&self, post: StoredPost) -> Result<(), RunError> {
        let Some(client) = self.inner.clients.layers.clone() else {
            self.park(&post, &Unavailable::NoKey("Layers", ""));
            return Ok(());
        };
        let key = match self.inner.store.begin_url_fetch(post.id) {
            Ok(k) => IdempotencyKey::from_persisted(k),
            Err(StoreError::Transition(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let urls = post.source_urls.len();
        self.emit_state(
            post.id,
            &post.batch_id,
            PostState::Finalizing,
            None,
            None,
            Some(format!("Layers is fetching {urls} URL(s)")),
        );
        let request = UrlFetchRequest {
            media: post
                .source_urls
                .iter()
                .map(|u| MediaUrl { url: u.clone() })
                .collect(),
            caption: post.caption.clone(),
        };
        failpoint::hit("before_url_fetch");
        self.inner.pacer.acquire().await;
        let answer = client
            .upload_from_urls(&post.project_id, &request, &key)
            .await;
        failpoint::hit("after_url_fetch");
        match answer {
            Ok(item) => {
                self.note_success();
                let id = item.parsed.id.clone();
                match self.inner.store.complete(post.id, &id, &item.json_line) {
                    Ok(()) => {}
                    Err(StoreError::Transition(_)) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                self.emit_state(
                    post.id,
                    &post.batch_id,
                    PostState::Completed,
                    None,
                    None,
                    Some(id),
                );
                Ok(())
            }
            Err(e) => {
                let action = action_for_api(&e);
                if action == Action::Fail {
                    // A refusal made no item: a retry by the user may send a new call.
                    self.inner.store.forget_finalize_key(post.id)?;
                }
                let fresh = self.inner.store.post(post.id)?;
                self.apply(&fresh, action, explain_url_fetch(&e)).await
            }
        }
    }
}
