//! The one retry policy every caller uses (the client never retries by itself): `429` waits
//! exactly its `Retry-After` (capped, and said so), `5xx`, timeouts and dropped connections
//! back off exponentially with full jitter; anything else is final. [`RetryPolicy::run_observed`]
//! wraps a call in it and reports each wait, so a CLI or an app only prints; the queue's runner
//! uses the same numbers but persists its waits.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{ApiError, NetworkKind};

/// The longest a server's `Retry-After` makes us wait in one go: a longer ask is treated as
/// this (and reported), so a misconfigured server cannot park an upload for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// What a retry policy needs to know about an error.
pub trait Retryable {
    /// May the same request succeed later?
    fn is_retryable(&self) -> bool;
    /// A wait the server asked for, which overrides backoff.
    fn retry_after(&self) -> Option<Duration>;
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        ApiError::is_retryable(self)
    }
    fn retry_after(&self) -> Option<Duration> {
        ApiError::retry_after(self)
    }
}

/// Exponential backoff with full jitter (AWS style): attempt `n` waits a uniform random time in
/// `[0, min(cap, base·2ⁿ)]`; a server's `Retry-After` is used as given instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First attempt's ceiling.
    pub base: Duration,
    /// Largest ceiling.
    pub cap: Duration,
    /// Total tries including the first one (`u32::MAX`: no limit).
    pub max_attempts: u32,
    /// Time from the first try past which no wait starts; `None`: no limit.
    pub budget: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            max_attempts: 5,
            budget: None,
        }
    }
}

/// How long to wait before the next try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The wait.
    pub delay: Duration,
    /// What the server asked for, when that was more than [`MAX_RETRY_AFTER`].
    pub capped_from: Option<Duration>,
}

/// One wait between tries, for whoever shows progress.
#[derive(Debug)]
pub struct RetryNotice<'a, E> {
    /// The try coming next (2 after the first failure).
    pub next_attempt: u32,
    /// The tries allowed, `None` when unlimited.
    pub max_attempts: Option<u32>,
    /// The wait before it.
    pub wait: Wait,
    /// Why the last try failed.
    pub error: &'a E,
}

/// A call that did not succeed within the policy.
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The last failure.
    pub error: E,
    /// Tries made.
    pub attempts: u32,
    /// Time since the first try.
    pub elapsed: Duration,
}

impl<E: Retryable> GaveUp<E> {
    /// True when the error itself was final (e.g. `401`); false when tries or time ran out.
    pub fn is_final(&self) -> bool {
        !self.error.is_retryable()
    }
}

impl RetryPolicy {
    /// For a command that cannot start without the API (the CLI's key check): five tries,
    /// ceilings 1, 2, 4, 8 s, all within 55 s, so a blip or a `429` is ridden out and a dead
    /// API still ends the command within a minute.
    pub fn startup() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
            max_attempts: 5,
            budget: Some(Duration::from_secs(55)),
        }
    }

    /// For what must never give up on a passing failure (`watch`, the app): the default
    /// backoff with no limit on tries or time. Final errors (`401`, `403`) still end it.
    pub fn forever() -> RetryPolicy {
        RetryPolicy {
            max_attempts: u32::MAX,
            budget: None,
            ..RetryPolicy::default()
        }
    }

    /// The ceiling of the wait after failed attempt `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A full-jitter wait after failed attempt `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(fastrand::f64())
    }

    /// The wait after failed attempt `attempt` (0-based): the server's `Retry-After` exactly
    /// (up to [`MAX_RETRY_AFTER`]), else jittered backoff.
    pub fn wait_for<E: Retryable>(&self, error: &E, attempt: u32) -> Wait {
        match error.retry_after() {
            Some(asked) => server_wait(asked),
            None => Wait {
                delay: self.backoff(attempt),
                capped_from: None,
            },
        }
    }

    /// How long to wait before the next try, or `None` to give up (not retryable, or attempts
    /// used up). `attempt` is the 0-based number of the attempt that just failed.
    pub fn next_delay<E: Retryable>(&self, error: &E, attempt: u32) -> Option<Duration> {
        if !error.is_retryable() || attempt.saturating_add(1) >= self.max_attempts {
            return None;
        }
        Some(self.wait_for(error, attempt).delay)
    }

    /// Runs `op` until it succeeds, fails for good, or attempts (or the budget) run out. `op`
    /// must reuse the same Idempotency-Key on every call: that is what makes a retried POST
    /// safe.
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Retryable + std::fmt::Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_observed(op, |n| {
            tracing::info!(
                attempt = n.next_attempt,
                wait_ms = n.wait.delay.as_millis() as u64,
                error = %n.error,
                "retrying"
            );
        })
        .await
        .map_err(|g| g.error)
    }

    /// Like [`RetryPolicy::run`], telling `notice` before every wait, and saying on failure
    /// how many tries were made. A wait that would end past the budget is not started.
    pub async fn run_observed<T, E, F, Fut, N>(
        &self,
        mut op: F,
        mut notice: N,
    ) -> Result<T, GaveUp<E>>
    where
        E: Retryable,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        N: FnMut(&RetryNotice<'_, E>),
    {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let error = match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let gave_up = |error| GaveUp {
                error,
                attempts: attempt + 1,
                elapsed: started.elapsed(),
            };
            if !error.is_retryable() || attempt.saturating_add(1) >= self.max_attempts {
                return Err(gave_up(error));
            }
            let wait = self.wait_for(&error, attempt);
            if let Some(budget) = self.budget {
                if started.elapsed() + wait.delay > budget {
                    return Err(gave_up(error));
                }
            }
            notice(&RetryNotice {
                next_attempt: attempt + 2,
                max_attempts: (self.max_attempts != u32::MAX).then_some(self.max_attempts),
                wait,
                error: &error,
            });
            tokio::time::sleep(wait.delay).await;
            attempt += 1;
        }
    }
}

