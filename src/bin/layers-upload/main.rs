//! `layers-upload`: the engine, headless, for render servers and scripts. It only translates
//! arguments into engine calls and results into text or JSON lines; exit codes follow design.md.

mod dest_cmd;
mod diagnostics_cmd;
mod engine;
mod fit_cmd;
mod login;
mod output;
mod probe;
mod progress;
mod queue_cmd;
mod watch_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Where the queue lives: `sqlite` (a file in the data dir, the default) or a
    /// postgres://user:password@host:port/database URL that several machines share (TLS as
    /// psql: `?sslmode=verify-full&sslrootcert=/path/ca.pem`).
    #[arg(
        long,
        env = "LAYERS_UPLOADER_STORE",
        global = true,
        hide_env_values = true,
        value_name = "sqlite|postgres://…"
    )]
    pub store: Option<String>,
    /// Loops API base URL; the client appends /api/v1/uploads...
    #[arg(
        long,
        env = "LOOPS_API_BASE",
        default_value = "https://app.loops.so",
        global = true
    )]
    pub loops_api_base: String,
    /// Show errors only (no progress, no summary).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Show more of what happens (-v: info, -vv: debug); `LAYERS_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect files locally (no network): type, figures, hard errors, TikTok/Instagram fit.
    Probe(probe::ProbeArgs),
    /// Make a copy that fits TikTok and Instagram of each file that does not (ffmpeg).
    Fit(fit_cmd::FitArgs),
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
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page to stdout, or write one per command into DIR with --out.
    Manpage {
        /// Write layers-upload.1 and layers-upload-<command>.1 here instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    output::set_quiet(cli.global.quiet);
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
        Command::Fit(args) => block_on(fit_cmd::run(args)),
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
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "layers-upload", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Manpage { out } => manpage(out),
    }
}

/// Help and `--version` as clap prints them; a usage error as one `layers-upload:` line (plus
/// clap's usage and its hint), exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let text = text.trim_end();
    eprintln!(
        "layers-upload: {}",
        text.strip_prefix("error: ").unwrap_or(text)
    );
    ExitCode::from(2)
}

/// The man pages, generated from this very clap definition (so they never drift from `--help`).
fn manpage(out: Option<PathBuf>) -> ExitCode {
    let cmd = Cli::command();
    let Some(dir) = out else {
        return match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => engine::cannot_start(format!("cannot write the man page: {e}")),
        };
    };
    let write = |name: String, page: clap::Command| -> std::io::Result<()> {
        let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
        clap_mangen::Man::new(page)
            .title(name.to_uppercase())
            .render(&mut file)
    };
    let pages = std::iter::once(("layers-upload".to_string(), cmd.clone())).chain(
        cmd.get_subcommands().filter(|c| !c.is_hide_set()).map(|c| {
            let name = format!("layers-upload-{}", c.get_name());
            (name.clone(), c.clone().name(name))
        }),
    );
    for (name, page) in pages {
        if let Err(e) = write(name.clone(), page) {
            return engine::cannot_start(format!(
                "cannot write {}: {e}; check that {} exists and is writable",
                dir.join(format!("{name}.1")).display(),
                dir.display()
            ));
        }
    }
    ExitCode::SUCCESS
}

/// Logs go to `<data dir>/logs/cli.YYYY-MM-DD.log` and warnings to stderr; when the data dir
/// cannot be written, stderr alone (the command itself will say what is wrong).
fn init_logs(global: &GlobalOpts) -> Option<layers_uploader::diagnostics::LogGuard> {
    let dir = global
        .data_dir
        .clone()
        .or_else(layers_uploader::paths::default_data_dir);
    if let Some(dir) = dir {
        let stderr = layers_uploader::diagnostics::StderrLog {
            level: output::stderr_level(global.quiet, global.verbose),
            ansi: output::colour(),
        };
        match layers_uploader::diagnostics::init_logging(&dir, "cli", stderr) {
            Ok(guard) => return Some(guard),
            // Said once; the command goes on (and says itself if the data dir is unusable).
            Err(e) => eprintln!("layers-upload: warning: {e}; going on without a log file"),
        }
    }
    let level = output::stderr_level(global.quiet, global.verbose);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LAYERS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_ansi(output::colour())
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
