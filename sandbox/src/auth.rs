//! Layers key handling: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, keys shaped
//! `lp_<env>_<keyid>_<secret>`. Only the key id ever leaves this module in clear.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

use crate::app::{secret_hash, App};
use crate::error::ApiError;
use crate::state::Env;

/// Who is calling: attached to every authenticated `/v1` request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub env: Env,
    pub scopes: Vec<String>,
    /// sha-256 of the full key: scopes idempotency per key without holding the key.
    pub key_hash: String,
}

impl Caller {
    /// `403 FORBIDDEN_SCOPE` unless the key has `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN_SCOPE",
                format!("This API key lacks the {scope} scope."),
            )
            .with_details(json!({ "requiredScope": scope })))
        }
    }
}

/// The key the request presents: Bearer first, then `X-Api-Key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

/// Whether any auth header is present at all (recorded per request in the state log).
pub fn auth_header_present(headers: &HeaderMap) -> bool {
    headers.contains_key("authorization") || headers.contains_key("x-api-key")
}

/// `lp_live_<keyid>_<secret>` → (env, keyid); `None` for anything else.
pub fn parse_layers_key(key: &str) -> Option<(Env, &str)> {
    let rest = key.strip_prefix("lp_")?;
    let (env, rest) = rest.split_once('_')?;
    let env = match env {
        "live" => Env::Live,
        "test" => Env::Test,
        _ => return None,
    };
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = !key_id.is_empty() && key_id.chars().all(|c| c.is_ascii_alphanumeric());
    (id_ok && !secret.is_empty()).then_some((env, key_id))
}

/// What the request log may say about the presented key: a Layers key id, or a short
/// fingerprint of an opaque (Loops) bearer. Never the key.
pub fn key_label(headers: &HeaderMap) -> Option<String> {
    let key = presented_key(headers)?;
    if key.is_empty() {
        return None;
    }
    Some(match parse_layers_key(key) {
        Some((_, id)) => id.to_string(),
        None => format!("opaque:{}", &secret_hash(key)[..8]),
    })
}

/// Middleware for `/v1`: resolves the key to a [`Caller`] or answers `401 UNAUTHENTICATED`.
pub async fn require_key(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = presented_key(req.headers()).unwrap_or("");
    let Some((env, key_id)) = parse_layers_key(key) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "Missing or invalid API key. Send Authorization: Bearer lp_<env>_<keyid>_<secret>.",
        ));
    };
    let key_hash = secret_hash(key);
    if !app.layers_key_ok(&key_hash) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "This API key is not accepted by this sandbox.",
        ));
    }
    let caller = Caller {
        key_id: key_id.to_string(),
        env,
        scopes: app.scopes_for(&key_hash),
        key_hash,
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_into_env_and_id() {
        assert_eq!(
            parse_layers_key("lp_live_ab12_s3cr3t_x"),
            Some((Env::Live, "ab12"))
        );
        assert_eq!(parse_layers_key("lp_test_k1_s"), Some((Env::Test, "k1")));
        assert_eq!(parse_layers_key("lp_prod_k1_s"), None);
        assert_eq!(parse_layers_key("lp_live_k1_"), None);
        assert_eq!(parse_layers_key("lp_live__s"), None);
        assert_eq!(parse_layers_key("sk_live_k1_s"), None);
    }
}
