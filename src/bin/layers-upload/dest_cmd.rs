//! `fetch-url`, `media`, `loops` and `caption`: the other destinations from the command line.
//! The first three go through the persistent queue like `upload` (resumable, retried, deduped
//! where there are local bytes); `caption` is one PATCH.

use std::path::PathBuf;
use std::process::ExitCode;

use layers_uploader::api::types::MediaLibraryKind;
use layers_uploader::queue::caption::{fix_caption, CaptionFixError};
use layers_uploader::queue::dest::submit::{
    submit_loops, submit_media, submit_url_fetch, Submission, SubmitError,
};
use layers_uploader::queue::lock::RunLock;
use layers_uploader::queue::store::Store;
use layers_uploader::queue::{Clients, Scope};

use crate::engine::{self, RunOpts};
use crate::queue_cmd::{finish, read_caption_file};
use crate::GlobalOpts;

/// Arguments of `fetch-url`.
#[derive(Debug, clap::Args)]
pub struct FetchUrlArgs {
    /// The caption, published exactly as written (at most 2,200 characters; may be empty).
    #[arg(long, conflicts_with = "caption_file")]
    caption: Option<String>,
    /// Read the caption from a file (a leading BOM and one trailing newline are dropped).
    #[arg(long, value_name = "FILE")]
    caption_file: Option<PathBuf>,
    #[command(flatten)]
    run: RunOpts,
    /// 1–10 https URLs: one video, one image, or 2–10 images (a slideshow). One item in all.
    #[arg(required = true, value_name = "URL")]
    urls: Vec<String>,
}

/// The `--kind` values (the media library's classes).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KindArg {
    Image,
    Video,
    Audio,
    Logo,
    #[value(name = "reference_image")]
    ReferenceImage,
}

impl From<KindArg> for MediaLibraryKind {
    fn from(k: KindArg) -> MediaLibraryKind {
        match k {
            KindArg::Image => MediaLibraryKind::Image,
            KindArg::Video => MediaLibraryKind::Video,
            KindArg::Audio => MediaLibraryKind::Audio,
            KindArg::Logo => MediaLibraryKind::Logo,
            KindArg::ReferenceImage => MediaLibraryKind::ReferenceImage,
        }
    }
}

/// Arguments of `media`.
#[derive(Debug, clap::Args)]
pub struct MediaArgs {
    /// The media-library class (decides the allowed types and the cap: 50 MB for images,
    /// logos and reference images, 200 MB audio, 1 GB video).
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Upload even if the same bytes are already in the media library as this kind.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    run: RunOpts,
    /// Files, or folders (the files directly in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Arguments of `loops`.
#[derive(Debug, clap::Args)]
pub struct LoopsArgs {
    /// Upload even if the same bytes are already a Loops asset.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    run: RunOpts,
    /// JPEG, PNG, GIF or WebP images of at most 4,000,000 bytes (or folders of them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Arguments of `caption`.
#[derive(Debug, clap::Args)]
pub struct CaptionArgs {
    /// The content item to fix (`cnt_…`).
    #[arg(value_name = "CONTENT_ID")]
    content_id: String,
    /// The new caption, published exactly as written (at most 2,200 characters).
    #[arg(
        long,
        conflicts_with = "caption_file",
        required_unless_present = "caption_file"
    )]
    caption: Option<String>,
    /// Read the new caption from a file (a leading BOM and one trailing newline are dropped).
    #[arg(long, value_name = "FILE")]
    caption_file: Option<PathBuf>,
    /// Print the item as the server returns it after the change (one line on stdout).
    #[arg(long)]
    json: bool,
}

fn caption_of(text: &Option<String>, file: &Option<PathBuf>) -> Result<String, ExitCode> {
    match (text, file) {
        (Some(c), _) => Ok(c.clone()),
        (None, Some(f)) => read_caption_file(f).map_err(engine::cannot_start),
        (None, None) => Ok(String::new()),
    }
}

/// A refused submission: a rule broken (exit 1, like `upload`) or the store failing (exit 2).
fn refused(e: SubmitError) -> ExitCode {
    match e {
        SubmitError::Local(l) => {
            eprintln!("layers-upload: {} ({})", l.message, l.code.as_str());
            ExitCode::from(1)
        }
        other => engine::cannot_start(other),
    }
}

