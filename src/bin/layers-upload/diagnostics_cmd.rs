//! `layers-upload diagnostics`: a support bundle (logs + queue summary, keys scrubbed).

use std::path::PathBuf;
use std::process::ExitCode;

use layers_uploader::diagnostics;

use crate::engine;
use crate::GlobalOpts;

/// Arguments of `diagnostics`.
#[derive(Debug, clap::Args)]
pub struct DiagnosticsArgs {
    /// Where to write the zip (default: layers-uploader-diagnostics-<time>.zip here).
    #[arg(long, value_name = "FILE.zip")]
    out: Option<PathBuf>,
    /// Print what was written as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Writes the bundle and says where it is.
pub fn run(global: &GlobalOpts, args: DiagnosticsArgs) -> ExitCode {
    let dir = match engine::data_dir(global) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(diagnostics::default_bundle_name()));
    match diagnostics::export(&dir, &out) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            }
            crate::output::say!(
                "layers-upload: wrote {} ({} log files, {} bytes); it holds no API key — attach it to your support request",
                report.path.display(),
                report.log_files,
                report.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => engine::cannot_start(e),
    }
}
