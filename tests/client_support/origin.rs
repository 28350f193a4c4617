//! A tiny loopback HTTP origin for URL-fetch tests: each path answers with a fixed status,
//! Content-Type and body, so every fetch outcome (ok, 404, wrong type, over the cap) is exact.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What one path answers.
#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Serves `routes` on 127.0.0.1 until the test's runtime ends; returns `http://127.0.0.1:PORT`.
pub async fn serve(routes: HashMap<&'static str, Route>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let route = routes.get(path.as_str()).cloned().unwrap_or(Route {
                    status: 404,
                    content_type: "text/plain",
                    body: b"not here".to_vec(),
                });
                let header = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    route.status,
                    route.content_type,
                    route.body.len()
                );
                let _ = sock.write_all(header.as_bytes()).await;
                let _ = sock.write_all(&route.body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    base
}
