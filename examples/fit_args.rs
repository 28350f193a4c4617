//! Prints, as one JSON array, the exact ffmpeg arguments `layers-upload fit` would run to make
//! OUTPUT from SOURCE (the engine's own planner and encoder settings, `LAYERS_FIT_PRESET`
//! honoured): `bench/fit.py` times that plain ffmpeg command against `layers-upload fit`.
//!
//! ```text
//! cargo run --release --example fit_args -- SOURCE OUTPUT
//! ```

use std::path::PathBuf;

use layers_uploader::media::fit_convert;
use layers_uploader::media::fit_encode::{ffmpeg_args, EncodeSettings};
use layers_uploader::media::fit_plan::{FitPlan, PlanOptions};
use layers_uploader::media::{Inspector, Limits};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(source), Some(output)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: fit_args SOURCE OUTPUT");
    };
    let limits = Limits::from_env();
    let ins = Inspector::new(limits).inspect(&source);
    let options = PlanOptions {
        trim: false,
        video_cap_bytes: limits.video_cap_bytes,
    };
    match fit_convert::plan_for(&ins, &options)? {
        Some(FitPlan::Convert { spec, .. }) => {
            let argv: Vec<String> =
                ffmpeg_args(&ins.local_path, &output, &spec, &EncodeSettings::from_env())
                    .into_iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
            println!("{}", serde_json::to_string(&argv)?);
            Ok(())
        }
        other => anyhow::bail!("{}: no copy would be made ({other:?})", source.display()),
    }
}
