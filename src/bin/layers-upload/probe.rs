//! `layers-upload probe [--json] PATH...`: the local inspection, as a table or JSON lines.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use layers_uploader::media::{fit, human_bytes, names, Inspection, Inspector, Limits};

/// Arguments of `probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// One JSON object per file on stdout (camelCase keys).
    #[arg(long)]
    json: bool,
    /// Files, or folders (meaning the files directly in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Inspects every path; exit 0 when all are accepted, 1 when any has a hard error.
pub fn run(args: ProbeArgs) -> ExitCode {
    let paths = expand(&args.paths);
    let inspector = Inspector::new(Limits::from_env());
    let results = inspector.inspect_all(&paths);
    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        results.iter().try_for_each(|r| {
            let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
            writeln!(stdout, "{line}")
        })
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        write_table(&mut stdout, &results, color)
    };
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("layers-upload: cannot write output: {e}");
            return ExitCode::from(2);
        }
    }
    if results.iter().all(Inspection::is_accepted) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Replaces each folder by the files directly in it, in name order, leaving out hidden and
/// partial files (the names an export in progress uses) and caption sidecars (`*.txt`).
/// Sub-folders are not entered; anything else that is not a regular file (a pipe, a link that
/// leads nowhere or in a circle) is kept, so its row says what is wrong with it.
/// Anything else, missing paths included, is passed through so it gets its own error row.
pub fn expand(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(p) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| !f.is_dir() && !is_ignored_name(f))
                .collect(),
            Err(_) => vec![p.clone()],
        };
        files.sort();
        out.extend(files);
    }
    out
}

fn is_ignored_name(path: &Path) -> bool {
    names::is_partial_or_hidden(path) || names::is_caption_sidecar(path)
}

/// One figure line as the app shows it: `1080×1920 · 31.0 s · 29.97 fps · H.264/AAC · 8.1 Mbps · 38MB`.
pub fn figures(r: &Inspection) -> String {
    let mut parts = Vec::new();
    if let (Some(w), Some(h)) = (r.width, r.height) {
        parts.push(format!("{w}×{h}"));
    }
    if let Some(ms) = r.duration_ms {
        parts.push(format!("{:.1} s", ms as f64 / 1000.0));
    }
    if let Some(fps) = r.fps {
        parts.push(format!("{} fps", fit::fps_text(fps)));
    }
    if let Some(v) = &r.video_codec {
        let audio = r
            .audio_codec
            .as_deref()
            .map_or("silent".to_string(), codec_name);
        parts.push(format!("{}/{}", codec_name(v), audio));
    }
    if let Some(b) = r.bitrate_bps {
        parts.push(fit::mbps(b));
    }
    parts.push(human_bytes(r.size_bytes));
    parts.join(" · ")
}

fn codec_name(c: &str) -> String {
    match c {
        "h264" => "H.264".into(),
        "hevc" => "HEVC".into(),
        "aac" => "AAC".into(),
        "mpeg4" => "MPEG-4".into(),
        other => other.to_uppercase(),
    }
}

fn write_table(out: &mut impl Write, results: &[Inspection], color: bool) -> std::io::Result<()> {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let name_width = results
        .iter()
        .map(|r| short_name(&r.path).chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let type_width = results
        .iter()
        .map(|r| r.content_type.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(1);
    for r in results {
        let name = short_name(&r.path);
        let mark = if r.is_accepted() {
            paint("32", "✓")
        } else {
            paint("31", "✗")
        };
        let platforms: Vec<String> = r
            .platform_fit
            .iter()
            .map(|p| {
                let label = platform_label(&p.platform);
                if p.ok {
                    paint("32", &format!("{label} ✓"))
                } else {
                    paint("33", &format!("{label} !"))
                }
            })
            .collect();
        writeln!(
            out,
            "{mark} {name:<name_width$}  {:<type_width$}  {}  {}",
            r.content_type.as_deref().unwrap_or("-"),
            figures(r),
            platforms.join("  ")
        )?;
        for e in &r.errors {
            writeln!(out, "    {} {}", paint("31", e.code.as_str()), e.message)?;
        }
        // The launch set shares one rule set: list each issue once, naming the platforms.
        let mut seen: Vec<&str> = Vec::new();
        for p in &r.platform_fit {
            for issue in &p.issues {
                if seen.contains(&issue.as_str()) {
                    continue;
                }
                seen.push(issue);
                let on: Vec<&str> = r
                    .platform_fit
                    .iter()
                    .filter(|q| q.issues.contains(issue))
                    .map(|q| platform_label(&q.platform))
                    .collect();
                writeln!(
                    out,
                    "    {} {issue}",
                    paint("33", &format!("{}:", on.join("/")))
                )?;
            }
        }
    }
    let rejected = results.iter().filter(|r| !r.is_accepted()).count();
    let unfit = results
        .iter()
        .filter(|r| r.is_accepted() && r.platform_fit.iter().any(|p| !p.ok))
        .count();
    writeln!(
        out,
        "{} file(s): {} accepted ({} with platform-fit issues), {} rejected",
        results.len(),
        results.len() - rejected,
        unfit,
        rejected
    )
}

fn platform_label(p: &str) -> &str {
    match p {
        "tiktok" => "TikTok",
        "instagram" => "Instagram",
        other => other,
    }
}

fn short_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}
