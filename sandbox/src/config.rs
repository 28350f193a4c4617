//! Everything that shapes one sandbox run. The CLI flags map onto [`SandboxConfig`] one to one,
//! and in-process users (the app, integration tests) build it with the chainable setters.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use layers_uploader::media::Limits;

/// The project every run serves unless `--project` names others (printed as `PROJECT <id>`).
pub const DEFAULT_PROJECT_ID: &str = "254a4ce1-f4ca-42b1-9e36-17ca45ef3d39";

/// Every scope a key has unless `--key-scopes` narrows it.
pub const ALL_SCOPES: [&str; 4] = [
    "content:read",
    "content:write",
    "projects:read",
    "projects:write",
];

/// How one sandbox run behaves; `Default` is the documented service with an ephemeral port.
#[derive(Clone)]
pub struct SandboxConfig {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where objects and the state snapshot live; `None` means a temp dir removed on shutdown.
    pub data_dir: Option<PathBuf>,
    /// Lifetime of every presigned URL (documented: 15 minutes).
    pub url_ttl: Duration,
    /// Age after which an unfinalized session is reaped and its quota freed (documented: ~2 h).
    pub reap_after: Duration,
    /// Per-project upload count quota.
    pub max_uploads: u64,
    /// Per-project declared-bytes quota.
    pub max_bytes: u64,
    /// Overrides the 100 MB video cap (the docs call the cap operational).
    pub video_cap_bytes: Option<u64>,
    /// POST/PATCH budget per key per minute under `/v1`; `None` disables the limiter.
    pub writes_per_minute: Option<u32>,
    /// Drop the connection mid-body for this many storage PUTs (counted globally).
    pub fail_put_first: u64,
    /// Answer 500 to this many finalize calls (counted globally).
    pub fail_finalize_first: u64,
    /// Throttle storage PUT reads to this many bytes per second.
    pub slow_put_bps: Option<u64>,
    /// Hold every content finalize this long before it runs (a slow server: lets a test act
    /// while a finalize is in flight).
    pub slow_finalize: Option<Duration>,
    /// Projects the organisation owns; empty means [`DEFAULT_PROJECT_ID`].
    pub projects: Vec<String>,
    /// Let URL-fetch reach `http://127.0.0.1` origins (the real service refuses them).
    pub allow_loopback_fetch: bool,
    /// The only Loops key accepted; `None` accepts any non-empty bearer.
    pub loops_key: Option<String>,
    /// Full Layers key → its scopes, for keys that must not have every scope.
    pub key_scopes: HashMap<String, Vec<String>>,
    /// URL-fetch budget per URL, redirects included (documented: 60 s).
    pub fetch_timeout: Duration,
    /// Seconds the sandbox's clock is ahead of the machine's (negative: behind). Applies to
    /// everything it stamps and judges: `Date`, `expiresAt`, URL signatures, reaping.
    pub clock_offset_secs: i64,
    /// Statuses (429, 401, 403 or 5xx) the first `GET /v1/whoami` calls answer with, in order; a 200
    /// in the list answers that call normally.
    pub fail_whoami: Vec<u16>,
    /// Send a fault's `Retry-After` as an HTTP date (by the sandbox's clock) instead of
    /// seconds.
    pub retry_after_as_date: bool,
    /// Private mode (the app's embedded sandbox): the only Layers key accepted, also required
    /// on `/_sandbox/*` and `/media/*`, and every request's `Host` must be this loopback port.
    pub private_key: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            data_dir: None,
            url_ttl: Duration::from_secs(900),
            reap_after: Duration::from_secs(7200),
            max_uploads: 250,
            max_bytes: 26_843_545_600,
            video_cap_bytes: None,
            writes_per_minute: None,
            fail_put_first: 0,
            fail_finalize_first: 0,
            slow_put_bps: None,
            slow_finalize: None,
            projects: Vec::new(),
            allow_loopback_fetch: false,
            loops_key: None,
            key_scopes: HashMap::new(),
            fetch_timeout: Duration::from_secs(60),
            clock_offset_secs: 0,
            fail_whoami: Vec::new(),
            retry_after_as_date: false,
            private_key: None,
        }
    }
}

