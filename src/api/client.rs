//! [`LayersClient`]: typed async calls to the Layers API. One request per call — no retries here
//! (callers wrap calls in [`super::retry::RetryPolicy`]; the queue's runner persists its own
//! waits); every POST/PATCH carries the caller's [`IdempotencyKey`]; every error is an
//! [`ApiError`] scrubbed of the key. Every answer's `Date` updates the client's
//! [`ServerClock`], which judges expiry and `Retry-After` dates by the server's time.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::clock::{local_now_ms, parse_http_date_ms, ServerClock};
use super::envelope::{layers_error_waiting, parse_retry_after_at};
use super::error::ApiError;
use super::http::{self, IdempotencyKey, ServerJson};
use super::types::{
    CaptionBody, ContentItem, CreateUploadSessionRequest, MediaAsset, MediaFinalizeRequest,
    MediaPresignRequest, MediaPresignResponse, Page, Project, UploadSession, UrlFetchRequest,
    WhoAmI, MAX_FILES_PER_CALL,
};
use crate::secrets::ApiKey;

/// The production API base.
pub const DEFAULT_API_BASE: &str = "https://api.layers.com";

/// URL-fetch fetches up to 10 URLs with a 60 s budget each, so it may legitimately take minutes.
const URL_FETCH_TIMEOUT: Duration = Duration::from_secs(60 * MAX_FILES_PER_CALL as u64 + 60);

/// Largest page we ask for when listing everything.
const LIST_ALL_PAGE: u32 = 50;

/// Guard against a server whose cursors never end.
const MAX_PAGES: usize = 10_000;

/// Filters for `GET /v1/projects/:id/content`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContentFilter<'a> {
    /// `"generated"` or `"uploaded"`.
    pub creative_type: Option<&'a str>,
    /// e.g. `"completed"`.
    pub status: Option<&'a str>,
}

/// A Layers API client bound to one base URL and one key.
#[derive(Debug, Clone)]
pub struct LayersClient {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    clock: Arc<ServerClock>,
}

impl LayersClient {
    /// A client for `base_url` (e.g. `https://api.layers.com`); paths `/v1/...` are appended.
    pub fn new(base_url: &str, key: ApiKey) -> Result<LayersClient, ApiError> {
        Ok(LayersClient {
            http: http::api_http_client()?,
            base: http::parse_base(base_url)?,
            key,
            clock: Arc::default(),
        })
    }

    /// The server's clock as this client's answers showed it (shared by its clones).
    pub fn server_clock(&self) -> &ServerClock {
        &self.clock
    }

    /// Now by the server's clock, in epoch ms: what `expiresAt` is compared with.
    pub fn server_now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The base URL calls go to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The key in use (redacted when shown).
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// `GET /v1/whoami`: the cheapest call; fails fast with 401 on a bad key.
    pub async fn whoami(&self) -> Result<WhoAmI, ApiError> {
        self.get(&["v1", "whoami"], &[]).await.map(|r| r.parsed)
    }

