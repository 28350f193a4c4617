//! Server-side fetch for the URL-fetch transport: the SSRF guard (https and public addresses
//! only, unless `--allow-loopback-fetch` admits `http://127.0.0.1`), manual redirects re-checked
//! at every hop with the connection pinned to the checked address, the origin's Content-Type
//! as the source of truth, the per-type cap, and a time budget per URL.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use layers_uploader::media::MediaKind;
use reqwest::Url;
use serde_json::json;

use crate::app::App;
use crate::error::ApiError;
use crate::routes::content::{default_extension, kind_of};
use crate::storage::{write_stream, WriteError, WriteOptions};

/// Redirects followed per URL (each re-checked by the guard).
const MAX_REDIRECTS: usize = 5;

/// One fetched body, on disk in the temp dir.
#[derive(Debug)]
pub struct Fetched {
    pub url: String,
    pub content_type: String,
    pub kind: MediaKind,
    pub temp: PathBuf,
    pub size_bytes: u64,
    pub sha256: String,
}

fn scrape_failed(url: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "SCRAPE_FAILED",
        format!("Fetching {url} failed: {why}"),
    )
    .with_details(json!({ "url": url }))
}

fn ssrf(url: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::validation(format!("URL rejected: {why}"))
        .with_details(json!({ "url": url, "reason": "ssrf_guard" }))
}

/// Fetches one URL within the configured budget. `multi` says the call has several files
/// (then a video is refused: a video is always a single-file post).
pub async fn fetch(app: &App, url: &str, multi: bool) -> Result<Fetched, ApiError> {
    match tokio::time::timeout(app.config.fetch_timeout, fetch_inner(app, url, multi)).await {
        Ok(r) => r,
        Err(_) => Err(scrape_failed(
            url,
            format!(
                "no complete answer within {} s",
                app.config.fetch_timeout.as_secs()
            ),
        )),
    }
}

async fn fetch_inner(app: &App, original: &str, multi: bool) -> Result<Fetched, ApiError> {
    let mut current = Url::parse(original).map_err(|e| {
        ApiError::validation(format!("{original:?} is not a valid URL: {e}."))
            .with_details(json!({ "url": original }))
    })?;
    for _ in 0..=MAX_REDIRECTS {
        let addr = guard(app, original, &current).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(host) = current.domain() {
            builder = builder.resolve(host, addr);
        }
        let client = builder.build().map_err(|e| scrape_failed(original, e))?;
        let response = client
            .get(current.clone())
            .send()
            .await
            .map_err(|e| scrape_failed(original, e))?;
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|loc| current.join(loc).ok())
                .ok_or_else(|| {
                    scrape_failed(original, format!("{status} without a usable Location"))
                })?;
            current = next;
            continue;
        }
        if !status.is_success() {
            return Err(
                scrape_failed(original, format!("the origin answered {status}"))
                    .with_details(json!({ "url": original, "status": status.as_u16() })),
            );
        }
        return receive(app, original, response, multi).await;
    }
    Err(scrape_failed(
        original,
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}

async fn receive(
    app: &App,
    url: &str,
    response: reqwest::Response,
    multi: bool,
) -> Result<Fetched, ApiError> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let Some(kind) = kind_of(&content_type) else {
        return Err(ApiError::validation(format!(
            "{url} was served as {:?}; the origin's Content-Type must be one of video/mp4, video/quicktime, image/jpeg, image/png, image/webp (we don't sniff).",
            if content_type.is_empty() { "nothing" } else { &content_type }
        ))
        .with_details(json!({ "url": url, "contentType": content_type })));
    };
    if multi && kind == MediaKind::Video {
        return Err(ApiError::validation(
            "A video is always a single-file post: it cannot be mixed into a multi-file upload.",
        )
        .with_details(json!({ "url": url, "contentType": content_type })));
    }
    let cap = app.limits.cap_for(kind);
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(ApiError::too_large(
            format!("{url} is over the {cap}-byte cap for {content_type}."),
            json!({ "url": url, "maxBytes": cap, "contentType": content_type }),
        ));
    }
    let temp = app.temp_path(default_extension(&content_type));
    let opts = WriteOptions {
        limit: Some(cap),
        ..WriteOptions::default()
    };
    match write_stream(response.bytes_stream(), &temp, opts).await {
        Ok((size_bytes, sha256)) => Ok(Fetched {
            url: url.to_string(),
            content_type,
            kind,
            temp,
            size_bytes,
            sha256,
        }),
        // Cut off mid-stream for blowing the cap: the docs leave contentType out here.
        Err(WriteError::OverLimit(_)) => Err(ApiError::too_large(
            format!("{url} exceeded the {cap}-byte cap mid-fetch."),
            json!({ "url": url, "maxBytes": cap }),
        )),
        Err(WriteError::Io(e)) => Err(ApiError::internal(format!(
            "cannot store the fetched body: {e}"
        ))),
        Err(e) => Err(scrape_failed(url, e)),
    }
}

/// Checks scheme and every resolved address; returns the address to connect to.
async fn guard(app: &App, original: &str, url: &Url) -> Result<SocketAddr, ApiError> {
    let loopback_ok = app.config.allow_loopback_fetch;
    match url.scheme() {
        "https" => {}
        "http" if loopback_ok => {}
        other => {
            return Err(ssrf(
                original,
                format!("only https URLs are fetched (got {other}:)."),
            ));
        }
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Some(host) = url.host_str() else {
        return Err(ssrf(original, "the URL has no host."));
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| scrape_failed(original, format!("cannot resolve {bare}: {e}")))?
            .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(scrape_failed(original, "the host resolved to no address"));
    };
    for a in &addrs {
        let ip = a.ip();
        let allowed = is_public(ip) || (loopback_ok && ip.is_loopback());
        if !allowed {
            return Err(ssrf(
                original,
                format!(
                    "{} resolves to a non-public address ({ip}).",
                    url.host_str().unwrap_or("")
                ),
            ));
        }
        if url.scheme() == "http" && !ip.is_loopback() {
            return Err(ssrf(
                original,
                "plain http is only allowed for loopback test origins.",
            ));
        }
    }
    Ok(first)
}

/// Whether an address is on the public internet: the client's own rule (where upload links
/// may point), so the sandbox's SSRF guard and the client never disagree.
pub use layers_uploader::transfer::target::is_public_ip as is_public;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(s.parse().unwrap()), "{s} should not be public");
        }
        for s in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(s.parse().unwrap()), "{s} should be public");
        }
    }
}
