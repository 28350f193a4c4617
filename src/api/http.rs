//! Plumbing shared by the Layers and Loops clients: base-URL handling, the reqwest client,
//! transport-error mapping, JSON decoding that keeps the raw value, and idempotency keys.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::envelope::excerpt;
use super::error::{ApiError, NetworkKind};

/// Identifies this client to servers (no secrets).
pub const USER_AGENT: &str = concat!("layers-uploader/", env!("CARGO_PKG_VERSION"));

/// How long to wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default whole-request limit for API calls (URL-fetch gets its own, longer one).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The caller's `Idempotency-Key`: chosen once per logical operation and persisted by the queue,
/// so a retry after a crash or timeout replays instead of repeating the operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A fresh v4 UUID, for a new logical operation.
    pub fn new_v4() -> IdempotencyKey {
        IdempotencyKey(uuid::Uuid::new_v4().to_string())
    }

    /// A key read back from the queue's store, to retry the same operation.
    pub fn from_persisted(key: impl Into<String>) -> IdempotencyKey {
        IdempotencyKey(key.into())
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A response decoded into `T`, plus the server's JSON untouched, for callers that must print
/// the server's object rather than our re-serialization of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerJson<T> {
    /// The typed view.
    pub parsed: T,
    /// The server's JSON as a value (fields we do not model included).
    pub raw: Value,
    /// The server's JSON text exactly — key order, numbers, escapes — with only the whitespace
    /// between tokens removed, so it prints as one line.
    pub json_line: String,
}

