//! Wall-clock helpers: unix seconds and the RFC 3339 strings the API puts on the wire. The
//! run's own clock (machine time plus `--clock-offset-secs`) is [`crate::app::App::now_ms`];
//! [`stamp_date`] puts it on every answer as `Date`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::App;

/// Milliseconds since the Unix epoch by the machine's clock (0 if before it); handlers use
/// [`crate::app::App::now_ms`], which adds the run's offset.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `ms` moved by `offset_secs` (clamped at the epoch).
pub fn offset(ms: u64, offset_secs: i64) -> u64 {
    (ms as i64)
        .saturating_add(offset_secs.saturating_mul(1000))
        .max(0) as u64
}

/// Middleware around everything: `Date` by the run's clock, as a real server's would be.
pub async fn stamp_date(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let date = layers_uploader::api::clock::format_http_date(app.now_ms() as i64);
    if let Ok(v) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
}

/// `2026-06-12T14:02:11Z`, as the docs show timestamps on content items.
pub fn rfc3339(ms: u64) -> String {
    let (date, time) = split(ms);
    format!("{date}T{time}Z")
}

/// `2026-06-12T15:30:00.000Z`, as the docs show `expiresAt`.
pub fn rfc3339_millis(ms: u64) -> String {
    let (date, time) = split(ms);
    format!("{date}T{time}.{:03}Z", ms % 1000)
}

fn split(ms: u64) -> (String, String) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_781_272_931_000), "2026-06-12T14:02:11Z");
        assert_eq!(
            rfc3339_millis(1_781_278_200_123),
            "2026-06-12T15:30:00.123Z"
        );
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn offsets_move_the_clock_both_ways_and_stop_at_the_epoch() {
        assert_eq!(offset(1_000_000, 1200), 2_200_000);
        assert_eq!(offset(1_300_000, -1200), 100_000);
        assert_eq!(offset(1_000, -1200), 0);
    }
}
