//! Leases: how several runners share one queue without ever working a post twice at once.
//! A runner claims the posts it works (owner + expiry), renews them while it works, and gives
//! them back when it stops. A runner that dies keeps its leases only until they expire; then
//! another one claims the post and continues it from its persisted step. Every write a runner
//! makes to a post checks that it still holds it (see [`super::rows::transition_in`]).

use std::time::Duration;

use super::db::params;
use super::{backend, now_ms, Store, StoreError};

/// How long a claim lasts without renewal (the runner renews at a third of it).
/// `LAYERS_UPLOADER_LEASE_S` changes it (tests, a very slow network).
pub const LEASE_TIME: Duration = Duration::from_secs(30);

/// SQLite step 5: leases, the machine that queued and the one that holds each post, and
/// watch folders that belong to a machine.
pub(super) const MIGRATION_LEASES: &str = r#"
ALTER TABLE posts ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE posts ADD COLUMN machine TEXT;
ALTER TABLE posts ADD COLUMN lease_owner TEXT;
ALTER TABLE posts ADD COLUMN lease_until INTEGER;
CREATE INDEX posts_by_lease ON posts(lease_owner);
ALTER TABLE watches ADD COLUMN machine TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX watches_by_machine ON watches(machine, folder, project_id);
"#;

/// This machine's name in a shared queue: `LAYERS_UPLOADER_MACHINE`, else the host name.
pub fn machine_name() -> String {
    if let Ok(name) = std::env::var("LAYERS_UPLOADER_MACHINE") {
        let name = name.trim();
        if !name.is_empty() {
            return name.to_string();
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "this-machine".into())
}

/// The lease time in force.
pub fn lease_time() -> Duration {
    std::env::var("LAYERS_UPLOADER_LEASE_S")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(LEASE_TIME, Duration::from_secs_f64)
}

/// A runner's identity on the queue: `machine#pid#nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What `lease_owner` holds.
    pub owner: String,
    /// The machine part (what `queue list` shows).
    pub machine: String,
    /// How long a claim lasts.
    pub time: Duration,
}

impl Lease {
    /// A new identity for this process on `machine`.
    pub fn new(machine: &str) -> Lease {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        Lease {
            owner: format!("{machine}#{}#{}", std::process::id(), &nonce[..8]),
            machine: machine.to_string(),
            time: lease_time(),
        }
    }

    fn ms(&self) -> i64 {
        self.time.as_millis() as i64
    }
}

