//! Retry policy for callers (the queue's runner owns when to retry; the client never retries by
//! itself): exponential backoff with full jitter, and `Retry-After` honoured exactly.

use std::future::Future;
use std::time::Duration;

use super::error::ApiError;

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
    /// Total tries including the first one.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
            max_attempts: 5,
        }
    }
}

impl RetryPolicy {
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

    /// How long to wait before the next try, or `None` to give up (not retryable, or attempts
    /// used up). `attempt` is the 0-based number of the attempt that just failed.
    pub fn next_delay<E: Retryable>(&self, error: &E, attempt: u32) -> Option<Duration> {
        if !error.is_retryable() || attempt + 1 >= self.max_attempts {
            return None;
        }
        Some(error.retry_after().unwrap_or_else(|| self.backoff(attempt)))
    }

    /// Runs `op` until it succeeds, fails for good, or attempts run out. `op` must reuse the
    /// same Idempotency-Key on every call: that is what makes a retried POST safe.
    pub async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Retryable + std::fmt::Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => match self.next_delay(&e, attempt) {
                    Some(wait) => {
                        tracing::info!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> ApiError {
        ApiError::Network {
            kind: super::super::error::NetworkKind::Reset,
            host: "h".into(),
            detail: "reset".into(),
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        let c: Vec<u64> = (0..8).map(|a| p.ceiling(a).as_millis() as u64).collect();
        assert_eq!(c, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(p.ceiling(200), Duration::from_secs(20));
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let p = RetryPolicy::default();
        for a in 0..10 {
            for _ in 0..100 {
                assert!(p.backoff(a) <= p.ceiling(a));
            }
        }
    }

    #[test]
    fn retry_after_wins_and_4xx_is_final() {
        let p = RetryPolicy::default();
        let limited = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(9)),
            request_id: None,
        };
        assert_eq!(p.next_delay(&limited, 0), Some(Duration::from_secs(9)));
        let conflict = ApiError::Conflict {
            message: String::new(),
            request_id: None,
        };
        assert_eq!(p.next_delay(&conflict, 0), None);
        assert!(p.next_delay(&net(), 3).is_some());
        assert_eq!(p.next_delay(&net(), 4), None);
    }

    #[tokio::test]
    async fn run_retries_until_success() {
        let p = RetryPolicy {
            base: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        let out: Result<u32, ApiError> = p
            .run(|attempt| async move {
                if attempt < 2 {
                    Err(net())
                } else {
                    Ok(attempt)
                }
            })
            .await;
        assert_eq!(out.unwrap(), 2);
    }
}
