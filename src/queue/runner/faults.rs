//! What a failure means for a post: one table from error to action, so every step reacts the
//! same way to the same answer (design.md: "Other 4xx are never retried unchanged").

use std::time::Duration;

use crate::api::error::ApiError;
use crate::api::retry::server_wait;
use crate::api::types::QuotaDetails;
use crate::queue::store::PostError;
use crate::transfer::TransferError;

/// What to do about a failed step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Try the same step again later with the same Idempotency-Key. `after` is the server's
    /// `Retry-After` when it gave one (then no attempt is counted).
    Retry { after: Option<Duration> },
    /// The session is unusable (expired/refused URL, reaped): start over with a new one.
    Restart,
    /// `409 UPLOAD_INCOMPLETE`: PUT again the file with this storage key (all when `None`).
    Reput { missing_key: Option<String> },
    /// The project's quota is full.
    Block { usage: Option<QuotaDetails> },
    /// The local file changed or vanished: look at it again before anything else.
    CheckFile,
    /// Nothing will change by trying again.
    Fail,
}

/// The action for an API or storage error.
pub fn action_for_api(e: &ApiError) -> Action {
    match e {
        ApiError::QuotaExceeded { usage, .. } => Action::Block { usage: *usage },
        // Loops' per-window upload count: a limit like a quota, not a passing failure.
        ApiError::LoopsUploadLimit { .. } => Action::Block { usage: None },
        // Exactly as asked, up to the policy's cap (a day-long Retry-After is a server bug).
        ApiError::RateLimited { retry_after, .. } => Action::Retry {
            after: Some(server_wait(retry_after.unwrap_or(Duration::from_secs(1))).delay),
        },
        ApiError::UploadIncomplete { missing_key, .. } => Action::Reput {
            missing_key: missing_key.clone(),
        },
        ApiError::Conflict { .. } => Action::Restart,
        // Any 4xx from a storage URL means that URL is unusable (expired, bad signature…).
        ApiError::Storage { status, .. } if (400..500).contains(status) => Action::Restart,
        other if other.is_retryable() => Action::Retry { after: None },
        _ => Action::Fail,
    }
}

/// The action for a failed PUT.
pub fn action_for_transfer(e: &TransferError) -> Action {
    match e {
        TransferError::Api(api) => action_for_api(api),
        TransferError::FileChanged { .. } | TransferError::Read { .. } => Action::CheckFile,
        TransferError::BadHeader { .. } | TransferError::UnsafeTarget { .. } => Action::Fail,
    }
}

/// The error as stored on the post and shown to the user. Details carry quota usage.
pub fn post_error_api(e: &ApiError) -> PostError {
    let details = match e {
        ApiError::QuotaExceeded { usage: Some(u), .. } => serde_json::to_value(u).ok(),
        _ => None,
    };
    PostError {
        code: e.code().to_string(),
        message: e.to_string(),
        details,
    }
}

/// A failed PUT as stored on the post.
pub fn post_error_transfer(e: &TransferError) -> PostError {
    match e {
        TransferError::Api(api) => post_error_api(api),
        other => PostError {
            code: other.code().to_string(),
            message: other.to_string(),
            details: None,
        },
    }
}

/// A post error from a code and a message.
pub fn post_error(code: &str, message: impl Into<String>) -> PostError {
    PostError {
        code: code.to_string(),
        message: message.into(),
        details: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_4xx_restarts_and_5xx_retries() {
        let refused = ApiError::Storage {
            status: 403,
            excerpt: "Request has expired".into(),
        };
        assert_eq!(action_for_api(&refused), Action::Restart);
        let flaky = ApiError::Storage {
            status: 503,
            excerpt: String::new(),
        };
        assert_eq!(action_for_api(&flaky), Action::Retry { after: None });
    }

    #[test]
    fn rate_limits_wait_exactly_as_told() {
        let e = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
            request_id: None,
        };
        assert_eq!(
            action_for_api(&e),
            Action::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn an_absurd_retry_after_is_capped() {
        use crate::api::retry::MAX_RETRY_AFTER;
        let e = ApiError::RateLimited {
            retry_after: Some(Duration::from_secs(86_400)),
            request_id: None,
        };
        assert_eq!(
            action_for_api(&e),
            Action::Retry {
                after: Some(MAX_RETRY_AFTER)
            }
        );
    }

    #[test]
    fn validation_is_never_retried() {
        let e = ApiError::Validation {
            message: "Slideshows are images only.".into(),
            details: serde_json::Value::Null,
            request_id: None,
        };
        assert_eq!(action_for_api(&e), Action::Fail);
    }

    #[test]
    fn quota_carries_usage_into_the_stored_error() {
        let usage = QuotaDetails {
            current_uploads: 250,
            max_uploads: 250,
            current_bytes: 1,
            max_bytes: 2,
        };
        let e = ApiError::QuotaExceeded {
            usage: Some(usage),
            request_id: None,
        };
        assert_eq!(action_for_api(&e), Action::Block { usage: Some(usage) });
        let stored = post_error_api(&e);
        assert_eq!(stored.details.unwrap()["maxUploads"], 250);
    }
}
