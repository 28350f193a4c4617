//! Scrubbing for the support bundle: whatever a log line holds, a key's secret, a bearer token
//! or a presigned URL's signature never leaves in a bundle. The engine never logs them; this is
//! the second line of defence.

use std::io::{self, BufRead, Read};

const REDACTED: &str = "[redacted]";

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Returns `line` with key secrets, bearer tokens, URL query strings and the values of
/// `LAYERS_API_KEY` / `LOOPS_API_KEY` replaced by `[redacted]`.
pub fn scrub_line(line: &str) -> String {
    let mut out = line.to_string();
    for var in ["LAYERS_API_KEY", "LOOPS_API_KEY"] {
        if let Ok(value) = std::env::var(var) {
            let value = value.trim();
            if value.len() >= 8 {
                out = out.replace(value, REDACTED);
            }
        }
    }
    let out = scrub_layers_keys(&out);
    let out = scrub_after(&out, "Bearer ", is_token_char_or_dot);
    scrub_url_queries(&out)
}

fn is_token_char_or_dot(c: char) -> bool {
    is_token_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '='
}

/// `lp_live_<id>_<secret>` keeps `lp_live_<id>_` (the key id is not a secret).
fn scrub_layers_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = ["lp_live_", "lp_test_"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let (head, tail) = rest.split_at(i + "lp_live_".len());
        out.push_str(head);
        let end = tail.find(|c: char| !is_token_char(c)).unwrap_or(tail.len());
        let token = &tail[..end];
        match token.find('_') {
            Some(id_end) if id_end + 1 < token.len() => {
                out.push_str(&token[..=id_end]);
                out.push_str(REDACTED);
            }
            Some(_) => out.push_str(token),
            None if token.is_empty() => {}
            None => out.push_str(REDACTED),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces the run of `keep`-chars after every `marker`.
fn scrub_after(s: &str, marker: &str, keep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let end = tail.find(|c: char| !keep(c)).unwrap_or(tail.len());
        if end > 0 {
            out.push_str(REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `https://host/path?sig=…` keeps `https://host/path?[redacted]`: a presigned URL is a
/// credential until it expires.
fn scrub_url_queries(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = ["http://", "https://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        let url = &tail[..end];
        match url.find('?') {
            Some(q) => {
                out.push_str(&url[..=q]);
                out.push_str(REDACTED);
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Scrubs a whole text, line by line.
pub fn scrub_text(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&scrub_line(line));
    }
    out.into_bytes()
}

/// A reader that yields its inner reader's lines scrubbed, one line in memory at a time.
pub struct ScrubbedReader<R: BufRead> {
    inner: R,
    line: Vec<u8>,
    pending: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> ScrubbedReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        ScrubbedReader {
            inner,
            line: Vec::new(),
            pending: Vec::new(),
            pos: 0,
        }
    }
}

impl<R: BufRead> Read for ScrubbedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.pending.len() {
            self.line.clear();
            if self.inner.read_until(b'\n', &mut self.line)? == 0 {
                return Ok(0);
            }
            self.pending = scrub_line(&String::from_utf8_lossy(&self.line)).into_bytes();
            self.pos = 0;
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layers_key_keeps_its_id_and_loses_its_secret() {
        let line = "retrying with lp_live_ab12cd_s3cr3tS3cr3t after 2 s";
        assert_eq!(
            scrub_line(line),
            "retrying with lp_live_ab12cd_[redacted] after 2 s"
        );
        assert_eq!(scrub_line("key lp_test_x9_q"), "key lp_test_x9_[redacted]");
        assert_eq!(
            scrub_line("odd lp_live_nounderscore"),
            "odd lp_live_[redacted]"
        );
        assert_eq!(
            scrub_line("shown as lp_live_ab12cd_…"),
            "shown as lp_live_ab12cd_…"
        );
    }

    #[test]
    fn bearer_tokens_and_signed_queries_are_redacted() {
        assert_eq!(
            scrub_line("authorization: Bearer abc.def-123 sent"),
            "authorization: Bearer [redacted] sent"
        );
        assert_eq!(
            scrub_line("PUT \"http://127.0.0.1:9/storage/k?expires=1&sig=ff\" failed"),
            "PUT \"http://127.0.0.1:9/storage/k?[redacted]\" failed"
        );
        assert_eq!(
            scrub_line("see https://layers.com/docs ok"),
            "see https://layers.com/docs ok"
        );
    }

    #[test]
    fn the_reader_scrubs_line_by_line() {
        let input = b"one lp_live_id_secretsecret\ntwo\nthree Bearer zzz";
        let mut out = String::new();
        ScrubbedReader::new(&input[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "one lp_live_id_[redacted]\ntwo\nthree Bearer [redacted]"
        );
    }
}
