//! `layers-upload`: the engine, headless, for render servers and scripts. It only translates
//! arguments into engine calls and results into text or JSON lines; exit codes follow design.md.

mod dest_cmd;
mod diagnostics_cmd;
mod engine;
mod login;
mod probe;
mod progress;
mod queue_cmd;
mod watch_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Checks finished videos and images against the Layers, TikTok and Instagram rules and uploads
/// them to Layers.
#[derive(Debug, Parser)]
#[command(name = "layers-upload", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand shares.
#[derive(Debug, clap::Args)]
pub struct GlobalOpts {
    /// Layers API base URL; the client appends /v1/...
    #[arg(
        long,
        env = "LAYERS_API_BASE",
        default_value = "https://api.layers.com",
        global = true
    )]
    pub api_base: String,
    /// Destination Layers project id.
    #[arg(long, env = "LAYERS_PROJECT_ID", global = true)]
    pub project: Option<String>,
    /// Where the queue, cache and logs live (default: the platform data dir).
    #[arg(long, env = "LAYERS_UPLOADER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Loops API base URL; the client appends /api/v1/uploads...
    #[arg(
        long,
        env = "LOOPS_API_BASE",
        default_value = "https://app.loops.so",
        global = true
    )]
    pub loops_api_base: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect files locally (no network): type, figures, hard errors, TikTok/Instagram fit.
    Probe(probe::ProbeArgs),
    /// Store an API key in the OS keyring after checking it with the API (`--status` to show).
    Login(login::LoginArgs),
    /// Queue files as one batch and upload them to the project, until every post is done.
    Upload(queue_cmd::UploadArgs),
    /// Run everything left in the queue (after a crash, a stop, or a retry budget ran out).
    Resume(queue_cmd::ResumeArgs),
    /// Look at the queue, retry or cancel posts.
    #[command(subcommand)]
    Queue(queue_cmd::QueueCommand),
    /// Watch an export folder and upload each file once it has finished, until interrupted.
    Watch(watch_cmd::WatchArgs),
    /// Zip the logs and a queue summary for a support request (never a key).
    Diagnostics(diagnostics_cmd::DiagnosticsArgs),
    /// Create one content item from media already hosted at URLs (Layers fetches them).
    FetchUrl(dest_cmd::FetchUrlArgs),
    /// Upload files to the project's media library as one kind; prints each {assetId,...}.
    Media(dest_cmd::MediaArgs),
    /// Upload images as Loops email assets; prints each {emailAssetId, finalUrl}.
    Loops(dest_cmd::LoopsArgs),
    /// Fix the caption of an uploaded content item (PATCH, never a second finalize).
    Caption(dest_cmd::CaptionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_guard = init_logs(&cli.global);
    // Every command that hashes (probe, upload, watch, media, loops) skips unchanged files.
    if let Some(dir) = cli
        .global
        .data_dir
        .clone()
        .or_else(layers_uploader::paths::default_data_dir)
    {
        layers_uploader::media::bytes::use_hash_cache_in(&dir);
    }
    match cli.command {
        Command::Probe(args) => probe::run(args),
        Command::Login(args) => login::run(&cli.global.api_base, args),
        Command::Upload(args) => block_on(queue_cmd::upload(&cli.global, args)),
        Command::Resume(args) => block_on(queue_cmd::resume(&cli.global, args)),
        Command::Queue(command) => block_on(queue_cmd::queue(&cli.global, command)),
        Command::Watch(args) => block_on(watch_cmd::watch(&cli.global, args)),
        Command::Diagnostics(args) => diagnostics_cmd::run(&cli.global, args),
        Command::FetchUrl(args) => block_on(dest_cmd::fetch_url(&cli.global, args)),
        Command::Media(args) => block_on(dest_cmd::media(&cli.global, args)),
        Command::Loops(args) => block_on(dest_cmd::loops(&cli.global, args)),
        Command::Caption(args) => block_on(dest_cmd::caption(&cli.global, args)),
    }
}

/// Logs go to `<data dir>/logs/cli.YYYY-MM-DD.log` and warnings to stderr; when the data dir
/// cannot be written, stderr alone (the command itself will say what is wrong).
fn init_logs(global: &GlobalOpts) -> Option<layers_uploader::diagnostics::LogGuard> {
    let dir = global
        .data_dir
        .clone()
        .or_else(layers_uploader::paths::default_data_dir);
    if let Some(dir) = dir {
        match layers_uploader::diagnostics::init_logging(&dir, "cli") {
            Ok(guard) => return Some(guard),
            // Said once; the command goes on (and says itself if the data dir is unusable).
            Err(e) => eprintln!("layers-upload: warning: {e}; going on without a log file"),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAYERS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    None
}

/// Runs an async command on a multi-threaded runtime (PUTs and hashing run side by side).
fn block_on(future: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(future),
        Err(e) => engine::cannot_start(format!("cannot start the async runtime: {e}")),
    }
}
