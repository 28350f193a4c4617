//! The server's clock as the API's `Date` headers show it. A laptop after sleep or a VM may be
//! minutes off; presigned-URL expiry (`expiresAt`) and `Retry-After` dates are the server's
//! times, so they are judged against local time plus the offset measured here, per client.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Offsets this small are the `Date` header's one-second resolution plus latency, not skew:
/// they count as zero so in-sync clocks behave exactly as before.
const NOISE_MS: i64 = 1_000;

/// Milliseconds since the Unix epoch by the local clock (negative before it).
pub fn local_now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, or the two obsolete forms) as epoch ms.
pub fn parse_http_date_ms(value: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(value.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// Epoch ms as an IMF-fixdate, the form servers send in `Date` (the sandbox stamps with it).
pub fn format_http_date(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// The offset of the server's clock from ours, from the latest `Date` header seen. Shared by
/// every clone of one client, so one run keeps one measurement.
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: AtomicI64,
}

impl ServerClock {
    /// Notes a response's `Date` header, received at local time `local_ms`. The header is
    /// truncated to the second, so the midpoint of that second is taken as the server's time.
    pub fn observe(&self, date: &str, local_ms: i64) {
        if let Some(server_ms) = parse_http_date_ms(date) {
            let offset = server_ms + 500 - local_ms;
            let offset = if offset.abs() <= NOISE_MS { 0 } else { offset };
            let before = self.offset_ms.swap(offset, Ordering::Relaxed);
            if (before - offset).abs() > NOISE_MS {
                tracing::info!(offset_ms = offset, "the server's clock differs from ours");
            }
        }
    }

    /// Server time minus local time, in ms (0 until a `Date` header was seen).
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Now by the server's clock, in epoch ms.
    pub fn now_ms(&self) -> i64 {
        local_now_ms() + self.offset_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_in_all_three_forms_and_round_trip() {
        let ms = 784_111_777_000; // 1994-11-06 08:49:37 UTC
        assert_eq!(
            parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(ms)
        );
        assert_eq!(
            parse_http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(ms)
        );
        assert_eq!(parse_http_date_ms("Sun Nov  6 08:49:37 1994"), Some(ms));
        assert_eq!(format_http_date(ms), "Sun, 06 Nov 1994 08:49:37 GMT");
        for bad in ["", "soon", "120", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            assert_eq!(parse_http_date_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_offset_follows_the_date_header_and_ignores_sub_second_noise() {
        let clock = ServerClock::default();
        assert_eq!(clock.offset_ms(), 0);
        let local = 1_781_278_200_300;
        let server_ahead = format_http_date(local + 20 * 60 * 1000);
        clock.observe(&server_ahead, local);
        assert!((clock.offset_ms() - 20 * 60 * 1000).abs() <= 1000);
        let server_behind = format_http_date(local - 20 * 60 * 1000);
        clock.observe(&server_behind, local);
        assert!((clock.offset_ms() + 20 * 60 * 1000).abs() <= 1000);
        clock.observe(&format_http_date(local), local);
        assert_eq!(clock.offset_ms(), 0, "same second, same clock");
        clock.observe("not a date", local);
        assert_eq!(clock.offset_ms(), 0);
    }
}
