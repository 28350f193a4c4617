//! `layers-upload`: the engine, headless, for render servers and scripts. It only translates
//! arguments into engine calls and results into text or JSON lines; exit codes follow design.md.

mod login;
mod probe;

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
struct GlobalOpts {
    /// Layers API base URL; the client appends /v1/...
    #[arg(
        long,
        env = "LAYERS_API_BASE",
        default_value = "https://api.layers.com",
        global = true
    )]
    api_base: String,
    /// Destination Layers project id.
    #[arg(long, env = "LAYERS_PROJECT_ID", global = true)]
    project: Option<String>,
    /// Where the queue, cache and logs live (default: the platform data dir).
    #[arg(long, env = "LAYERS_UPLOADER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect files locally (no network): type, figures, hard errors, TikTok/Instagram fit.
    Probe(probe::ProbeArgs),
    /// Store an API key in the OS keyring after checking it with the API (`--status` to show).
    Login(login::LoginArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAYERS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let _ = (
        &cli.global.api_base,
        &cli.global.project,
        &cli.global.data_dir,
    );
    match cli.command {
        Command::Probe(args) => probe::run(args),
        Command::Login(args) => login::run(&cli.global.api_base, args),
    }
}
