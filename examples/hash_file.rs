//! Prints the sha-256 of each file given, with the engine's own hashing (the function inspection
//! and re-checks use), in `sha256sum`'s format: `bench/` times it against `sha256sum`.
//!
//! ```text
//! cargo run --release --example hash_file -- FILE...
//! ```

use std::path::Path;

fn main() -> anyhow::Result<()> {
    for arg in std::env::args_os().skip(1) {
        let path = Path::new(&arg);
        let hash = layers_uploader::media::inspect::sha256_path(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        println!("{hash}  {}", path.display());
    }
    Ok(())
}
