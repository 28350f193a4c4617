//! The shared application state every handler sees: configuration, the signer, the world
//! under its mutex, the idempotency store, the write limiter and the failure-injection counters.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use layers_uploader::media::Limits;
use sha2::{Digest, Sha256};

use crate::config::SandboxConfig;
use crate::error::ApiError;
use crate::idempotency::IdempotencyStore;
use crate::persist::{self, Loaded, PersistError};
use crate::ratelimit::WriteLimiter;
use crate::signing::Signer;
use crate::state::World;

/// Hex sha-256 of a secret, so we can compare keys without keeping them.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Per-run shared state.
pub struct App {
    pub config: SandboxConfig,
    pub base_url: String,
    pub projects: Vec<String>,
    pub limits: Limits,
    pub signer: Signer,
    pub data_dir: PathBuf,
    pub idempotency: IdempotencyStore,
    pub writes: WriteLimiter,
    world: Mutex<World>,
    dirty: AtomicBool,
    /// Bumped (under the world lock) on every world access and every cached answer.
    version: AtomicU64,
    /// The version the state file holds; held while writing it (one writer at a time).
    saved: tokio::sync::Mutex<u64>,
    fail_put_left: AtomicU64,
    fail_finalize_left: AtomicU64,
    fail_whoami_left: Mutex<VecDeque<u16>>,
    container_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    scopes_by_key_hash: HashMap<String, Vec<String>>,
    loops_key_hash: Option<String>,
    /// Private mode's key, as its hash (see [`SandboxConfig::private_key`]).
    private_key_hash: Option<String>,
}

impl App {
    /// Builds the state for a run; the config's secrets are kept only as hashes.
    /// `loaded` is what a previous run in the same data dir saved.
    pub fn new(
        mut config: SandboxConfig,
        base_url: String,
        data_dir: PathBuf,
        loaded: Option<Loaded>,
    ) -> Self {
        let scopes_by_key_hash = config
            .key_scopes
            .drain()
            .map(|(k, v)| (secret_hash(&k), v))
            .collect();
        let loops_key_hash = config.loops_key.take().map(|k| secret_hash(&k));
        let private_key_hash = config.private_key.take().map(|k| secret_hash(&k));
        let idempotency = IdempotencyStore::default();
        let (signer, world) = match loaded {
            Some(l) => {
                idempotency.import(l.idempotency);
                (Signer::from_secret(l.signer_secret), l.world)
            }
            None => (Signer::random(), World::default()),
        };
        App {
            projects: config.project_ids(),
            limits: config.limits(),
            writes: WriteLimiter::new(config.writes_per_minute),
            fail_put_left: AtomicU64::new(config.fail_put_first),
            fail_finalize_left: AtomicU64::new(config.fail_finalize_first),
            fail_whoami_left: Mutex::new(config.fail_whoami.iter().copied().collect()),
            config,
            base_url,
            signer,
            data_dir,
            idempotency,
            world: Mutex::new(world),
            dirty: AtomicBool::new(false),
            version: AtomicU64::new(1),
            saved: tokio::sync::Mutex::new(0),
            container_locks: Mutex::new(HashMap::new()),
            scopes_by_key_hash,
            loops_key_hash,
            private_key_hash,
        }
    }

