//! A token bucket shared by every concurrent PUT, so `--limit-rate` caps the total, not each file.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared bandwidth limit in bytes per second; clones share one bucket.
#[derive(Debug, Clone)]
pub struct BandwidthLimiter {
    bucket: Arc<Mutex<Bucket>>,
    rate: u64,
}

#[derive(Debug)]
struct Bucket {
    /// May go negative: a caller that takes more than is there waits off its own debt, which
    /// keeps callers roughly first-come, first-served.
    tokens: f64,
    capacity: f64,
    last: Instant,
}

impl BandwidthLimiter {
    /// A limit of `bytes_per_sec` (at least 1), with a quarter second of burst.
    pub fn new(bytes_per_sec: u64) -> BandwidthLimiter {
        let rate = bytes_per_sec.max(1);
        let capacity = (rate as f64 / 4.0).max(1.0);
        BandwidthLimiter {
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: capacity,
                capacity,
                last: Instant::now(),
            })),
            rate,
        }
    }

    /// The configured rate.
    pub fn bytes_per_sec(&self) -> u64 {
        self.rate
    }

    /// Waits until `n` bytes may be sent.
    pub async fn acquire(&self, n: usize) {
        let wait = self.reserve(n as f64, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `n` tokens (possibly into debt) and returns how long the caller must wait.
    fn reserve(&self, n: f64, now: Instant) -> Duration {
        // A poisoned lock only means another task panicked mid-update; the numbers are still
        // usable, so keep limiting rather than failing the upload.
        let mut b = match self.bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let rate = self.rate as f64;
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(b.capacity);
        b.last = now;
        b.tokens -= n;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_turns_into_waiting_time() {
        let l = BandwidthLimiter::new(1000);
        let t0 = Instant::now();
        assert_eq!(l.reserve(250.0, t0), Duration::ZERO);
        assert_eq!(l.reserve(500.0, t0), Duration::from_millis(500));
        // A second caller queues behind the first one's debt.
        assert_eq!(l.reserve(500.0, t0), Duration::from_millis(1000));
        let clone = l.clone();
        assert!(clone.reserve(1.0, t0) > Duration::from_millis(1000));
    }

    #[tokio::test]
    async fn total_rate_is_capped_across_tasks() {
        let l = BandwidthLimiter::new(400_000);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..5 {
                    l.acquire(20_000).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // 400 kB minus the 100 kB burst at 400 kB/s ≈ 0.75 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}