/// Whether an owner string names a process of this machine that is no longer running (its
/// leases are void at once: a `kill -9` on this machine need not wait out the lease time).
fn dead_here(owner: &str, machine: &str) -> bool {
    let mut parts = owner.rsplitn(3, '#');
    let (_nonce, pid, host) = (parts.next(), parts.next(), parts.next());
    if host != Some(machine) {
        return false;
    }
    match pid.and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) if pid == std::process::id() => false,
        Some(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

impl Store {
    /// Makes this handle a runner on the queue: from now on [`Store::runnable_bounded`]
    /// claims what it returns, and writes to a post check the claim.
    pub fn take_leases(&self, machine: &str) -> Lease {
        let lease = Lease::new(machine);
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease.clone());
        lease
    }

    /// The owner this handle writes as, if it is a runner.
    pub(super) fn owner(&self) -> Option<String> {
        self.lease().map(|l| l.owner)
    }

    /// The lease this handle runs under, if it is a runner.
    pub fn lease(&self) -> Option<Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The machine this handle's watch folders belong to: its own name on a shared queue,
    /// `''` (this machine) in a local one.
    pub(super) fn watch_machine(&self) -> String {
        if self.shared {
            self.machine.clone()
        } else {
            String::new()
        }
    }

    /// "Now" for leases: the database's clock on a shared queue, so machines whose clocks
    /// disagree still agree on when a claim runs out; this machine's clock otherwise.
    pub(super) fn lease_clock_ms(&self) -> Result<i64, StoreError> {
        if !self.shared {
            return Ok(now_ms());
        }
        Ok(self.conn().query_row(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            params![],
            |r| r.get(0),
        )?)
    }

    /// Voids the leases of runners of this machine that are gone (killed, crashed).
    pub(super) fn void_dead_leases(&self, lease: &Lease) -> Result<(), StoreError> {
        let conn = self.conn();
        let owners: Vec<String> = conn.query_map(
            "SELECT DISTINCT lease_owner FROM posts
             WHERE lease_owner IS NOT NULL AND lease_owner != ?1",
            params![lease.owner],
            |r| r.get(0),
        )?;
        for owner in owners.iter().filter(|o| dead_here(o, &lease.machine)) {
            tracing::info!(owner = %owner, "voiding the leases of a runner that is gone");
            conn.execute(
                "UPDATE posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
                params![owner],
            )?;
        }
        Ok(())
    }

    /// Claims runnable posts for this runner: the active ones nobody else holds, and up to
    /// `queued_limit` queued ones; returns their ids. On PostgreSQL the claim skips rows
    /// another runner is claiming at this moment (`FOR UPDATE SKIP LOCKED`).
    pub(super) fn claim(
        &self,
        lease: &Lease,
        now: i64,
        batch: Option<&str>,
        queued_limit: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let (layers, loops) = self.backend_params();
        let skip_locked = if self.shared {
            "FOR UPDATE OF p SKIP LOCKED"
        } else {
            ""
        };
        // `now` (this machine's clock) is for retry times, which this machine's runners set;
        // claims run out by the lease clock.
        let clock = self.lease_clock_ms()?;
        let until = clock + lease.ms();
        // ?5 is the lease clock; ?9, this machine's `now`, is bound only where a state test
        // uses it (PostgreSQL cannot type a parameter nothing uses).
        let claim = |states: &str, uses_now: bool, limit: i64| -> Result<Vec<i64>, StoreError> {
            let sql = format!(
                "UPDATE posts SET lease_owner = ?1, lease_until = ?2, machine = ?3
                 WHERE id IN (
                   SELECT p.id FROM posts p JOIN batches b ON b.id = p.batch_id
                   WHERE ({states}) AND (CAST(?4 AS TEXT) IS NULL OR p.batch_id = ?4) AND {}
                     AND (p.lease_owner IS NULL OR p.lease_owner = ?1 OR p.lease_until < ?5)
                   ORDER BY p.id LIMIT ?6 {skip_locked})
                 RETURNING id",
                backend::batch_matches("b", 7)
            );
            let all = params![
                lease.owner,
                until,
                lease.machine,
                batch,
                clock,
                limit,
                layers,
                loops,
                now
            ];
            let bound = if uses_now { all } else { &all[..8] };
            Ok(self.conn().query_map(&sql, bound, |r| r.get(0))?)
        };
        let mut ids = claim(
            "p.state IN ('reserving','reserved','uploading','uploaded','finalizing')
             OR (p.state = 'waiting' AND COALESCE(p.next_attempt_at, 0) <= ?9)",
            true,
            i64::MAX,
        )?;
        ids.extend(claim("p.state = 'queued'", false, queued_limit as i64)?);
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Extends this runner's claims on the posts it still works; returns how many it holds.
    pub fn renew_leases(&self) -> Result<usize, StoreError> {
        let Some(lease) = self.lease() else {
            return Ok(0);
        };
        let clock = self.lease_clock_ms()?;
        Ok(self.conn().execute(
            "UPDATE posts SET lease_until = ?1 WHERE lease_owner = ?2
               AND state NOT IN ('completed', 'failed', 'cancelled', 'skipped')",
            params![clock + lease.ms(), lease.owner],
        )?)
    }

    /// Gives back every claim of this runner (it stops): others may take the posts at once.
    pub fn release_leases(&self) -> Result<(), StoreError> {
        if let Some(lease) = self.lease() {
            self.conn().execute(
                "UPDATE posts SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
                params![lease.owner],
            )?;
        }
        Ok(())
    }

    /// Gives back one post this runner cannot work here (its files are on another machine),
    /// saying why on the post.
    pub fn release_post(&self, post_id: i64, why: &str) -> Result<(), StoreError> {
        if let Some(lease) = self.lease() {
            self.conn().execute(
                "UPDATE posts SET lease_owner = NULL, lease_until = NULL,
                        error_code = 'needs_other_machine', error_message = ?1
                 WHERE id = ?2 AND lease_owner = ?3",
                params![why, post_id, lease.owner],
            )?;
        }
        Ok(())
    }

    /// Clears a "needs another machine" note once a machine that can read the files holds it.
    pub fn clear_machine_note(&self, post_id: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE posts SET error_code = NULL, error_message = NULL
             WHERE id = ?1 AND error_code = 'needs_other_machine'",
            params![post_id],
        )?;
        Ok(())
    }

    /// The machine a post was queued on.
    pub fn origin(&self, post_id: i64) -> Result<String, StoreError> {
        Ok(self.conn().query_row(
            "SELECT origin FROM posts WHERE id = ?1",
            params![post_id],
            |r| r.get(0),
        )?)
    }

    /// Whether another runner holds this post now (its claim has not run out): someone is
    /// working it, so what waits for it will see it end.
    pub fn held_elsewhere(&self, post_id: i64) -> Result<bool, StoreError> {
        let Some(lease) = self.lease() else {
            return Ok(false);
        };
        let clock = self.lease_clock_ms()?;
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM posts WHERE id = ?1 AND lease_owner IS NOT NULL
               AND lease_owner != ?2 AND lease_until >= ?3",
            params![post_id, lease.owner, clock],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// When the earliest live claim of another runner on an unfinished post runs out (by this
    /// machine's clock): a runner with nothing to do waits for it (the holder may have died).
    pub(super) fn next_lease_expiry(&self, batch: Option<&str>) -> Result<Option<i64>, StoreError> {
        let Some(lease) = self.lease() else {
            return Ok(None);
        };
        let clock = self.lease_clock_ms()?;
        let until: Option<i64> = self.conn().query_row(
            "SELECT MIN(lease_until) FROM posts
             WHERE lease_owner IS NOT NULL AND lease_owner != ?1
               AND state IN ('queued','reserving','reserved','uploading','uploaded','finalizing','waiting')
               AND (CAST(?2 AS TEXT) IS NULL OR batch_id = ?2)",
            params![lease.owner, batch],
            |r| r.get(0),
        )?;
        // By this machine's clock, as the runner's timers run.
        Ok(until.map(|u| now_ms() + (u - clock)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_process_of_this_machine_is_dead() {
        let me = format!("box#{}#abcd", std::process::id());
        assert!(!dead_here(&me, "box"));
        assert!(dead_here("box#999999999#abcd", "box"));
        assert!(!dead_here("other#999999999#abcd", "box"));
        assert!(dead_here("my#box#999999999#ab", "my#box"));
    }
}
