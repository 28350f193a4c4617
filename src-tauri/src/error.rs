//! The one error type that crosses IPC: `{ "code": "...", "message": "..." }`. The UI branches
//! on `code` (a small, stable set), and shows `message` (a sentence saying what to do).

use serde::Serialize;

/// Stable codes the UI can branch on; never match on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The path did not come from a drop, a dialog or a watch.
    PathNotGranted,
    /// The request itself is wrong (bad caption, unknown post, bad setting value).
    InvalidInput,
    /// The engine is not connected yet, or the queue is run by another process.
    NotReady,
    /// The Layers API refused or could not be reached.
    Api,
    /// The OS keyring could not store or read the key.
    Keyring,
    /// The queue database failed.
    Store,
    /// Anything else (a file that could not be written, a task that died).
    Internal,
    /// "Make it fit": no honest copy of this file fits (the message says why and what to do).
    CannotFit,
    /// "Make it fit": ffmpeg failed or the copy could not be written.
    ConversionFailed,
    /// "Make it fit": stopped by the user; no partial file is left.
    Cancelled,
}

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    /// An error with a code and a human message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            code,
            message: message.into(),
        }
    }

    /// `path_not_granted` for a path the native side never handed over.
    pub fn not_granted(path: &std::path::Path) -> AppError {
        AppError::new(
            ErrorCode::PathNotGranted,
            format!(
                "{} was not added through a drop, a dialog or a watch folder; add it that way first",
                path.display()
            ),
        )
    }

    /// `invalid_input` with a message.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::InvalidInput, message)
    }

    /// `internal` with a message.
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::Internal, message)
    }
}

impl From<layers_uploader::queue::StoreError> for AppError {
    fn from(e: layers_uploader::queue::StoreError) -> AppError {
        use layers_uploader::queue::StoreError as S;
        match e {
            S::NoSuchPost(_) | S::Transition(_) => AppError::invalid(e.to_string()),
            other => AppError::new(ErrorCode::Store, other.to_string()),
        }
    }
}

impl From<layers_uploader::api::ApiError> for AppError {
    fn from(e: layers_uploader::api::ApiError) -> AppError {
        AppError::new(ErrorCode::Api, e.to_string())
    }
}

impl From<layers_uploader::secrets::SecretError> for AppError {
    fn from(e: layers_uploader::secrets::SecretError) -> AppError {
        use layers_uploader::secrets::SecretError as S;
        match e {
            S::InvalidKey { .. } => AppError::invalid(e.to_string()),
            other => AppError::new(ErrorCode::Keyring, other.to_string()),
        }
    }
}

impl From<tauri::Error> for AppError {
    fn from(e: tauri::Error) -> AppError {
        AppError::internal(e.to_string())
    }
}

/// What every command returns.
pub type CmdResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_cross_ipc_as_code_and_message() {
        let e = AppError::not_granted(std::path::Path::new("/etc/passwd"));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({
                "code": "path_not_granted",
                "message": "/etc/passwd was not added through a drop, a dialog or a watch folder; add it that way first"
            })
        );
    }

    #[test]
    fn every_code_has_its_snake_case_name() {
        let names: Vec<String> = [
            ErrorCode::PathNotGranted,
            ErrorCode::InvalidInput,
            ErrorCode::NotReady,
            ErrorCode::Api,
            ErrorCode::Keyring,
            ErrorCode::Store,
            ErrorCode::Internal,
            ErrorCode::CannotFit,
            ErrorCode::ConversionFailed,
            ErrorCode::Cancelled,
        ]
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "\"path_not_granted\"",
                "\"invalid_input\"",
                "\"not_ready\"",
                "\"api\"",
                "\"keyring\"",
                "\"store\"",
                "\"internal\"",
                "\"cannot_fit\"",
                "\"conversion_failed\"",
                "\"cancelled\""
            ]
        );
    }

    #[test]
    fn a_transition_the_queue_refuses_is_the_users_input() {
        let e: AppError = layers_uploader::queue::StoreError::NoSuchPost(7).into();
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert_eq!(e.message, "no post with id 7");
    }
}
