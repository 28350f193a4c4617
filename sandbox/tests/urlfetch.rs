//! URL-fetch against a loopback origin started by the test: success, atomicity, the SSRF
//! guard, Content-Type as truth, caps, upstream failures and the time budget.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use common::*;
use layers_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Starts an origin on 127.0.0.1 that serves the test media in various (mis)configurations.
async fn origin() -> String {
    let m = media();
    let jpg = std::fs::read(&m.jpg800).unwrap();
    let mp4 = std::fs::read(&m.mp4).unwrap();
    let png = std::fs::read(&m.png1080).unwrap();
    let typed = |ct: &'static str, bytes: Vec<u8>| {
        move || {
            let bytes = bytes.clone();
            async move { ([(header::CONTENT_TYPE, ct)], bytes).into_response() }
        }
    };
    let chunked_mp4 = mp4.clone();
    let app = Router::new()
        .route(
            "/img.jpg",
            get(typed("image/jpeg; charset=binary", jpg.clone())),
        )
        .route("/blue.png", get(typed("image/png", png)))
        .route("/clip.mp4", get(typed("video/mp4", mp4.clone())))
        .route(
            "/octet.jpg",
            get(typed("application/octet-stream", jpg.clone())),
        )
        .route("/junk.jpg", get(typed("image/jpeg", vec![7u8; 2048])))
        .route(
            "/missing.jpg",
            get(|| async { (StatusCode::NOT_FOUND, "gone").into_response() }),
        )
        .route("/hop", get(|| async { Redirect::temporary("/img.jpg") }))
        .route(
            "/slow.jpg",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/chunked.mp4",
            get(move || {
                let bytes = chunked_mp4.clone();
                async move {
                    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                        bytes.chunks(4096).map(|c| Ok(c.to_vec())).collect();
                    let body = Body::from_stream(futures_util::stream::iter(chunks));
                    Response::builder()
                        .header(header::CONTENT_TYPE, "video/mp4")
                        .body(body)
                        .unwrap()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    format!("http://{addr}")
}

fn body(urls: &[String], caption: &str) -> Value {
    json!({ "media": urls.iter().map(|u| json!({ "url": u })).collect::<Vec<_>>(), "caption": caption })
}

#[tokio::test]
async fn fetches_from_a_loopback_origin_when_allowed() {
    let o = origin().await;
    let sb = start(SandboxConfig::default().allow_loopback_fetch(true));
    let path = format!("/v1/projects/{}/content/upload", sb.project);
    let (s, item) = sb
        .post(
            &path,
            LIVE,
            &body(&[format!("{o}/img.jpg")], "The roast ☕"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert!(item["id"].as_str().unwrap().starts_with("cnt_"));
    assert_eq!(item["status"], "completed");
    assert_eq!(item["caption"], "The roast ☕");
    assert_eq!(item["assets"][0]["mimeType"], "image/jpeg");
    assert_eq!(
        item["platformFit"][1],
        json!({ "platform": "instagram", "ok": false, "issues": [ISSUE_800] })
    );
    let served = sb
        .http
        .get(item["assets"][0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        served.as_ref(),
        std::fs::read(&media().jpg800).unwrap().as_slice()
    );
    assert_eq!(sb.quota().await["currentUploads"], 1);
    let (_, got) = sb
        .get(
            &format!("/v1/content/{}", item["id"].as_str().unwrap()),
            LIVE,
        )
        .await;
    assert_eq!(got, item);

    // Redirects are followed; a video alone is fine; 2 images make a slideshow.
    let (s, _) = sb.post(&path, LIVE, &body(&[format!("{o}/hop")], "")).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = sb
        .post(&path, LIVE, &body(&[format!("{o}/clip.mp4")], ""))
        .await;
    assert_eq!(
        (s, v["preview"]["kind"].as_str()),
        (StatusCode::CREATED, Some("video")),
        "{v}"
    );
    let (s, v) = sb
        .post(
            &path,
            LIVE,
            &body(&[format!("{o}/img.jpg"), format!("{o}/blue.png")], ""),
        )
        .await;
    assert_eq!(
        (s, v["preview"]["kind"].as_str()),
        (StatusCode::CREATED, Some("slideshow")),
        "{v}"
    );
}

#[tokio::test]
async fn refuses_private_and_plain_http_urls_without_the_flag() {
    let o = origin().await;
    let sb = start(SandboxConfig::default());
    let path = format!("/v1/projects/{}/content/upload", sb.project);
    let port = o.rsplit(':').next().unwrap();
    for url in [
        format!("{o}/img.jpg"),
        format!("https://127.0.0.1:{port}/img.jpg"),
        "https://localhost/img.jpg".to_string(),
        "https://10.0.0.1/img.jpg".to_string(),
        "https://169.254.169.254/latest".to_string(),
        "https://[::1]/img.jpg".to_string(),
        "ftp://example.com/img.jpg".to_string(),
    ] {
        let (s, v) = sb
            .post(&path, LIVE, &body(std::slice::from_ref(&url), ""))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION")),
            "{url}: {v}"
        );
    }
    assert!(sb.state().await["containers"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn content_type_caps_and_upstream_failures() {
    let o = origin().await;
    let sb = start(
        SandboxConfig::default()
            .allow_loopback_fetch(true)
            .video_cap_bytes(10_000)
            .fetch_timeout(Duration::from_millis(700)),
    );
    let path = format!("/v1/projects/{}/content/upload", sb.project);
    let post = |urls: Vec<String>| {
        let sb = &sb;
        let path = path.clone();
        async move { sb.post(&path, LIVE, &body(&urls, "c")).await }
    };

    let (s, v) = post(vec![format!("{o}/octet.jpg")]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION")),
        "{v}"
    );
    let (s, v) = post(vec![format!("{o}/junk.jpg")]).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unreadable at probe time: {v}"
    );

    let (s, v) = post(vec![format!("{o}/clip.mp4")]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("PAYLOAD_TOO_LARGE")),
        "{v}"
    );
    assert_eq!(
        v["error"]["details"],
        json!({ "url": format!("{o}/clip.mp4"), "maxBytes": 10_000, "contentType": "video/mp4" })
    );
    let (s, v) = post(vec![format!("{o}/chunked.mp4")]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        v["error"]["details"],
        json!({ "url": format!("{o}/chunked.mp4"), "maxBytes": 10_000 }),
        "cut off mid-fetch: no contentType"
    );

    let (s, v) = post(vec![format!("{o}/missing.jpg")]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("SCRAPE_FAILED")),
        "{v}"
    );
    let (s, v) = post(vec![format!("{o}/slow.jpg")]).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("SCRAPE_FAILED")),
        "{v}"
    );

    let (s, v) = post(vec![format!("{o}/img.jpg"), format!("{o}/clip.mp4")]).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "video mixed into multi-file: {v}"
    );

    // Atomic: one bad URL, nothing written.
    let (s, _) = post(vec![format!("{o}/img.jpg"), format!("{o}/missing.jpg")]).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    let state = sb.state().await;
    assert!(
        state["containers"].as_array().unwrap().is_empty(),
        "{state}"
    );
    assert!(state["objects"].as_object().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(sb.handle.data_dir().join("tmp"))
            .unwrap()
            .count(),
        0
    );

    let (s, _) = sb
        .post(
            &path,
            LIVE,
            &json!({ "media": [{ "url": format!("{o}/img.jpg") }] }),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "caption must be present"
    );
    let (s, _) = sb
        .post(&path, LIVE, &json!({ "media": [], "caption": "" }))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}
