//! What the app does with the key lookup's answer and with a Layers that does not answer, as
//! pure decisions: only "no key at all" starts the embedded sandbox (a locked keyring is shown
//! and waits for Retry), and an unreachable Layers is tried again forever with backoff, the
//! server's `Retry-After` honoured; a refused key is shown and not retried.

use std::time::Duration;

use layers_uploader::api::retry::RetryPolicy;
use layers_uploader::api::ApiError;
use layers_uploader::secrets::{ApiKey, SecretError};

use crate::error::{AppError, ErrorCode};

/// Status mode while the keyring cannot be read: the queue stays idle until Retry.
pub const MODE_KEYRING: &str = "keyring";
/// Status mode while Layers does not answer: posts wait, the app tries again by itself.
pub const MODE_UNREACHABLE: &str = "unreachable";
/// Status mode when the key is refused (401/403) or not a key: shown, never retried.
pub const MODE_OFFLINE: &str = "offline";

/// Shortest wait between two tries (full jitter may draw zero).
const MIN_WAIT: Duration = Duration::from_secs(1);
/// Longest `Retry-After` taken as given (a broken header must not park the app for days).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where the key lookup leads.
#[derive(Debug)]
pub enum KeyChoice {
    /// A key: connect to Layers with it.
    Live(ApiKey),
    /// No key configured anywhere: the embedded sandbox, so every step works offline.
    Sandbox,
    /// The key cannot be had or used: show this, connect nowhere, leave the queue idle.
    Refuse { mode: &'static str, error: AppError },
}

/// Decides from the key lookup. Only `NotConfigured` starts the sandbox: a locked keyring, a
/// cancelled unlock prompt or a D-Bus that is not up yet must never send uploads elsewhere.
pub fn choose_key(resolved: Result<ApiKey, SecretError>) -> KeyChoice {
    match resolved {
        Ok(key) => KeyChoice::Live(key),
        Err(SecretError::NotConfigured { .. }) => KeyChoice::Sandbox,
        Err(e @ SecretError::InvalidKey { .. }) => KeyChoice::Refuse {
            mode: MODE_OFFLINE,
            error: AppError::invalid(format!(
                "{e} Save a valid key in Settings (or fix LAYERS_API_KEY), then press Retry."
            )),
        },
        Err(SecretError::KeyringUnavailable { detail, .. } | SecretError::Keyring { detail }) => {
            KeyChoice::Refuse {
                mode: MODE_KEYRING,
                error: AppError::new(
                    ErrorCode::Keyring,
                    format!(
                        "The keyring is locked or unavailable: unlock it, then press Retry. \
                         ({detail})"
                    ),
                ),
            }
        }
    }
}

/// The backoff between tries to reach Layers: 2 s doubling up to a minute, with jitter.
fn policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_secs(2),
        cap: Duration::from_secs(60),
        ..RetryPolicy::default()
    }
}

/// How long to wait before try `attempt + 1` after `error` (`attempt` is 0-based), or `None`
/// when trying again cannot help (401, 403, a bad base URL): there is no attempt limit.
pub fn next_try(error: &ApiError, attempt: u32) -> Option<Duration> {
    if !error.is_retryable() {
        return None;
    }
    Some(match error.retry_after() {
        Some(wait) => wait.min(MAX_RETRY_AFTER),
        None => policy().backoff(attempt.min(30)).max(MIN_WAIT),
    })
}

/// The banner sentence while Layers does not answer.
pub fn unreachable_message(waiting: u64, wait: Duration) -> String {
    let posts = if waiting == 1 { "post" } else { "posts" };
    format!(
        "Layers unreachable, {waiting} {posts} waiting, next try in {}",
        wait_text(wait)
    )
}

/// `20 s`, `2 min`: how a wait reads in the banner.
pub fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs_f64().ceil() as u64;
    if secs < 60 {
        format!("{} s", secs.max(1))
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}

#[cfg(test)]
mod tests;
