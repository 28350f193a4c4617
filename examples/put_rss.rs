//! Measures peak RSS (`VmHWM`) of streaming PUTs of a 100 MiB and a 1 GiB file in one run, to show
//! that memory does not grow with file size.
//!
//! ```text
//! cargo run --release --example put_rss                       # in-process sandbox (its memory counts too)
//! cargo run --release --example put_rss -- http://127.0.0.1:PORT   # an external `layers-sandbox
//!                                                             #   --video-cap-bytes 2147483648`: client only
//! ```

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use layers_sandbox::{Sandbox, SandboxConfig};
use layers_uploader::api::types::{CreateUploadSessionRequest, DeclaredFile, Grouping};
use layers_uploader::api::{IdempotencyKey, LayersClient};
use layers_uploader::secrets::ApiKey;
use layers_uploader::transfer::{PutTarget, Transfer};

const MIB: u64 = 1024 * 1024;

/// Peak resident set size so far, in KiB.
fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .context("malformed VmHWM")?
        .parse()?;
    Ok(kib)
}

async fn put(client: &LayersClient, project: &str, path: &Path, size: u64) -> Result<f64> {
    let request = CreateUploadSessionRequest {
        files: vec![DeclaredFile {
            filename: "big.mp4".into(),
            content_type: "video/mp4".into(),
            size_bytes: size,
        }],
        grouping: Grouping::PerFile,
    };
    let session = client
        .create_upload_session(project, &request, &IdempotencyKey::new_v4())
        .await?;
    let file = &session.uploads[0].files[0];
    let target = PutTarget {
        url: &file.upload_url,
        content_type: &file.content_type,
        declared_size: Some(size),
        headers: None,
        reach: layers_uploader::transfer::Reach::Local,
    };
    let started = Instant::now();
    Transfer::new()?.put_file(path, &target, None).await?;
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
    let external = std::env::args().nth(1);
    let (base, _sandbox) = match &external {
        Some(base) => (base.clone(), None),
        None => {
            let config = SandboxConfig::default().video_cap_bytes(2 * 1024 * MIB);
            let (base, handle) = Sandbox::start(config)?;
            (base, Some(handle))
        }
    };
    let key = ApiKey::layers("lp_live_rss_measurementKeyNotSecret")?;
    let client = LayersClient::new(&base, key)?;
    let project = client
        .list_projects(Some(1), None)
        .await?
        .items
        .first()
        .map(|p| p.id.clone())
        .context("the server has no project")?;
    let dir = tempfile::tempdir()?;
    let baseline = vm_hwm_kib()?;
    println!(
        "sandbox: {}",
        if external.is_some() {
            "external (client only)"
        } else {
            "in-process (counted)"
        }
    );
    println!("baseline peak RSS: {:.1} MiB", baseline as f64 / 1024.0);
    let mut peaks = Vec::new();
    for size in [100 * MIB, 1024 * MIB] {
        let path = dir.path().join(format!("{}.bin", size / MIB));
        // Sparse: fast to create, and storage does not care what the bytes are.
        std::fs::File::create(&path)?.set_len(size)?;
        let secs = put(&client, &project, &path, size).await?;
        let peak = vm_hwm_kib()?;
        println!(
            "PUT {:>5} MiB in {:>5.1} s ({:>6.1} MiB/s): peak RSS {:.1} MiB",
            size / MIB,
            secs,
            (size / MIB) as f64 / secs,
            peak as f64 / 1024.0
        );
        peaks.push(peak);
        std::fs::remove_file(&path)?;
    }
    let growth = peaks[1].saturating_sub(peaks[0]) as f64 / 1024.0;
    println!("peak growth from 100 MiB to 1 GiB: {growth:.1} MiB");
    if growth > 32.0 {
        bail!("peak RSS grew by {growth:.1} MiB between a 100 MiB and a 1 GiB PUT");
    }
    Ok(())
}
