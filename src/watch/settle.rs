//! Settle detection: a file (or a slideshow folder) is taken only when its stamp (size, mtime,
//! inode; for a folder, its listing) has not changed for the settle time. Only things in
//! flight are held here, so an idle watch holds nothing and sets no timer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

/// What a watch takes as one unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A media file, uploaded as its own post.
    File(PathBuf),
    /// An immediate subfolder, uploaded as one slideshow (`--grouping slideshow`).
    Folder(PathBuf),
}

impl Key {
    /// The path the key stands for.
    pub fn path(&self) -> &PathBuf {
        match self {
            Key::File(p) | Key::Folder(p) => p,
        }
    }
}

/// A key waiting to settle.
#[derive(Debug, Clone)]
struct Pending {
    stamp: String,
    changed_at: Instant,
    /// Checks that found it settled but not readable yet (a video still missing its index).
    attempts: u32,
}

/// A key whose stamp held still for the settle time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub key: Key,
    pub stamp: String,
    pub attempts: u32,
}

/// The keys in flight and when each settles.
#[derive(Debug)]
pub struct Settler {
    settle: Duration,
    pending: HashMap<Key, Pending>,
}

impl Settler {
    /// A settler with this settle time.
    pub fn new(settle: Duration) -> Self {
        Settler {
            settle,
            pending: HashMap::new(),
        }
    }

    /// Records a key's current stamp; a new key or a changed stamp restarts its window.
    pub fn observe(&mut self, key: Key, stamp: String, now: Instant) {
        match self.pending.get_mut(&key) {
            Some(p) if p.stamp == stamp => {}
            Some(p) => {
                p.stamp = stamp;
                p.changed_at = now;
                p.attempts = 0;
            }
            None => {
                self.pending.insert(
                    key,
                    Pending {
                        stamp,
                        changed_at: now,
                        attempts: 0,
                    },
                );
            }
        }
    }

    /// Restarts a key's window without a stamp change (its sidecar just arrived); `false` when
    /// the key is not in flight.
    pub fn touch(&mut self, key: &Key, now: Instant) -> bool {
        match self.pending.get_mut(key) {
            Some(p) => {
                p.changed_at = now;
                true
            }
            None => false,
        }
    }

    /// Checks a settled key again after another settle time (it was not readable yet).
    pub fn retry(&mut self, settled: Settled, now: Instant) {
        self.pending.insert(
            settled.key,
            Pending {
                stamp: settled.stamp,
                changed_at: now,
                attempts: settled.attempts + 1,
            },
        );
    }

    /// Drops a key (deleted, or renamed away).
    pub fn forget(&mut self, key: &Key) {
        self.pending.remove(key);
    }

    /// Whether a key is in flight.
    pub fn contains(&self, key: &Key) -> bool {
        self.pending.contains_key(key)
    }

    /// How many keys are in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the next key settles, if any is in flight: the only timer a watch sets.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.changed_at + self.settle)
            .min()
    }

    /// Removes and returns the keys whose window has passed, in path order.
    pub fn take_due(&mut self, now: Instant) -> Vec<Settled> {
        let due: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| p.changed_at + self.settle <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Settled> = due
            .into_iter()
            .filter_map(|key| {
                let p = self.pending.remove(&key)?;
                Some(Settled {
                    key,
                    stamp: p.stamp,
                    attempts: p.attempts,
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> Key {
        Key::File(PathBuf::from(name))
    }

    #[test]
    fn a_growing_file_settles_only_after_it_stops_changing() {
        let t0 = Instant::now();
        let settle = Duration::from_secs(5);
        let mut s = Settler::new(settle);
        s.observe(file("a.mp4"), "10:1".into(), t0);
        s.observe(file("a.mp4"), "20:2".into(), t0 + Duration::from_secs(4));
        assert!(
            s.take_due(t0 + Duration::from_secs(6)).is_empty(),
            "changed at 4 s"
        );
        // The same stamp again (an event with no change) does not restart the window.
        s.observe(file("a.mp4"), "20:2".into(), t0 + Duration::from_secs(8));
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(9)));
        let due = s.take_due(t0 + Duration::from_secs(9));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].stamp, "20:2");
        assert!(
            s.is_empty() && s.next_due().is_none(),
            "nothing left, no timer"
        );
    }

    #[test]
    fn a_sidecar_restarts_the_window_and_retries_count_up() {
        let t0 = Instant::now();
        let mut s = Settler::new(Duration::from_secs(1));
        s.observe(file("a.jpg"), "1".into(), t0);
        assert!(s.touch(&file("a.jpg"), t0 + Duration::from_millis(900)));
        assert!(!s.touch(&file("b.jpg"), t0));
        assert!(s.take_due(t0 + Duration::from_millis(1500)).is_empty());
        let due = s.take_due(t0 + Duration::from_millis(1900)).remove(0);
        s.retry(due, t0 + Duration::from_secs(2));
        let again = s.take_due(t0 + Duration::from_secs(3)).remove(0);
        assert_eq!(again.attempts, 1);
    }

    #[test]
    fn due_keys_come_out_in_path_order() {
        let t0 = Instant::now();
        let mut s = Settler::new(Duration::from_secs(1));
        for name in ["c.jpg", "a.jpg", "b.jpg"] {
            s.observe(file(name), "x".into(), t0);
        }
        s.forget(&file("b.jpg"));
        let names: Vec<_> = s
            .take_due(t0 + Duration::from_secs(1))
            .into_iter()
            .map(|d| d.key.path().clone())
            .collect();
        assert_eq!(names, vec![PathBuf::from("a.jpg"), PathBuf::from("c.jpg")]);
    }
}