// Keys are secrets: Debug shows only how many there are.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("url_ttl", &self.url_ttl)
            .field("reap_after", &self.reap_after)
            .field("max_uploads", &self.max_uploads)
            .field("max_bytes", &self.max_bytes)
            .field("video_cap_bytes", &self.video_cap_bytes)
            .field("writes_per_minute", &self.writes_per_minute)
            .field("fail_put_first", &self.fail_put_first)
            .field("fail_finalize_first", &self.fail_finalize_first)
            .field("slow_put_bps", &self.slow_put_bps)
            .field("slow_finalize", &self.slow_finalize)
            .field("projects", &self.projects)
            .field("allow_loopback_fetch", &self.allow_loopback_fetch)
            .field("loops_key", &self.loops_key.as_ref().map(|_| "<redacted>"))
            .field("key_scopes", &format!("<{} keys>", self.key_scopes.len()))
            .field("fetch_timeout", &self.fetch_timeout)
            .field("clock_offset_secs", &self.clock_offset_secs)
            .field("fail_whoami", &self.fail_whoami)
            .field("retry_after_as_date", &self.retry_after_as_date)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl SandboxConfig {
    /// Sets the port (0 = ephemeral).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Keeps objects and state in this directory instead of a temp dir.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the presigned-URL lifetime.
    pub fn url_ttl(mut self, ttl: Duration) -> Self {
        self.url_ttl = ttl;
        self
    }

    /// Sets how long an unfinalized session lives before it is reaped.
    pub fn reap_after(mut self, after: Duration) -> Self {
        self.reap_after = after;
        self
    }

    /// Sets the per-project upload-count quota.
    pub fn max_uploads(mut self, n: u64) -> Self {
        self.max_uploads = n;
        self
    }

    /// Sets the per-project byte quota.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// Overrides the video size cap.
    pub fn video_cap_bytes(mut self, n: u64) -> Self {
        self.video_cap_bytes = Some(n);
        self
    }

    /// Enables the write limiter at `n` POST/PATCH per key per minute.
    pub fn writes_per_minute(mut self, n: u32) -> Self {
        self.writes_per_minute = Some(n);
        self
    }

    /// Drops the first `n` storage PUTs mid-body.
    pub fn fail_put_first(mut self, n: u64) -> Self {
        self.fail_put_first = n;
        self
    }

    /// Fails the first `n` finalize calls with 500.
    pub fn fail_finalize_first(mut self, n: u64) -> Self {
        self.fail_finalize_first = n;
        self
    }

    /// Throttles storage PUT reads to `bps` bytes per second.
    pub fn slow_put_bps(mut self, bps: u64) -> Self {
        self.slow_put_bps = Some(bps);
        self
    }

    /// Holds every content finalize for `delay` before it runs.
    pub fn slow_finalize(mut self, delay: Duration) -> Self {
        self.slow_finalize = Some(delay);
        self
    }

    /// Adds a project the organisation owns (repeatable).
    pub fn project(mut self, id: impl Into<String>) -> Self {
        self.projects.push(id.into());
        self
    }

    /// Allows URL-fetch from `http://127.0.0.1` origins.
    pub fn allow_loopback_fetch(mut self, allow: bool) -> Self {
        self.allow_loopback_fetch = allow;
        self
    }

    /// Accepts only this Loops key.
    pub fn loops_key(mut self, key: impl Into<String>) -> Self {
        self.loops_key = Some(key.into());
        self
    }

    /// Restricts a Layers key to these scopes.
    pub fn key_scopes(mut self, key: impl Into<String>, scopes: &[&str]) -> Self {
        self.key_scopes
            .insert(key.into(), scopes.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Sets the URL-fetch budget per URL.
    pub fn fetch_timeout(mut self, budget: Duration) -> Self {
        self.fetch_timeout = budget;
        self
    }

    /// Runs the sandbox's clock `secs` ahead of the machine's (negative: behind).
    pub fn clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }

    /// Answers the first `GET /v1/whoami` calls with these statuses (429 gets `Retry-After:
    /// 1`, 200 answers normally), then normally.
    pub fn fail_whoami(mut self, statuses: &[u16]) -> Self {
        self.fail_whoami = statuses.to_vec();
        self
    }

    /// Sends injected `Retry-After`s as HTTP dates instead of seconds.
    pub fn retry_after_as_date(mut self, yes: bool) -> Self {
        self.retry_after_as_date = yes;
        self
    }

    /// Private mode: only `key` opens the API, the test surface and stored bytes, and only
    /// requests addressed to `127.0.0.1:<port>`/`localhost:<port>` are served (no other local
    /// user without the key, no DNS-rebinding page, can read what was uploaded).
    pub fn private_key(mut self, key: impl Into<String>) -> Self {
        self.private_key = Some(key.into());
        self
    }

    /// The projects served: the configured ones, or the default one.
    pub fn project_ids(&self) -> Vec<String> {
        if self.projects.is_empty() {
            vec![DEFAULT_PROJECT_ID.to_string()]
        } else {
            self.projects.clone()
        }
    }

    /// The size caps in force, shared with `media::inspect` so fit and caps agree.
    pub fn limits(&self) -> Limits {
        let mut limits = Limits::DOCUMENTED;
        if let Some(cap) = self.video_cap_bytes {
            limits.video_cap_bytes = cap;
        }
        limits
    }
}
