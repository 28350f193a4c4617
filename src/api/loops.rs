//! [`LoopsClient`]: the two Loops upload calls (create → PUT → complete). Loops has no
//! idempotency, so the caller persists its intent before `create_upload`.

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::envelope::loops_error;
use super::error::ApiError;
use super::http;
use super::types::{LoopsCompleteResponse, LoopsCreateRequest, LoopsCreateResponse};
use crate::secrets::ApiKey;

/// The production Loops base; paths `/api/v1/uploads...` are appended.
pub const DEFAULT_LOOPS_BASE: &str = "https://app.loops.so";

/// A Loops API client bound to one base URL and one key.
#[derive(Debug, Clone)]
pub struct LoopsClient {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
}

impl LoopsClient {
    /// A client for `base_url` (e.g. `https://app.loops.so`).
    pub fn new(base_url: &str, key: ApiKey) -> Result<LoopsClient, ApiError> {
        Ok(LoopsClient {
            http: http::api_http_client()?,
            base: http::parse_base(base_url)?,
            key,
        })
    }

    /// The base URL calls go to (it decides where upload links may point).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `POST /api/v1/uploads`: a presigned PUT for an email asset of the declared type and size.
    pub async fn create_upload(
        &self,
        request: &LoopsCreateRequest,
    ) -> Result<LoopsCreateResponse, ApiError> {
        let url = http::endpoint(&self.base, &["api", "v1", "uploads"])?;
        self.execute(self.http.post(url).json(request)).await
    }

    /// `POST /api/v1/uploads/:id/complete` (no body): returns the asset's public `finalUrl`.
    pub async fn complete_upload(
        &self,
        email_asset_id: &str,
    ) -> Result<LoopsCompleteResponse, ApiError> {
        let url = http::endpoint(
            &self.base,
            &["api", "v1", "uploads", email_asset_id, "complete"],
        )?;
        self.execute(self.http.request(Method::POST, url)).await
    }

    async fn execute<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let host = http::host_port(&self.base);
        let response = request
            .bearer_auth(self.key.expose())
            .send()
            .await
            .map_err(|e| http::network_error(&e, &host).scrub_key(&self.key))?;
        let status = response.status().as_u16();
        let body = http::read_body(response, &host)
            .await
            .map_err(|e| e.scrub_key(&self.key))?;
        tracing::debug!(status, bytes = body.len(), "loops call");
        if !(200..300).contains(&status) {
            return Err(loops_error(status, &body).scrub_key(&self.key));
        }
        // Loops signals failure with `success: false` even where a 2xx slipped through.
        let decoded =
            http::decode::<serde_json::Value>(status, &body).map_err(|e| e.scrub_key(&self.key))?;
        if decoded.raw.get("success").and_then(|v| v.as_bool()) == Some(false) {
            return Err(loops_error(400, &body).scrub_key(&self.key));
        }
        http::decode::<T>(status, &body)
            .map(|r| r.parsed)
            .map_err(|e| e.scrub_key(&self.key))
    }
}
