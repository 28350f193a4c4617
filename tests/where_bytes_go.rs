//! Where the client sends file bytes and the key: a real API's upload links must be https to
//! public addresses (never this computer, a private network or the cloud metadata address);
//! an API redirect is never followed (it would carry the key); a remote plain-http API base
//! is refused before any call; an oversized API answer is refused, not read into memory.
//! Each "server" here is a loopback listener that counts the connections it was sent.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use layers_uploader::api::LayersClient;
use layers_uploader::secrets::ApiKey;
use layers_uploader::transfer::{PutTarget, Reach, Transfer, TransferError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const KEY: &str = "lp_live_where1_S3cretThatStaysHome";

/// A loopback listener answering every request with `answer`; returns its port and a count
/// of the connections it accepted.
async fn listener(answer: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = sock.write_all(&answer).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, count)
}

fn ok_answer() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
}

fn file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jpg");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[tokio::test]
async fn a_real_apis_link_to_this_computer_or_a_private_address_gets_no_bytes() {
    let (port, connections) = listener(ok_answer()).await;
    let (_dir, path) = file(b"0123456789");
    let transfer = Transfer::new().unwrap();
    let links = [
        format!("http://127.0.0.1:{port}/storage/k?sig=1"),
        format!("https://127.0.0.1:{port}/storage/k?sig=1"),
        format!("https://localhost:{port}/storage/k"),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        "https://10.0.0.7/bucket/k".to_string(),
        "https://[::1]:9/k".to_string(),
    ];
    for link in &links {
        let target = PutTarget {
            url: link,
            content_type: "image/jpeg",
            declared_size: Some(10),
            headers: None,
            reach: Reach::Public,
        };
        let err = transfer.put_file(&path, &target, None).await.unwrap_err();
        assert!(
            matches!(err, TransferError::UnsafeTarget { .. }),
            "{link}: {err}"
        );
        assert_eq!(err.code(), "unsafe_upload_target");
        assert!(
            !err.is_retryable(),
            "{link}: an unsafe link is never retried"
        );
        let msg = err.to_string();
        assert!(msg.contains("Nothing was sent"), "{msg}");
        assert!(!msg.contains("sig=1"), "the signature leaked: {msg}");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "bytes reached a refused host"
    );

    // The same link from the sandbox (an API on this computer) is its own storage: sent.
    let local = PutTarget {
        url: &links[0],
        content_type: "image/jpeg",
        declared_size: Some(10),
        headers: None,
        reach: Reach::Local,
    };
    transfer.put_file(&path, &local, None).await.unwrap();
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn presign_headers_outside_the_allow_list_are_refused_before_sending() {
    let (port, connections) = listener(ok_answer()).await;
    let (_dir, path) = file(b"0123456789");
    let url = format!("http://127.0.0.1:{port}/storage/k");
    let transfer = Transfer::new().unwrap();
    for (name, value) in [
        ("Authorization", "Bearer stolen"),
        ("Host", "metadata.internal"),
        ("Cookie", "a=b"),
    ] {
        let headers = [
            ("Content-Type".to_string(), "image/jpeg".to_string()),
            (name.to_string(), value.to_string()),
        ]
        .into_iter()
        .collect();
        let target = PutTarget {
            url: &url,
            content_type: "image/jpeg",
            declared_size: Some(10),
            headers: Some(&headers),
            reach: Reach::Local,
        };
        let err = transfer.put_file(&path, &target, None).await.unwrap_err();
        assert_eq!(err.code(), "bad_upload_header", "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_api_redirect_is_not_followed_so_the_key_stays_with_the_api() {
    let (other_port, other_connections) = listener(ok_answer()).await;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{other_port}/v1/whoami\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (port, _) = listener(redirect.into_bytes()).await;
    let client = LayersClient::new(
        &format!("http://127.0.0.1:{port}"),
        ApiKey::new(KEY).unwrap(),
    )
    .unwrap();
    let err = client.whoami().await.unwrap_err();
    assert!(!err.to_string().contains("S3cret"), "{err}");
    assert_eq!(
        other_connections.load(Ordering::SeqCst),
        0,
        "the redirect was followed (with the key)"
    );
}

#[tokio::test]
async fn an_api_answer_of_many_megabytes_is_refused() {
    let body = vec![b' '; 9 * 1024 * 1024];
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    let (port, _) = listener(answer).await;
    let client = LayersClient::new(
        &format!("http://127.0.0.1:{port}"),
        ApiKey::new(KEY).unwrap(),
    )
    .unwrap();
    let err = client.whoami().await.unwrap_err();
    assert_eq!(err.code(), "unexpected_response");
    assert!(err.to_string().contains("larger than"), "{err}");

    // Without a Content-Length (chunked), the cap holds while reading.
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..9 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1024 * 1024).as_bytes());
        chunked.extend_from_slice(&vec![b' '; 1024 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (port, _) = listener(chunked).await;
    let client = LayersClient::new(
        &format!("http://127.0.0.1:{port}"),
        ApiKey::new(KEY).unwrap(),
    )
    .unwrap();
    let err = client.whoami().await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[test]
fn a_remote_plain_http_api_base_is_refused_before_any_call() {
    let data = tempfile::tempdir().unwrap();
    let fetch = Command::new(env!("CARGO_BIN_EXE_layers-upload"))
        .args([
            "--api-base",
            "http://api.layers.com",
            "--project",
            "p",
            "fetch-url",
            "--caption",
            "",
            "https://cdn.example.com/a.mp4",
        ])
        .env("LAYERS_UPLOADER_DATA_DIR", data.path())
        .env("LAYERS_API_KEY", KEY)
        .output()
        .unwrap();
    let fetch_err = String::from_utf8_lossy(&fetch.stderr);
    assert_eq!(fetch.status.code(), Some(2), "{fetch_err}");
    assert!(fetch_err.contains("cleartext"), "{fetch_err}");
    assert!(!fetch_err.contains("S3cret"), "{fetch_err}");
}
