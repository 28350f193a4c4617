//! `Idempotency-Key` for every mutating `/v1` POST and PATCH: per API key, only `2xx` cached
//! (24 h); same key + same body → the original response verbatim; same key + another body →
//! `409 IDEMPOTENCY_CONFLICT`; a concurrent duplicate waits for the first. Finalize ignores
//! the body in the comparison, because its retry body is documented as ignored.
//! Cached answers are saved with the rest of the state, so a retry after a restart replays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::app::App;
use crate::auth::Caller;
use crate::clock;
use crate::error::ApiError;

/// How long a cached response is replayed.
const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);

fn window_ms() -> u64 {
    REPLAY_WINDOW.as_millis() as u64
}

/// Largest request body the API routes read (JSON bodies are tiny).
pub const MAX_API_BODY: usize = 1024 * 1024;

/// A `2xx` response kept for replay.
#[derive(Debug, Clone)]
struct Cached {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

type Slot = Arc<AsyncMutex<Option<Cached>>>;

struct Entry {
    fingerprint: String,
    /// Wall-clock ms, so the replay window survives a restart.
    created_ms: u64,
    slot: Slot,
}

/// One cached answer as the state file holds it (the API key only as its sha-256).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedReplay {
    key_hash: String,
    idempotency_key: String,
    fingerprint: String,
    created_ms: u64,
    status: u16,
    content_type: Option<String>,
    /// The response body (JSON text).
    body: String,
}

/// Every idempotency key seen, per API key.
#[derive(Default)]
pub struct IdempotencyStore {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

enum Role {
    Leader(OwnedMutexGuard<Option<Cached>>, Slot),
    Follower(Slot),
}

impl IdempotencyStore {
    fn claim(&self, scope: &(String, String), fingerprint: &str) -> Result<Role, ApiError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = clock::now_ms();
        entries.retain(|_, e| now.saturating_sub(e.created_ms) < window_ms());
        if let Some(e) = entries.get(scope) {
            if e.fingerprint != fingerprint {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "IDEMPOTENCY_CONFLICT",
                    "This Idempotency-Key was already used with a different request body. Use a new key for a new operation.",
                ));
            }
            return Ok(Role::Follower(e.slot.clone()));
        }
        let slot: Slot = Arc::new(AsyncMutex::new(None));
        // A fresh mutex is always free, so this never falls through to the error.
        let guard = slot
            .clone()
            .try_lock_owned()
            .map_err(|_| ApiError::internal("idempotency slot busy"))?;
        entries.insert(
            scope.clone(),
            Entry {
                fingerprint: fingerprint.to_string(),
                created_ms: clock::now_ms(),
                slot: slot.clone(),
            },
        );
        Ok(Role::Leader(guard, slot))
    }

    /// Every finished `2xx` answer, for the state file (in-flight ones are not answers yet).
    pub fn export(&self) -> Vec<SavedReplay> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = clock::now_ms();
        entries
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.created_ms) < window_ms())
            .filter_map(|((key_hash, idem), e)| {
                let slot = e.slot.try_lock().ok()?;
                let c = slot.as_ref()?;
                Some(SavedReplay {
                    key_hash: key_hash.clone(),
                    idempotency_key: idem.clone(),
                    fingerprint: e.fingerprint.clone(),
                    created_ms: e.created_ms,
                    status: c.status.as_u16(),
                    content_type: c
                        .content_type
                        .as_ref()
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: String::from_utf8_lossy(&c.body).into_owned(),
                })
            })
            .collect()
    }

    /// Restores answers saved by [`IdempotencyStore::export`].
    pub fn import(&self, saved: Vec<SavedReplay>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for r in saved {
            let Ok(status) = StatusCode::from_u16(r.status) else {
                continue;
            };
            let cached = Cached {
                status,
                content_type: r.content_type.and_then(|v| HeaderValue::from_str(&v).ok()),
                body: Bytes::from(r.body),
            };
            entries.insert(
                (r.key_hash, r.idempotency_key),
                Entry {
                    fingerprint: r.fingerprint,
                    created_ms: r.created_ms,
                    slot: Arc::new(AsyncMutex::new(Some(cached))),
                },
            );
        }
    }

    fn forget(&self, scope: &(String, String), slot: &Slot) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries
            .get(scope)
            .is_some_and(|e| Arc::ptr_eq(&e.slot, slot))
        {
            entries.remove(scope);
        }
    }
}

/// Middleware (after auth): applies the rules above to POST/PATCH carrying the header.
pub async fn apply(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let is_write = req.method() == Method::POST || req.method() == Method::PATCH;
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let caller = req.extensions().get::<Caller>().cloned();
    let (Some(key), Some(caller), true) = (key, caller, is_write) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_API_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::validation("The request body is too large or was cut off.")
                .into_response()
        }
    };
    let path = parts.uri.path().to_string();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    if !path.ends_with("/finalize-upload") {
        hasher.update(&body);
    }
    let fingerprint = hex::encode(hasher.finalize());
    let scope = (caller.key_hash.clone(), key);
    loop {
        match app.idempotency.claim(&scope, &fingerprint) {
            Err(e) => return e.into_response(),
            Ok(Role::Follower(slot)) => {
                let cached = slot.lock().await.clone();
                if let Some(c) = cached {
                    return replay(&c);
                }
                // The first attempt failed (or never finished): drop its entry, if it is
                // still there, and run this one as new.
                app.idempotency.forget(&scope, &slot);
            }
            Ok(Role::Leader(guard, slot)) => {
                // Run the operation in its own task: a client that hangs up must not cancel
                // it half-way (a real server finishes it), and its replay then finds the answer.
                let req = Request::from_parts(parts, Body::from(body));
                let leader = tokio::spawn(lead(app.clone(), scope.clone(), guard, slot, next, req));
                return match leader.await {
                    Ok(response) => response,
                    Err(_) => ApiError::internal("the request handler stopped").into_response(),
                };
            }
        }
    }
}

/// Runs the first request for a key and caches its `2xx` answer for the replays.
async fn lead(
    app: Arc<App>,
    scope: (String, String),
    mut guard: OwnedMutexGuard<Option<Cached>>,
    slot: Slot,
    next: Next,
    req: Request,
) -> Response {
    let response = next.run(req).await;
    if !response.status().is_success() {
        app.idempotency.forget(&scope, &slot);
        return response;
    }
    let (rparts, rbody) = response.into_parts();
    let bytes = match to_bytes(rbody, usize::MAX).await {
        Ok(b) => b,
        Err(_) => {
            app.idempotency.forget(&scope, &slot);
            return ApiError::internal("response body failed").into_response();
        }
    };
    *guard = Some(Cached {
        status: rparts.status,
        content_type: rparts.headers.get("content-type").cloned(),
        body: bytes.clone(),
    });
    drop(guard);
    // The answer is now part of the saved state: the persist step must write it.
    app.touch();
    Response::from_parts(rparts, Body::from(bytes))
}

fn replay(c: &Cached) -> Response {
    let mut r = Response::new(Body::from(c.body.clone()));
    *r.status_mut() = c.status;
    if let Some(ct) = &c.content_type {
        r.headers_mut().insert("content-type", ct.clone());
    }
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
