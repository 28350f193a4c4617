//! `layers-sandbox`: runs the sandbox server until interrupted. The first stdout line is
//! `LISTENING http://127.0.0.1:PORT`, then one `PROJECT <id>` line per project.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use layers_sandbox::{Sandbox, SandboxConfig};

/// A local server that honours the documented Layers + Loops API contract.
#[derive(Debug, Parser)]
#[command(name = "layers-sandbox", version)]
struct Args {
    /// Port on 127.0.0.1 (0 = pick a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where objects and state live (default: a temp dir removed on exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Lifetime of presigned URLs, in seconds.
    #[arg(long, default_value_t = 900)]
    url_ttl: u64,
    /// Seconds after which an unfinalized session is reaped.
    #[arg(long, default_value_t = 7200)]
    reap_after: u64,
    /// Per-project upload-count quota.
    #[arg(long, default_value_t = 250)]
    max_uploads: u64,
    /// Per-project byte quota (declared bytes).
    #[arg(long, default_value_t = 26_843_545_600)]
    max_bytes: u64,
    /// Overrides the 100 MB video cap.
    #[arg(long)]
    video_cap_bytes: Option<u64>,
    /// POST/PATCH budget per key per minute under /v1 (default: unlimited).
    #[arg(long)]
    writes_per_minute: Option<u32>,
    /// Drop the connection mid-body for the first N storage PUTs.
    #[arg(long, default_value_t = 0)]
    fail_put_first: u64,
    /// Answer 500 to the first N finalize calls.
    #[arg(long, default_value_t = 0)]
    fail_finalize_first: u64,
    /// Throttle storage PUT reads to N bytes per second.
    #[arg(long)]
    slow_put_bps: Option<u64>,
    /// Hold every content finalize N milliseconds before it runs.
    #[arg(long)]
    slow_finalize_ms: Option<u64>,
    /// A project the organisation owns (repeatable).
    #[arg(long = "project")]
    projects: Vec<String>,
    /// Let URL-fetch reach http://127.0.0.1 origins.
    #[arg(long)]
    allow_loopback_fetch: bool,
    /// The only Loops key accepted (default: any non-empty bearer).
    #[arg(long, env = "LAYERS_SANDBOX_LOOPS_KEY", hide_env_values = true)]
    loops_key: Option<String>,
    /// KEY=scope,scope: restrict a Layers key's scopes (repeatable).
    #[arg(long = "key-scopes", hide_env_values = true)]
    key_scopes: Vec<String>,
    /// URL-fetch budget per URL, in seconds.
    #[arg(long, default_value_t = 60)]
    fetch_timeout: u64,
    /// Run the sandbox's clock this many seconds ahead of the machine's (negative: behind).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    clock_offset_secs: i64,
    /// STATUS,STATUS…: answer the first whoami calls with these (429, 401, 403, 5xx; 200 lets one
    /// through), in order.
    #[arg(long, value_delimiter = ',')]
    fail_whoami: Vec<u16>,
    /// Send injected Retry-After values as HTTP dates instead of seconds.
    #[arg(long)]
    retry_after_as_date: bool,
    /// Private mode: the only Layers key accepted, also required on /_sandbox and /media;
    /// requests must be addressed to 127.0.0.1:PORT or localhost:PORT.
    #[arg(long, env = "LAYERS_SANDBOX_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
}

fn config_from(args: Args) -> Result<SandboxConfig> {
    let mut config = SandboxConfig {
        port: args.port,
        data_dir: args.data_dir,
        url_ttl: Duration::from_secs(args.url_ttl),
        reap_after: Duration::from_secs(args.reap_after),
        max_uploads: args.max_uploads,
        max_bytes: args.max_bytes,
        video_cap_bytes: args.video_cap_bytes,
        writes_per_minute: args.writes_per_minute,
        fail_put_first: args.fail_put_first,
        fail_finalize_first: args.fail_finalize_first,
        slow_put_bps: args.slow_put_bps,
        slow_finalize: args.slow_finalize_ms.map(Duration::from_millis),
        projects: args.projects,
        allow_loopback_fetch: args.allow_loopback_fetch,
        loops_key: args.loops_key,
        fetch_timeout: Duration::from_secs(args.fetch_timeout),
        clock_offset_secs: args.clock_offset_secs,
        fail_whoami: args.fail_whoami,
        retry_after_as_date: args.retry_after_as_date,
        private_key: args.private_key,
        ..SandboxConfig::default()
    };
    for spec in args.key_scopes {
        let Some((key, scopes)) = spec.split_once('=') else {
            bail!("--key-scopes takes KEY=scope,scope (got a value without '=')");
        };
        let scopes = scopes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        config.key_scopes.insert(key.to_string(), scopes);
    }
    Ok(config)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("layers_sandbox=info")),
        )
        .init();
    let config = config_from(Args::parse())?;
    let (base_url, handle) = Sandbox::start(config).context("starting the sandbox")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "LISTENING {base_url}")?;
    for p in handle.projects() {
        writeln!(out, "PROJECT {p}")?;
    }
    out.flush()?;
    drop(out);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    runtime.block_on(wait_for_signal());
    tracing::info!("stopping");
    handle.shutdown();
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
