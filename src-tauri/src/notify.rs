//! Native notifications: a batch finished (or failed), so a closed window still tells.

use layers_uploader::queue::QueueEvent;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;

/// The title and body for a finished batch; `None` for other events.
pub fn batch_text(event: &QueueEvent) -> Option<(String, String)> {
    let QueueEvent::BatchFinished {
        completed,
        skipped,
        failed,
        blocked,
        cancelled,
        ..
    } = event
    else {
        return None;
    };
    let mut parts = vec![format!("{completed} uploaded")];
    for (n, what) in [
        (skipped, "already uploaded"),
        (failed, "failed"),
        (blocked, "blocked by quota"),
        (cancelled, "cancelled"),
    ] {
        if *n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    let title = if failed + blocked > 0 {
        "Upload needs attention"
    } else {
        "Upload finished"
    };
    Some((title.to_string(), parts.join(", ")))
}

/// Shows the notification for a finished batch (best effort: a desktop without a
/// notification service just logs it).
pub fn batch_finished<R: Runtime>(app: &AppHandle<R>, event: &QueueEvent) {
    let Some((title, body)) = batch_text(event) else {
        return;
    };
    if let Err(e) = app
        .notification()
        .builder()
        .title(&title)
        .body(&body)
        .show()
    {
        tracing::info!("no desktop notification ({e}): {title}: {body}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(completed: usize, failed: usize, blocked: usize) -> QueueEvent {
        QueueEvent::BatchFinished {
            batch_id: "b".into(),
            completed,
            skipped: 1,
            failed,
            blocked,
            cancelled: 0,
        }
    }

    #[test]
    fn a_clean_batch_says_finished_and_a_failed_one_asks_for_attention() {
        assert_eq!(
            batch_text(&finished(9, 0, 0)),
            Some((
                "Upload finished".into(),
                "9 uploaded, 1 already uploaded".into()
            ))
        );
        assert_eq!(
            batch_text(&finished(2, 1, 3)),
            Some((
                "Upload needs attention".into(),
                "2 uploaded, 1 already uploaded, 1 failed, 3 blocked by quota".into()
            ))
        );
    }
}