    /// The world, locked; a poisoned lock is recovered because every mutation is a single step.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.dirty.store(true, Ordering::Relaxed);
        let guard = self.world.lock().unwrap_or_else(|p| p.into_inner());
        // Under the lock: a snapshot that reads version N holds every change made before N.
        self.version.fetch_add(1, Ordering::SeqCst);
        guard
    }

    /// Marks the saved state stale (something outside the world changed, e.g. a cached answer).
    pub fn touch(&self) {
        drop(self.world());
    }

    /// Writes the state file unless it already holds every change made before this call.
    /// Called before a mutation is acknowledged, so an answer the client saw survives a crash.
    /// A sandbox on a temp data dir (removed on exit, never reloaded) saves nothing.
    pub async fn persist(&self) -> Result<(), PersistError> {
        if self.config.data_dir.is_none() {
            return Ok(());
        }
        let wanted = self.version.load(Ordering::SeqCst);
        let mut saved = self.saved.lock().await;
        if *saved >= wanted {
            return Ok(()); // a write that started after our change already covers it
        }
        let (version, bytes) = {
            let world = self.world.lock().unwrap_or_else(|p| p.into_inner());
            let version = self.version.load(Ordering::SeqCst);
            let bytes = persist::encode(
                &self.base_url,
                self.signer.secret(),
                &world,
                self.idempotency.export(),
            )?;
            (version, bytes)
        };
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || persist::write_atomic(&dir, &bytes))
            .await
            .map_err(|e| PersistError::Io {
                path: self.data_dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        *saved = version;
        Ok(())
    }

    /// True once after any access to the world since the last call (drives the snapshot).
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::Relaxed)
    }

    /// Consumes one injected PUT failure, if any are left.
    pub fn take_put_failure(&self) -> bool {
        take_one(&self.fail_put_left)
    }

    /// Consumes one injected finalize failure, if any are left.
    pub fn take_finalize_failure(&self) -> bool {
        take_one(&self.fail_finalize_left)
    }

    /// The status of the next injected whoami failure, if any are left.
    pub fn take_whoami_failure(&self) -> Option<u16> {
        self.fail_whoami_left
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Now by the sandbox's clock (the machine's plus `--clock-offset-secs`), in epoch ms.
    pub fn now_ms(&self) -> u64 {
        crate::clock::offset(crate::clock::now_ms(), self.config.clock_offset_secs)
    }

    /// Now by the sandbox's clock, in epoch seconds.
    pub fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// The async lock that serializes finalize (and reaping) of one container.
    pub fn container_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .container_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_string()).or_default().clone()
    }

    /// Whether a container's lock is free right now (the reaper skips busy ones).
    pub fn container_idle(&self, id: &str) -> bool {
        let locks = self
            .container_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match locks.get(id) {
            Some(lock) => lock.try_lock().is_ok(),
            None => true,
        }
    }

    /// `404 NOT_FOUND` unless the organisation owns this project.
    pub fn require_project(&self, project_id: &str) -> Result<(), ApiError> {
        if self.projects.iter().any(|p| p == project_id) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "Project {project_id} not found in your organization."
            )))
        }
    }

    /// Scopes of a Layers key: narrowed by `--key-scopes`, else all of them.
    pub fn scopes_for(&self, key_hash: &str) -> Vec<String> {
        self.scopes_by_key_hash
            .get(key_hash)
            .cloned()
            .unwrap_or_else(|| {
                crate::config::ALL_SCOPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            })
    }

    /// Whether a Loops bearer is accepted: the configured key, or any non-empty one.
    pub fn loops_key_ok(&self, presented: &str) -> bool {
        match &self.loops_key_hash {
            Some(h) => *h == secret_hash(presented),
            None => !presented.trim().is_empty(),
        }
    }

    /// Whether private mode is on.
    pub fn is_private(&self) -> bool {
        self.private_key_hash.is_some()
    }

    /// Whether this Layers key may be used: any well-formed one, or in private mode only its key.
    pub fn layers_key_ok(&self, key_hash: &str) -> bool {
        self.private_key_hash
            .as_deref()
            .is_none_or(|h| h == key_hash)
    }

    /// Where an object key lives on disk.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.data_dir.join("objects").join(key)
    }

    /// A fresh temp path for an incoming body (same filesystem as the objects, for rename).
    pub fn temp_path(&self, ext: &str) -> PathBuf {
        self.data_dir
            .join("tmp")
            .join(format!("{}.{ext}", uuid::Uuid::new_v4().simple()))
    }

    /// The public URL an object is served from.
    pub fn media_url(&self, key: &str) -> String {
        format!("{}/media/{key}", self.base_url)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn take_one(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}