/// Validates an API base such as `https://api.layers.com` or `http://127.0.0.1:8080`.
pub fn parse_base(url: &str) -> Result<Url, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidBaseUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.cannot_be_a_base() || parsed.host_str().is_none() {
        return Err(invalid("it has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("it must not carry a user name or password"));
    }
    if parsed.scheme() == "http" && !is_loopback_url(&parsed) {
        return Err(invalid(
            "plain http would send your API key in cleartext; use https (http is only for a \
             server on this computer, 127.0.0.1 or localhost)",
        ));
    }
    Ok(parsed)
}

/// Whether a URL names this computer (`localhost`, `127.0.0.0/8`, `::1`): the only place a
/// plain-http API base, or an upload link to a non-public address, may point.
pub fn is_loopback_url(url: &Url) -> bool {
    match host_ip(url) {
        Some(IpAddr::V4(ip)) => ip.is_loopback(),
        Some(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => url.host_str().is_some_and(|d| {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }),
    }
}

/// The URL's host as an IP address, when it is one (`[::1]` included).
pub fn host_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Largest API response body read: every documented answer is a few KiB; a server (or
/// something posing as one) that sends more gets an error, not our memory.
pub const MAX_API_BODY: usize = 4 * 1024 * 1024;

/// Reads a whole API response body, refusing one over [`MAX_API_BODY`].
pub async fn read_body(mut response: reqwest::Response, host: &str) -> Result<Vec<u8>, ApiError> {
    let status = response.status().as_u16();
    let too_large = || ApiError::Unexpected {
        status,
        excerpt: format!(
            "the answer is larger than {} MiB, far more than any API answer; refused",
            MAX_API_BODY / (1024 * 1024)
        ),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_API_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| network_error(&e, host))?
    {
        if body.len() + chunk.len() > MAX_API_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `base` + percent-encoded path segments (ids can never escape their segment).
pub fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, ApiError> {
    let mut url = base.clone();
    {
        let Ok(mut path) = url.path_segments_mut() else {
            return Err(ApiError::InvalidBaseUrl {
                url: base.to_string(),
                reason: "it cannot take a path".into(),
            });
        };
        path.pop_if_empty().extend(segments);
    }
    Ok(url)
}

/// A reqwest client for API calls; the key is added per request, never as a default header.
/// Redirects are never followed: a redirect would carry the key to wherever it points.
pub fn api_http_client() -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| network_error(&e, ""))
}

/// Maps a reqwest failure (connect, timeout, broken body) to a retryable `Network` error.
pub fn network_error(e: &reqwest::Error, host: &str) -> ApiError {
    let kind = if e.is_timeout() {
        NetworkKind::Timeout
    } else if e.is_connect() {
        NetworkKind::Connect
    } else {
        NetworkKind::Reset
    };
    ApiError::Network {
        kind,
        host: host.to_owned(),
        detail: root_cause(e),
    }
}

/// The innermost cause ("Connection refused (os error 111)"): reqwest's outer layers only
/// repeat the URL, which the message already names by host.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    strip_queries(&inner.to_string())
}

/// `host:port` of a URL, for messages.
pub fn host_port(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    }
}

/// Removes `?query` parts from URLs inside a message (signatures are credentials too).
fn strip_queries(text: &str) -> String {
    text.split(' ')
        .map(|word| match (word.find("://"), word.find('?')) {
            (Some(_), Some(q)) => {
                let tail = word[q..].trim_start_matches(|c: char| c != ')').to_owned();
                format!("{}{tail}", &word[..q])
            }
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Decodes a 2xx body into `T`, keeping the raw JSON; a body of another shape is `Unexpected`.
pub fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<ServerJson<T>, ApiError> {
    let raw: Value = serde_json::from_slice(body).map_err(|e| ApiError::Unexpected {
        status,
        excerpt: format!("not JSON ({e}): {}", excerpt(body)),
    })?;
    let parsed = T::deserialize(&raw).map_err(|e| ApiError::Unexpected {
        status,
        excerpt: format!("JSON of an unexpected shape ({e}): {}", excerpt(body)),
    })?;
    let json_line = compact_json(&String::from_utf8_lossy(body));
    Ok(ServerJson {
        parsed,
        raw,
        json_line,
    })
}

/// Drops whitespace outside strings from valid JSON text; everything else stays byte for byte.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The `Date` header as text, if any (the server's clock, see [`super::clock`]).
pub fn date_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `Retry-After` header as text, if any.
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_checked_and_ids_stay_in_their_segment() {
        let base = parse_base("http://127.0.0.1:8080").unwrap();
        let u = endpoint(&base, &["v1", "content", "cnt_1/../x?y"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/v1/content/cnt_1%2F..%2Fx%3Fy"
        );
        let prefixed = parse_base("https://example.com/api/").unwrap();
        let u = endpoint(&prefixed, &["v1", "whoami"]).unwrap();
        assert_eq!(u.as_str(), "https://example.com/api/v1/whoami");
        for bad in ["ftp://x", "not a url", "http://x/?q=1", "mailto:a@b"] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_remote_plain_http_base_is_refused_because_it_would_leak_the_key() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:2",
            "https://api.layers.com",
            "https://10.0.0.5",
        ] {
            assert!(parse_base(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.layers.com",
            "http://10.0.0.5:80",
            "http://169.254.169.254",
            "http://localhost.evil.com",
            "https://user:pw@api.layers.com",
        ] {
            let e = parse_base(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_base_url", "{bad}");
        }
        let msg = parse_base("http://api.layers.com").unwrap_err().to_string();
        assert!(msg.contains("cleartext"), "{msg}");
    }

    #[test]
    fn signed_queries_are_dropped_from_messages() {
        let t =
            strip_queries("error sending request for url (http://s/put/a.mp4?X-Amz-Signature=abc)");
        assert_eq!(t, "error sending request for url (http://s/put/a.mp4)");
    }

    #[test]
    fn decode_keeps_the_exact_text_on_one_line_and_rejects_other_shapes() {
        let body =
            "{\n  \"z\": 1.50,\n  \"a\": {\"y\": \"two  words \\\" \\\\\", \"b\": [3, 4]}\n}\n";
        let v: ServerJson<Value> = decode(200, body.as_bytes()).unwrap();
        assert_eq!(
            v.json_line,
            r#"{"z":1.50,"a":{"y":"two  words \" \\","b":[3,4]}}"#
        );
        assert_eq!(v.raw["a"]["b"][1], 4);
        let e = decode::<crate::api::types::WhoAmI>(200, b"[1,2]").unwrap_err();
        assert_eq!(e.code(), "unexpected_response");
        let e = decode::<Value>(200, br#"{"trunc"#).unwrap_err();
        assert_eq!(e.code(), "unexpected_response");
    }
}
