//! A write pacer: a token bucket over Layers write calls (create-session, finalize), so a big
//! batch stays under the per-minute write budget instead of running into `429`s.

use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Mutex;

/// Token bucket: `per_minute` tokens, refilled continuously; a burst of `per_minute` is allowed.
#[derive(Debug)]
pub struct WritePacer {
    per_minute: u32,
    state: Mutex<(f64, Instant)>,
}

impl WritePacer {
    /// A pacer for this many writes per minute; 0 turns pacing off.
    pub fn new(per_minute: u32) -> Self {
        WritePacer {
            per_minute,
            state: Mutex::new((f64::from(per_minute), Instant::now())),
        }
    }

    /// Waits until one more write fits the budget, then spends it.
    pub async fn acquire(&self) {
        if self.per_minute == 0 {
            return;
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let wait = {
            let mut guard = self.state.lock().await;
            let (tokens, last) = &mut *guard;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate)
                .min(f64::from(self.per_minute));
            *last = now;
            *tokens -= 1.0;
            // A negative balance is the queue of writers ahead of us: wait it out.
            (*tokens < 0.0).then(|| Duration::from_secs_f64(-*tokens / rate))
        };
        if let Some(w) = wait {
            tokio::time::sleep(w).await;
        }
    }

    /// Drains the bucket after the server said `429`, so the next writes wait.
    pub async fn backoff(&self, retry_after: Duration) {
        if self.per_minute == 0 {
            return;
        }
        let rate = f64::from(self.per_minute) / 60.0;
        let mut guard = self.state.lock().await;
        guard.0 = guard.0.min(-retry_after.as_secs_f64() * rate);
        guard.1 = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_writes_are_spaced() {
        let pacer = WritePacer::new(60);
        let start = tokio::time::Instant::now();
        for _ in 0..60 {
            pacer.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(10),
            "the burst is free"
        );
        pacer.acquire().await;
        pacer.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(1900),
            "then one a second"
        );
    }

    #[tokio::test]
    async fn zero_means_unpaced() {
        let pacer = WritePacer::new(0);
        for _ in 0..1000 {
            pacer.acquire().await;
        }
    }
}
