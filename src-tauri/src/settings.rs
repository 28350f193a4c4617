//! The app's non-secret settings, persisted in the queue store's `settings` table under
//! `app.*` keys (so the CLI's own keys never collide). The API key is never here: it lives in
//! the OS keyring.

use layers_uploader::queue::Store;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, CmdResult};

const PROJECT: &str = "app.project_id";
const CONCURRENCY: &str = "app.concurrency";
const BANDWIDTH: &str = "app.bandwidth_limit_bps";
const SETTLE: &str = "app.settle_secs";

/// The settings the Settings view edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSettings {
    /// The project uploads go to; `None` = the first one the key can see.
    pub project_id: Option<String>,
    /// PUTs in flight at once (1–32).
    pub concurrency: u16,
    /// Bytes per second shared by all PUTs; 0 = no limit.
    pub bandwidth_limit_bps: u64,
    /// Seconds a watched file must hold still before it is taken.
    pub settle_secs: f64,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            project_id: None,
            concurrency: 3,
            bandwidth_limit_bps: 0,
            settle_secs: 5.0,
        }
    }
}

impl AppSettings {
    /// Reads the stored settings; a missing or unreadable value falls back to its default.
    pub fn load(store: &Store) -> CmdResult<AppSettings> {
        let d = AppSettings::default();
        let get = |k: &str| store.setting(k);
        Ok(AppSettings {
            project_id: get(PROJECT)?.filter(|p| !p.trim().is_empty()),
            concurrency: get(CONCURRENCY)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(d.concurrency),
            bandwidth_limit_bps: get(BANDWIDTH)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(d.bandwidth_limit_bps),
            settle_secs: get(SETTLE)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(d.settle_secs),
        })
    }

    /// Refuses values the engine cannot run with, with a message that says the range.
    pub fn validate(&self) -> CmdResult<()> {
        if !(1..=32).contains(&self.concurrency) {
            return Err(AppError::invalid(
                "concurrency is the number of uploads at once: 1 to 32",
            ));
        }
        if !self.settle_secs.is_finite() || self.settle_secs <= 0.0 || self.settle_secs > 86_400.0 {
            return Err(AppError::invalid(
                "the settle time must be more than 0 seconds and at most a day",
            ));
        }
        if self.bandwidth_limit_bps > 0 && self.bandwidth_limit_bps < 1024 {
            return Err(AppError::invalid(
                "a bandwidth limit under 1 KB/s would never finish; use 0 for no limit",
            ));
        }
        Ok(())
    }

    /// Validates and stores every setting.
    pub fn save(&self, store: &Store) -> CmdResult<()> {
        self.validate()?;
        store.set_setting(PROJECT, self.project_id.as_deref().unwrap_or(""))?;
        store.set_setting(CONCURRENCY, &self.concurrency.to_string())?;
        store.set_setting(BANDWIDTH, &self.bandwidth_limit_bps.to_string())?;
        store.set_setting(SETTLE, &self.settle_secs.to_string())?;
        Ok(())
    }

    /// The settle time in milliseconds, as a watch stores it.
    pub fn settle_ms(&self) -> u64 {
        (self.settle_secs * 1000.0).round().max(1.0) as u64
    }
}

/// Key of a watch's paused flag (watches pause in the app; the store keeps it across restarts).
pub fn watch_paused_key(watch_id: i64) -> String {
    format!("app.watch.{watch_id}.paused")
}

/// Whether a watch is paused.
pub fn watch_paused(store: &Store, watch_id: i64) -> CmdResult<bool> {
    Ok(store.setting(&watch_paused_key(watch_id))?.as_deref() == Some("1"))
}

/// Pauses or resumes a watch.
pub fn set_watch_paused(store: &Store, watch_id: i64, paused: bool) -> CmdResult<()> {
    store.set_setting(&watch_paused_key(watch_id), if paused { "1" } else { "0" })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn settings_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        assert_eq!(AppSettings::load(&store).unwrap(), AppSettings::default());
        let s = AppSettings {
            project_id: Some("proj-1".into()),
            concurrency: 5,
            bandwidth_limit_bps: 20 * 1024 * 1024,
            settle_secs: 0.5,
        };
        s.save(&store).unwrap();
        drop(store);
        let store = Store::open_in(dir.path()).unwrap();
        let back = AppSettings::load(&store).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.settle_ms(), 500);
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::json!({"projectId": "proj-1", "concurrency": 5,
                "bandwidthLimitBps": 20971520, "settleSecs": 0.5})
        );
    }

    #[test]
    fn out_of_range_settings_are_refused_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        for bad in [
            AppSettings {
                concurrency: 0,
                ..AppSettings::default()
            },
            AppSettings {
                concurrency: 33,
                ..AppSettings::default()
            },
            AppSettings {
                settle_secs: 0.0,
                ..AppSettings::default()
            },
            AppSettings {
                settle_secs: f64::NAN,
                ..AppSettings::default()
            },
            AppSettings {
                bandwidth_limit_bps: 10,
                ..AppSettings::default()
            },
        ] {
            assert_eq!(
                bad.save(&store).unwrap_err().code,
                ErrorCode::InvalidInput,
                "{bad:?}"
            );
        }
        assert_eq!(AppSettings::load(&store).unwrap(), AppSettings::default());
    }

    #[test]
    fn a_watch_pause_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        assert!(!watch_paused(&store, 3).unwrap());
        set_watch_paused(&store, 3, true).unwrap();
        drop(store);
        let store = Store::open_in(dir.path()).unwrap();
        assert!(watch_paused(&store, 3).unwrap());
        assert!(!watch_paused(&store, 4).unwrap());
    }
}