/// A server-requested wait, capped at [`MAX_RETRY_AFTER`].
pub fn server_wait(asked: Duration) -> Wait {
    if asked > MAX_RETRY_AFTER {
        Wait {
            delay: MAX_RETRY_AFTER,
            capped_from: Some(asked),
        }
    } else {
        Wait {
            delay: asked,
            capped_from: None,
        }
    }
}

/// What is wrong, in a few words for a progress line ("Layers rate-limited the key check"):
/// `what` is the call, e.g. "the key check".
pub fn trouble(error: &ApiError, what: &str) -> String {
    match error {
        ApiError::RateLimited { .. } => format!("Layers rate-limited {what}"),
        ApiError::Network {
            kind: NetworkKind::Timeout,
            host,
            ..
        } => format!("Layers at {host} did not answer {what} in time"),
        ApiError::Network { host, detail, .. } => {
            format!("Layers unreachable at {host} ({detail}) during {what}")
        }
        ApiError::Server { status, .. } | ApiError::Unexpected { status, .. } => {
            format!("Layers answered {what} with a server error (HTTP {status})")
        }
        other => format!("{what} failed: {other}"),
    }
}

/// A wait as people read it: "0.4 s", "3 s", "2 min 5 s", "24 h".
pub fn human_wait(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 {
        let tenths = ms.div_ceil(100);
        if tenths.is_multiple_of(10) {
            format!("{} s", tenths / 10)
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
    } else {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        match (secs / 3600, secs / 60 % 60, secs % 60) {
            (0, 0, s) => format!("{s} s"),
            (0, m, 0) => format!("{m} min"),
            (0, m, s) => format!("{m} min {s} s"),
            (h, 0, _) => format!("{h} h"),
            (h, m, _) => format!("{h} h {m} min"),
        }
    }
}

/// The line a waiting command prints: "Layers rate-limited the key check; trying again in
/// 1 s (attempt 2 of 5)", with the cap said when the server asked for more.
pub fn waiting_line(notice: &RetryNotice<'_, ApiError>, what: &str) -> String {
    let of = notice
        .max_attempts
        .map(|m| format!(" of {m}"))
        .unwrap_or_default();
    let capped = notice
        .wait
        .capped_from
        .map(|asked| {
            format!(
                "; it asked for {}, more than the {} this client waits at most",
                human_wait(asked),
                human_wait(MAX_RETRY_AFTER)
            )
        })
        .unwrap_or_default();
    format!(
        "{}; trying again in {} (attempt {}{of}){capped}",
        trouble(notice.error, what),
        human_wait(notice.wait.delay),
        notice.next_attempt
    )
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
