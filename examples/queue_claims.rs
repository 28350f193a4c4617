//! Claim + state-transition throughput of the queue store, without the network (for
//! `bench/shared_queue.py`): `cargo run --release --example queue_claims -- STORE DATA_DIR
//! RUNNERS POSTS FILE`, where STORE is `sqlite` or a postgres:// URL. It enqueues POSTS forced
//! posts, then RUNNERS threads, each with its own store handle (its own connection) and
//! machine name, claim posts a few at a time and walk each through every step a real upload
//! commits (reserve, session, upload, uploaded, finalize, complete). Prints one JSON line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use layers_uploader::api::types::Grouping;
use layers_uploader::media::{inspect, Limits};
use layers_uploader::queue::plan::plan_posts;
use layers_uploader::queue::state::PostEvent;
use layers_uploader::queue::store::{now_ms, Change, NewBatch, Store, StoreLocation};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, dir, runners, posts, file] = args.as_slice() else {
        anyhow::bail!("usage: queue_claims STORE DATA_DIR RUNNERS POSTS FILE");
    };
    let location = StoreLocation::parse(Some(store)).map_err(|e| anyhow::anyhow!(e))?;
    let dir = PathBuf::from(dir);
    let runners: usize = runners.parse()?;
    let n: usize = posts.parse()?;
    let inspection = inspect(&PathBuf::from(file), &Limits::DOCUMENTED);
    let one = plan_posts(&[inspection], Grouping::PerFile, "bench")
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let seed = Store::open_at(&location, &dir)?;
    seed.enqueue(&NewBatch {
        project_id: "prj_bench".into(),
        destination: "layers-content".into(),
        grouping: Grouping::PerFile,
        force: true,
        posts: std::iter::repeat_n(one[0].clone(), n).collect(),
    })?;
    drop(seed);
    let started = Instant::now();
    let handles: Vec<_> = (0..runners)
        .map(|i| {
            let location = location.clone();
            let dir = dir.clone();
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let store = Arc::new(Store::open_at(&location, &dir)?);
                store.take_leases(&format!("bench-{i}"));
                let mut done = 0;
                loop {
                    let ids = store.runnable_bounded(now_ms(), None, 4)?;
                    if ids.is_empty() {
                        break;
                    }
                    for id in ids {
                        for event in [
                            PostEvent::Reserve,
                            PostEvent::SessionCreated,
                            PostEvent::StartUpload,
                            PostEvent::AllUploaded,
                        ] {
                            store.transition(id, event, Change::default())?;
                        }
                        store.begin_finalize(id)?;
                        store.complete(id, &format!("cnt_{id}"), "{}")?;
                        done += 1;
                    }
                }
                store.release_leases()?;
                Ok(done)
            })
        })
        .collect();
    let mut per_runner = Vec::new();
    for h in handles {
        per_runner.push(
            h.join()
                .map_err(|_| anyhow::anyhow!("a runner panicked"))??,
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let total: usize = per_runner.iter().sum();
    anyhow::ensure!(total == n, "{total} posts completed, expected {n}");
    println!(
        "{}",
        serde_json::json!({
            "runners": runners, "posts": n, "seconds": secs,
            "postsPerSecond": n as f64 / secs, "perRunner": per_runner,
        })
    );
    Ok(())
}