/// `fetch-url`: one URL-fetch through the queue (its Idempotency-Key is stored first).
pub async fn fetch_url(global: &GlobalOpts, args: FetchUrlArgs) -> ExitCode {
    let caption = match caption_of(&args.caption, &args.caption_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let project = match engine::project(global) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (store, client, lock) = match engine::start_run(global).await {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let submission = match submit_url_fetch(&store, &project, &args.urls, &caption) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let clients = Clients {
        layers: Some(client),
        loops: None,
    };
    let json = args.run.json;
    run_submission(store, clients, &args.run, json, submission, lock).await
}

/// `media --kind KIND`: each file into the media library; prints each finalize response.
pub async fn media(global: &GlobalOpts, args: MediaArgs) -> ExitCode {
    let project = match engine::project(global) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (store, client, lock) = match engine::start_run(global).await {
        Ok(parts) => parts,
        Err(code) => return code,
    };
    let paths = crate::probe::expand(&args.paths);
    let kind = MediaLibraryKind::from(args.kind);
    let submission = match submit_media(&store, &project, kind, &paths, args.force) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    report_rejected(&store, &submission);
    let clients = Clients {
        layers: Some(client),
        loops: None,
    };
    run_submission(store, clients, &args.run, true, submission, lock).await
}

/// `loops`: each image as a Loops email asset; prints each `{emailAssetId, finalUrl}`.
pub async fn loops(global: &GlobalOpts, args: LoopsArgs) -> ExitCode {
    let (dir, store) = match engine::open_store(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let client = match engine::connect_loops(global) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let lock = match RunLock::acquire(&dir) {
        Ok(l) => l,
        Err(e) => return engine::cannot_start(e),
    };
    let paths = crate::probe::expand(&args.paths);
    let submission = match submit_loops(&store, &paths, args.force) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    report_rejected(&store, &submission);
    let clients = Clients {
        layers: None,
        loops: Some(client),
    };
    run_submission(store, clients, &args.run, true, submission, lock).await
}

/// Says which files failed their destination's local rules (they never reach the network).
fn report_rejected(store: &Store, submission: &Submission) {
    for id in &submission.post_ids {
        if let Ok(post) = store.post(*id) {
            if let (Some(e), layers_uploader::queue::PostState::Failed) = (&post.error, post.state)
            {
                eprintln!(
                    "layers-upload: post {id} failed: {} ({}); fix it, then `layers-upload queue retry {id}`",
                    e.message, e.code
                );
            }
        }
    }
}

/// Runs one submitted batch to the end and turns the outcome into the exit code.
async fn run_submission(
    store: std::sync::Arc<Store>,
    clients: Clients,
    run: &RunOpts,
    json: bool,
    submission: Submission,
    _lock: RunLock,
) -> ExitCode {
    crate::output::say!(
        "layers-upload: batch {}: {} post(s)",
        submission.batch_id,
        submission.post_ids.len()
    );
    let runner = match engine::runner_with(store.clone(), clients, run, true) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let totals = engine::Totals::of(&store, &submission.post_ids);
    let scope = Scope::Batch(submission.batch_id.clone());
    let ended = engine::run_with_signals(&runner, scope, json, totals, None).await;
    finish(&store, ended, &submission.post_ids)
}

/// `caption CONTENT_ID`: `PATCH /v1/content/:id`, then the item as the server now has it.
pub async fn caption(global: &GlobalOpts, args: CaptionArgs) -> ExitCode {
    let caption = match caption_of(&args.caption, &args.caption_file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (_, store) = match engine::open_store(global) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let client = match engine::connect(global).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match fix_caption(&client, Some(&store), &args.content_id, &caption).await {
        Ok(item) => {
            crate::output::say!(
                "layers-upload: caption of {} updated ({} characters)",
                item.parsed.id,
                layers_uploader::api::types::caption_len(&caption)
            );
            if args.json {
                println!("{}", item.json_line);
            }
            ExitCode::SUCCESS
        }
        Err(CaptionFixError::Local(e)) => {
            eprintln!("layers-upload: {} ({})", e.message, e.code.as_str());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("layers-upload: the caption was not changed: {e}");
            ExitCode::from(1)
        }
    }
}