    /// One page of `GET /v1/projects`.
    pub async fn list_projects(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Project>, ApiError> {
        let query = page_query(limit, cursor);
        self.get(&["v1", "projects"], &query)
            .await
            .map(|r| r.parsed)
    }

    /// Every project, following cursors to the end.
    pub async fn list_all_projects(&self) -> Result<Vec<Project>, ApiError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_projects(Some(LIST_ALL_PAGE), cursor.as_deref())
                .await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                Some(_) => {
                    return Err(ApiError::Unexpected {
                        status: 200,
                        excerpt: "the project list returned the same cursor twice".into(),
                    })
                }
                None => return Ok(all),
            }
        }
        Err(ApiError::Unexpected {
            status: 200,
            excerpt: format!("the project list did not end after {MAX_PAGES} pages"),
        })
    }

    /// Step 1 of the direct upload: reserves the item(s) and quota, returns presigned PUTs.
    pub async fn create_upload_session(
        &self,
        project: &str,
        request: &CreateUploadSessionRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<UploadSession, ApiError> {
        let path = ["v1", "projects", project, "content", "uploads"];
        self.send(Method::POST, &path, request, idempotency_key, None)
            .await
            .map(|r| r.parsed)
    }

    /// Step 3: completes a container once its PUTs landed. The first successful finalize's
    /// caption wins; a retry's body is ignored by the server.
    pub async fn finalize_upload(
        &self,
        container: &str,
        caption: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ServerJson<ContentItem>, ApiError> {
        let body = CaptionBody {
            caption: caption.to_owned(),
        };
        let path = ["v1", "content", container, "finalize-upload"];
        self.send(Method::POST, &path, &body, idempotency_key, None)
            .await
    }

    /// `GET /v1/content/:id`: the full item, platformFit included.
    pub async fn get_content(&self, container: &str) -> Result<ServerJson<ContentItem>, ApiError> {
        self.get(&["v1", "content", container], &[]).await
    }

    /// `PATCH /v1/content/:id`: the way to fix a caption after finalize.
    pub async fn patch_caption(
        &self,
        container: &str,
        caption: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ServerJson<ContentItem>, ApiError> {
        let body = CaptionBody {
            caption: caption.to_owned(),
        };
        self.send(
            Method::PATCH,
            &["v1", "content", container],
            &body,
            idempotency_key,
            None,
        )
        .await
    }

    /// One page of a project's content, optionally filtered.
    pub async fn list_content(
        &self,
        project: &str,
        filter: ContentFilter<'_>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<ContentItem>, ApiError> {
        let mut query = page_query(limit, cursor);
        if let Some(t) = filter.creative_type {
            query.push(("creativeType", t.to_owned()));
        }
        if let Some(s) = filter.status {
            query.push(("status", s.to_owned()));
        }
        self.get(&["v1", "projects", project, "content"], &query)
            .await
            .map(|r| r.parsed)
    }

    /// The URL-fetch transport: one synchronous call, atomic across files.
    pub async fn upload_from_urls(
        &self,
        project: &str,
        request: &UrlFetchRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ServerJson<ContentItem>, ApiError> {
        let path = ["v1", "projects", project, "content", "upload"];
        self.send(
            Method::POST,
            &path,
            request,
            idempotency_key,
            Some(URL_FETCH_TIMEOUT),
        )
        .await
    }

    /// Media library step 1: a presigned PUT whose `headers` must be sent verbatim.
    pub async fn media_presign(
        &self,
        project: &str,
        request: &MediaPresignRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<MediaPresignResponse, ApiError> {
        let path = ["v1", "projects", project, "media", "presign"];
        self.send(Method::POST, &path, request, idempotency_key, None)
            .await
            .map(|r| r.parsed)
    }

    /// Media library step 3: registers the uploaded file; returns the server's object.
    pub async fn media_finalize(
        &self,
        project: &str,
        upload_id: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<ServerJson<MediaAsset>, ApiError> {
        let body = MediaFinalizeRequest {
            upload_id: upload_id.to_owned(),
        };
        let path = ["v1", "projects", project, "media", "finalize"];
        self.send(Method::POST, &path, &body, idempotency_key, None)
            .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, String)],
    ) -> Result<ServerJson<T>, ApiError> {
        let url = http::endpoint(&self.base, path)?;
        let mut request = self.http.get(url);
        if !query.is_empty() {
            request = request.query(query);
        }
        self.execute(Method::GET, request).await
    }

    async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        body: &B,
        idempotency_key: &IdempotencyKey,
        timeout: Option<Duration>,
    ) -> Result<ServerJson<T>, ApiError> {
        let url = http::endpoint(&self.base, path)?;
        let mut request = self
            .http
            .request(method.clone(), url)
            .header("Idempotency-Key", idempotency_key.as_str())
            .json(body);
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        self.execute(method, request).await
    }

    /// Sends with the bearer key, reads the whole body, and maps failures to scrubbed errors.
    async fn execute<T: DeserializeOwned>(
        &self,
        method: Method,
        request: reqwest::RequestBuilder,
    ) -> Result<ServerJson<T>, ApiError> {
        let host = http::host_port(&self.base);
        let response = request
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|e| http::network_error(&e, &host).scrub_key(&self.key))?;
        let status = response.status().as_u16();
        let path = response.url().path().to_owned();
        let date = http::date_header(response.headers());
        if let Some(d) = &date {
            self.clock.observe(d, local_now_ms());
        }
        // A `Retry-After` date is measured from the same answer's `Date`: both are the server's.
        let server_now = date
            .as_deref()
            .and_then(parse_http_date_ms)
            .unwrap_or_else(|| self.clock.now_ms());
        let retry_after = http::retry_after_header(response.headers())
            .and_then(|v| parse_retry_after_at(&v, server_now));
        let body = http::read_body(response, &host)
            .await
            .map_err(|e| e.scrub_key(&self.key))?;
        tracing::debug!(%method, %path, status, bytes = body.len(), key = %self.key, "layers call");
        if !(200..300).contains(&status) {
            let err = layers_error_waiting(status, retry_after, &body).scrub_key(&self.key);
            tracing::debug!(code = err.code(), request_id = ?err.request_id(), "layers error");
            return Err(err);
        }
        http::decode(status, &body).map_err(|e| e.scrub_key(&self.key))
    }
}

fn page_query(limit: Option<u32>, cursor: Option<&str>) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    if let Some(l) = limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(c) = cursor {
        q.push(("cursor", c.to_owned()));
    }
    q
}
