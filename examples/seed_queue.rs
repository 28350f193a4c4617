//! Fills a queue store with N queued posts (for the queue-scale measurements in `bench/`):
//! `cargo run --release --example seed_queue -- DATA_DIR PROJECT N FILE`. Every post points at
//! FILE (inspected once) and is forced, so dedupe does not collapse them.

use std::path::PathBuf;

use layers_uploader::api::types::Grouping;
use layers_uploader::media::{inspect, Limits};
use layers_uploader::queue::plan::plan_posts;
use layers_uploader::queue::store::{NewBatch, Store};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, project, n, file] = args.as_slice() else {
        anyhow::bail!("usage: seed_queue DATA_DIR PROJECT N FILE");
    };
    let n: usize = n.parse()?;
    let inspection = inspect(&PathBuf::from(file), &Limits::DOCUMENTED);
    let one = plan_posts(&[inspection], Grouping::PerFile, "seeded")
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let store = Store::open_in(&PathBuf::from(dir))?;
    let started = std::time::Instant::now();
    let batch = NewBatch {
        project_id: project.clone(),
        destination: "layers-content".into(),
        grouping: Grouping::PerFile,
        force: true,
        posts: std::iter::repeat_n(one[0].clone(), n).collect(),
    };
    let (batch_id, ids) = store.enqueue(&batch)?;
    eprintln!(
        "enqueued {} posts as batch {batch_id} in {:.0} ms",
        ids.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
