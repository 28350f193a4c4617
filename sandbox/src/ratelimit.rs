//! `--writes-per-minute`: a sliding one-minute window per key over POST/PATCH under `/v1`,
//! answering `429 RATE_LIMITED` with `Retry-After` (whole seconds) when the bucket is empty.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;
use crate::auth::Caller;
use crate::error::ApiError;

const WINDOW: Duration = Duration::from_secs(60);

/// The write buckets, one per key; disabled when no limit is configured.
pub struct WriteLimiter {
    limit: Option<u32>,
    buckets: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl WriteLimiter {
    /// A limiter allowing `limit` writes per minute per key (`None` = unlimited).
    pub fn new(limit: Option<u32>) -> Self {
        WriteLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write for `key`: `Ok(remaining)` or `Err(seconds until one frees up)`.
    fn take(&self, key: &str) -> Option<Result<u32, u64>> {
        let limit = self.limit?;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_default();
        while bucket
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            bucket.pop_front();
        }
        if bucket.len() as u64 >= u64::from(limit) {
            let wait = bucket
                .front()
                .map(|t| WINDOW.saturating_sub(now.duration_since(*t)))
                .unwrap_or(WINDOW);
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Some(Err(secs.max(1)));
        }
        bucket.push_back(now);
        Some(Ok(limit.saturating_sub(bucket.len() as u32)))
    }
}

/// Middleware (after auth): counts POST/PATCH and refuses past the budget.
pub async fn apply(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let is_write = req.method() == Method::POST || req.method() == Method::PATCH;
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return next.run(req).await;
    };
    if !is_write {
        return next.run(req).await;
    }
    let limit = app.config.writes_per_minute.unwrap_or(0);
    match app.writes.take(&caller.key_hash) {
        None => next.run(req).await,
        Some(Err(retry_after)) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("Write rate limit reached ({limit}/min). Retry after {retry_after} s."),
        )
        .with_details(json!({ "limit": limit, "retryAfterSeconds": retry_after }))
        .with_header(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from(retry_after),
        )
        .with_header(
            HeaderName::from_static("x-ratelimit-endpoint-class"),
            HeaderValue::from_static("writes"),
        )
        .with_header(
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(limit),
        )
        .with_header(
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(0u32),
        )
        .into_response(),
        Some(Ok(remaining)) => {
            let mut response = next.run(req).await;
            let h = response.headers_mut();
            h.insert(
                "x-ratelimit-endpoint-class",
                HeaderValue::from_static("writes"),
            );
            h.insert("x-ratelimit-limit", HeaderValue::from(limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            response
        }
    }
}
