//! Accounts, sessions, quota, idempotency, rate limits, scopes, test keys and the state log.

mod common;

use std::time::Duration;

use common::*;
use layers_sandbox::SandboxConfig;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn whoami_resolves_the_key_and_refuses_bad_ones() {
    let sb = start(SandboxConfig::default());
    let (s, v) = sb.get("/v1/whoami", LIVE).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["apiKeyId"], "k1live");
    assert_eq!(v["rateLimitTier"], "standard");
    assert!(v["organizationId"].is_string() && v["organizationName"].is_string());
    assert!(v["scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("content:write")));

    let r = sb
        .http
        .get(sb.url("/v1/whoami"))
        .header("X-Api-Key", TEST)
        .send()
        .await
        .unwrap();
    let (s, v) = read(r).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["apiKeyId"], "k3test");

    for bad in ["", "sk_live_x_y", "lp_live_only", "lp_staging_k_s"] {
        let (s, v) = sb.get("/v1/whoami", bad).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(v["error"]["code"], "UNAUTHENTICATED");
        assert!(v["error"]["requestId"]
            .as_str()
            .unwrap()
            .starts_with("req_"));
    }
    let r = sb.http.get(sb.url("/v1/whoami")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn projects_are_cursor_paginated() {
    let sb = start(
        SandboxConfig::default()
            .project("p-1")
            .project("p-2")
            .project("p-3"),
    );
    let (s, page1) = sb.get("/v1/projects?limit=2", LIVE).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<_> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("p-1"), json!("p-2")]);
    let cursor = page1["nextCursor"].as_str().unwrap();
    let (_, page2) = sb
        .get(&format!("/v1/projects?limit=2&cursor={cursor}"), LIVE)
        .await;
    assert_eq!(page2["items"][0]["id"], "p-3");
    assert!(page2["items"][0]["name"].is_string());
    assert_eq!(page2["nextCursor"], Value::Null);
    let (s, v) = sb.get("/v1/projects?limit=0", LIVE).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("VALIDATION"))
    );
    let (s, _) = sb.get("/v1/projects?cursor=bogus", LIVE).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn create_session_refuses_each_documented_row() {
    let sb = start(SandboxConfig::default().key_scopes("lp_live_k9ro_readonly", &["content:read"]));
    let img =
        |size: u64| json!({ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": size });
    let vid =
        |size: u64| json!({ "filename": "a.mp4", "contentType": "video/mp4", "sizeBytes": size });
    let eleven: Vec<Value> = (0..11).map(|_| img(10)).collect();
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "no files",
            json!({ "files": [], "grouping": "per-file" }),
            "files",
        ),
        (
            "eleven files",
            json!({ "files": eleven, "grouping": "per-file" }),
            "1 to 10",
        ),
        (
            "gif",
            json!({ "files": [{ "filename": "a.gif", "contentType": "image/gif", "sizeBytes": 5 }], "grouping": "per-file" }),
            "not accepted",
        ),
        (
            "video over 100MB",
            json!({ "files": [vid(104_857_601)], "grouping": "per-file" }),
            "cap",
        ),
        (
            "image over 30MB",
            json!({ "files": [img(31_457_281)], "grouping": "per-file" }),
            "cap",
        ),
        (
            "zero size",
            json!({ "files": [img(0)], "grouping": "per-file" }),
            "positive",
        ),
        (
            "long filename",
            json!({ "files": [{ "filename": format!("{}.jpg", "a".repeat(509)), "contentType": "image/jpeg", "sizeBytes": 5 }], "grouping": "per-file" }),
            "512",
        ),
        (
            "video in slideshow",
            json!({ "files": [img(5), vid(5)], "grouping": "slideshow" }),
            "Slideshows are images only.",
        ),
        ("no grouping", json!({ "files": [img(5)] }), "grouping"),
        (
            "bad grouping",
            json!({ "files": [img(5)], "grouping": "carousel" }),
            "carousel",
        ),
    ];
    let path = format!("/v1/projects/{}/content/uploads", sb.project);
    for (name, body, needle) in rows {
        let (s, v) = sb.post(&path, LIVE, &body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {v}");
        assert_eq!(v["error"]["code"], "VALIDATION", "{name}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
    }
    // Exactly at the caps is fine; a slideshow of one image is accepted.
    let (s, v) = sb
        .post(
            &path,
            LIVE,
            &json!({ "files": [vid(104_857_600), img(31_457_280)], "grouping": "per-file" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = sb
        .post(
            &path,
            LIVE,
            &json!({ "files": [img(5)], "grouping": "slideshow" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, v) = sb
        .post(
            "/v1/projects/nope/content/uploads",
            LIVE,
            &json!({ "files": [img(5)], "grouping": "per-file" }),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND"))
    );
    let (s, v) = sb
        .post(
            &path,
            "lp_live_k9ro_readonly",
            &json!({ "files": [img(5)], "grouping": "per-file" }),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN_SCOPE"))
    );

    // The video cap is operational: --video-cap-bytes moves it.
    let small = start(SandboxConfig::default().video_cap_bytes(1000));
    let (s, _) = small.create(LIVE, json!([vid(1001)]), "per-file").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = small.create(LIVE, json!([vid(1000)]), "per-file").await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn sessions_have_the_documented_shape() {
    let sb = start(SandboxConfig::default());
    let files = json!([
        { "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10 },
        { "filename": "b.png", "contentType": "image/png", "sizeBytes": 10 },
        { "filename": "c.mov", "contentType": "video/quicktime", "sizeBytes": 10 },
    ]);
    let (s, v) = sb.create(LIVE, files, "per-file").await;
    assert_eq!(s, StatusCode::CREATED);
    let uploads = v["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 3);
    for up in uploads {
        let id = up["containerId"].as_str().unwrap();
        assert!(id.starts_with("cnt_") && id.len() == 40, "{id}");
        let f = &up["files"][0];
        let key = f["r2Key"].as_str().unwrap();
        assert!(
            key.starts_with(&format!(
                "public-media/content-container/{}/media/upload-1.",
                &id[4..]
            )),
            "{key}"
        );
        assert!(f["uploadUrl"].as_str().unwrap().contains(key));
        assert!(f["uploadUrl"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature="));
        assert!(f["expiresAt"].as_str().unwrap().ends_with(".000Z"));
    }
    assert_eq!(uploads[2]["files"][0]["contentType"], "video/quicktime");
    assert!(uploads[2]["files"][0]["r2Key"]
        .as_str()
        .unwrap()
        .ends_with(".mov"));

    let files = json!([
        { "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10 },
        { "filename": "b.jpg", "contentType": "image/jpeg", "sizeBytes": 10 },
    ]);
    let (_, v) = sb.create(LIVE, files, "slideshow").await;
    assert_eq!(v["uploads"].as_array().unwrap().len(), 1);
    let keys: Vec<_> = v["uploads"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["r2Key"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(keys, vec!["upload-1.jpg", "upload-2.jpg"]);
}

#[tokio::test]
async fn quota_is_reserved_at_creation_and_names_usage_and_limits() {
    let sb = start(SandboxConfig::default().max_uploads(2).max_bytes(10_000));
    let img =
        |size: u64| json!({ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": size });
    let (s, one) = sb.create(LIVE, json!([img(100)]), "per-file").await;
    assert_eq!(s, StatusCode::CREATED);
    // A slideshow is one content item.
    let (s, _) = sb
        .create(LIVE, json!([img(100), img(100)]), "slideshow")
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = sb.create(LIVE, json!([img(100)]), "per-file").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "UPLOAD_QUOTA_EXCEEDED");
    assert_eq!(
        v["error"]["details"],
        json!({ "currentUploads": 2, "maxUploads": 2, "currentBytes": 300, "maxBytes": 10_000 })
    );
    // Archiving frees quota at once.
    let id = one["uploads"][0]["containerId"].as_str().unwrap();
    let r = sb
        .http
        .post(sb.url(&format!("/_sandbox/delete/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sb.quota().await["currentUploads"], 1);
    // Bytes count too (as declared).
    let (s, v) = sb.create(LIVE, json!([img(9_801)]), "per-file").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["details"]["currentBytes"], 200);
    let (s, _) = sb.create(LIVE, json!([img(9_800)]), "per-file").await;
    assert_eq!(s, StatusCode::CREATED);
    // Test keys never consume live quota.
    let (s, _) = sb.create(TEST, json!([img(100)]), "per-file").await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn idempotency_replays_2xx_and_refuses_another_body() {
    let sb = start(SandboxConfig::default());
    let path = format!("/v1/projects/{}/content/uploads", sb.project);
    let body = json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10 }], "grouping": "per-file" });
    let first = sb.post_raw(&path, LIVE, &body, Some("idem-1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let again = sb.post_raw(&path, LIVE, &body, Some("idem-1")).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        again.text().await.unwrap(),
        first,
        "replay must be verbatim"
    );
    assert_eq!(
        sb.quota().await["currentUploads"],
        1,
        "a replay reserves nothing"
    );

    let other = json!({ "files": [{ "filename": "b.jpg", "contentType": "image/jpeg", "sizeBytes": 10 }], "grouping": "per-file" });
    let (s, v) = read(sb.post_raw(&path, LIVE, &other, Some("idem-1")).await).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("IDEMPOTENCY_CONFLICT"))
    );

    // Keys are per API key.
    let (s, v) = read(sb.post_raw(&path, LIVE2, &body, Some("idem-1")).await).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(v.to_string(), first);

    // Failures are not cached: the same key may be retried after a 4xx.
    let bad = json!({ "files": [], "grouping": "per-file" });
    assert_eq!(
        sb.post_raw(&path, LIVE, &bad, Some("idem-2"))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        sb.post_raw(&path, LIVE, &bad, Some("idem-2"))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Concurrent duplicates wait for the first and get the same session.
    let (a, b) = tokio::join!(
        sb.post_raw(&path, LIVE, &other, Some("idem-3")),
        sb.post_raw(&path, LIVE, &other, Some("idem-3"))
    );
    let (a, b) = (a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(sb.quota().await["currentUploads"], 3);
}

#[tokio::test]
async fn writes_over_the_budget_get_429_with_retry_after() {
    let sb = start(SandboxConfig::default().writes_per_minute(2));
    let path = format!("/v1/projects/{}/content/uploads", sb.project);
    let body = json!({ "files": [], "grouping": "per-file" });
    for _ in 0..2 {
        let r = sb.post_raw(&path, LIVE, &body, None).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.headers()["x-ratelimit-endpoint-class"], "writes");
    }
    let r = sb.post_raw(&path, LIVE, &body, None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.headers()["x-ratelimit-endpoint-class"], "writes");
    let (_, v) = read(r).await;
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    // Reads are not writes; other keys have their own bucket.
    assert_eq!(sb.get("/v1/whoami", LIVE).await.0, StatusCode::OK);
    assert_eq!(
        sb.post_raw(&path, LIVE2, &body, None).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn test_keys_get_inert_urls_fixture_items_and_no_quota() {
    let sb = start(SandboxConfig::default());
    let m = media();
    let (s, v) = sb
        .create(TEST, json!([decl(&m.mp4, "video/mp4")]), "per-file")
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = v["uploads"][0]["containerId"].as_str().unwrap().to_string();
    let url = v["uploads"][0]["files"][0]["uploadUrl"].as_str().unwrap();
    let r = sb.put(url, "video/mp4", &m.mp4).await;
    assert!(
        r.status().is_client_error(),
        "inert URL answered {}",
        r.status()
    );
    let (s, item) = sb.finalize(TEST, &id, "from CI ☕").await;
    assert_eq!(s, StatusCode::OK, "{item}");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["caption"], "from CI ☕");
    assert_eq!(item["assets"][0]["kind"], "video");
    assert_eq!(item["preview"]["kind"], "video");
    assert_eq!(sb.quota().await["currentUploads"], 0);
    assert!(sb.state().await["objects"].as_object().unwrap().is_empty());
    // Live keys do not see test-key content.
    assert_eq!(
        sb.get(&format!("/v1/content/{id}"), LIVE).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sb.get(&format!("/v1/content/{id}"), TEST).await.0,
        StatusCode::OK
    );

    // URL-fetch with a test key fetches nothing.
    let path = format!("/v1/projects/{}/content/upload", sb.project);
    let (s, item) = sb
        .post(
            &path,
            TEST,
            &json!({ "media": [{ "url": "https://cdn.invalid/launch.mp4" }], "caption": "" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(item["caption"], "");
    assert_eq!(item["creativeType"], "uploaded");
}

#[tokio::test]
async fn the_state_log_never_holds_a_full_key() {
    let sb = start(SandboxConfig::default());
    let m = media();
    sb.get("/v1/whoami", LIVE).await;
    sb.get("/v1/whoami", TEST).await;
    let (id, url) = sb.session_for(&m.jpg800, "image/jpeg").await;
    sb.put(&url, "image/jpeg", &m.jpg800).await;
    let bytes = std::fs::read(&m.jpg800).unwrap();
    let r = sb
        .http
        .put(&url)
        .bearer_auth(LIVE)
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    sb.finalize(LIVE, &id, "x").await;
    sb.http
        .post(sb.url("/api/v1/uploads"))
        .bearer_auth("loops-secret-key-value")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let state = sb.state().await;
    let text = state.to_string();
    for secret in [
        LIVE,
        TEST,
        "s3cretLIVEvalue",
        "t3stSECRETvalue",
        "loops-secret-key-value",
        "X-Amz-Signature",
    ] {
        assert!(!text.contains(secret), "state leaks {secret:?}");
    }
    let requests = state["requests"].as_array().unwrap();
    let puts: Vec<&Value> = requests.iter().filter(|r| r["method"] == "PUT").collect();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[0]["authHeaderPresent"], false);
    assert_eq!(puts[0]["status"], 200);
    assert_eq!(puts[1]["authHeaderPresent"], true);
    assert_eq!(puts[1]["keyId"], "k1live");
    let who: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"] == "/v1/whoami")
        .collect();
    assert_eq!(who[0]["keyId"], "k1live");
    assert_eq!(who[1]["keyId"], "k3test");
}

#[tokio::test]
async fn the_binary_announces_its_address_then_its_projects() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_layers-sandbox"))
        .args(["--port", "0", "--project", "p-a", "--project", "p-b"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.strip_prefix("LISTENING ").unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{first}");
    assert_eq!(lines.next().unwrap().unwrap(), "PROJECT p-a");
    assert_eq!(lines.next().unwrap().unwrap(), "PROJECT p-b");
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/v1/projects"))
        .bearer_auth(LIVE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}
