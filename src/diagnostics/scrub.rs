//! Scrubbing for the support bundle: whatever a log line holds, a key's secret, a bearer token
//! or a presigned URL's signature never leaves in a bundle. The engine never logs them; this is
//! the second line of defence.

use std::io::{self, BufRead, Read};

const REDACTED: &str = "[redacted]";

/// Shortest extra secret matched literally (shorter values would redact ordinary words).
const MIN_LITERAL_SECRET: usize = 8;

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// A secret runs over every printable ASCII character (what a key may hold), up to
/// whitespace or anything outside ASCII (`…` after a key id is how keys are shown).
fn is_secret_char(c: char) -> bool {
    c.is_ascii_graphic()
}

/// What to scrub besides the patterns: the exact values of keys known to this process
/// (`LAYERS_API_KEY`, `LOOPS_API_KEY`, the keyring's keys — Loops keys have no pattern).
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    literals: Vec<String>,
}

impl Scrubber {
    /// A scrubber that also redacts each of `secrets` (shorter than 8 characters: ignored).
    pub fn with_secrets(secrets: impl IntoIterator<Item = String>) -> Scrubber {
        let mut literals: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() >= MIN_LITERAL_SECRET)
            .collect();
        // Longest first, so a key that contains another is redacted whole.
        literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        literals.dedup();
        Scrubber { literals }
    }

    /// The environment's key variables only.
    pub fn from_env() -> Scrubber {
        Scrubber::with_secrets(
            ["LAYERS_API_KEY", "LOOPS_API_KEY"]
                .iter()
                .filter_map(|v| std::env::var(v).ok()),
        )
    }

    /// Returns `line` with key secrets, bearer tokens (any case), URL query strings (also in
    /// JSON-escaped URLs) and the known secrets replaced by `[redacted]`.
    pub fn line(&self, line: &str) -> String {
        let mut out = line.to_string();
        for literal in &self.literals {
            out = out.replace(literal.as_str(), REDACTED);
            // The same value as JSON would escape it.
            let escaped = serde_json::Value::from(literal.as_str()).to_string();
            let escaped = &escaped[1..escaped.len() - 1];
            if escaped != literal {
                out = out.replace(escaped, REDACTED);
            }
        }
        let out = scrub_layers_keys(&out);
        let out = scrub_bearer(&out);
        scrub_url_queries(&out)
    }
}

/// [`Scrubber::line`] with the environment's keys.
pub fn scrub_line(line: &str) -> String {
    Scrubber::from_env().line(line)
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
        let end = tail
            .find(|c: char| !is_secret_char(c))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        let id_len = token.find(|c: char| !is_id_char(c)).unwrap_or(token.len());
        match token[id_len..].strip_prefix('_') {
            // `lp_live_<id>_` then the secret.
            Some(secret) if !secret.is_empty() && !secret.starts_with(REDACTED) => {
                out.push_str(&token[..=id_len]);
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

/// Replaces the token after every `bearer ` (any case, any run of spaces).
fn scrub_bearer(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find("bearer") {
        let start = at + found + "bearer".len();
        let spaces = s[start..].len() - s[start..].trim_start_matches([' ', '\t']).len();
        out.push_str(&s[at..start + spaces]);
        let token_start = start + spaces;
        let end = s[token_start..]
            .find(|c: char| !is_secret_char(c))
            .map_or(s.len(), |e| token_start + e);
        if spaces > 0 && end > token_start && !s[token_start..end].starts_with(REDACTED) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&s[token_start..end]);
        }
        at = end;
    }
    out.push_str(&s[at..]);
    out
}

/// `https://host/path?sig=…` keeps `https://host/path?[redacted]`: a presigned URL is a
/// credential until it expires. JSON-escaped URLs (`https:\/\/…`) are URLs too.
fn scrub_url_queries(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = ["http://", "https://", "http:\\/\\/", "https:\\/\\/"]
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
        // A JSON-escaped `?` is `\u003f`.
        let query = [url.find('?'), url.to_ascii_lowercase().find("\\u003f")]
            .into_iter()
            .flatten()
            .min();
        match query {
            Some(q) => {
                let mark = if url[q..].starts_with('?') { 1 } else { 6 };
                out.push_str(&url[..q + mark]);
                out.push_str(REDACTED);
                // The backslash of an escaped quote that ends the URL inside a JSON string.
                if url.ends_with('\\') {
                    out.push('\\');
                }
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Scrubs a whole text, line by line.
pub fn scrub_text(scrubber: &Scrubber, bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        out.push_str(&scrubber.line(line));
    }
    out.into_bytes()
}

/// A reader that yields its inner reader's lines scrubbed, one line in memory at a time.
pub struct ScrubbedReader<R: BufRead> {
    scrubber: Scrubber,
    inner: R,
    line: Vec<u8>,
    pending: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> ScrubbedReader<R> {
    /// Wraps a reader.
    pub fn new(scrubber: Scrubber, inner: R) -> Self {
        ScrubbedReader {
            scrubber,
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
            self.pending = self
                .scrubber
                .line(&String::from_utf8_lossy(&self.line))
                .into_bytes();
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
        ScrubbedReader::new(Scrubber::default(), &input[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "one lp_live_id_[redacted]\ntwo\nthree Bearer [redacted]"
        );
    }

    #[test]
    fn secrets_with_any_printable_character_and_any_bearer_case_go() {
        assert_eq!(
            scrub_line("k=lp_live_ab12_s3c+r/e=t!x$y done"),
            "k=lp_live_ab12_[redacted] done"
        );
        for line in [
            "authorization: bearer abc+/=!x",
            "AUTHORIZATION: BEARER abc+/=!x",
            "Authorization:   Bearer\tabc+/=!x",
        ] {
            let out = scrub_line(line);
            assert!(!out.contains("abc+/=!x"), "{line} -> {out}");
            assert!(out.contains("[redacted]"), "{out}");
        }
        // Already scrubbed text stays as it is.
        let once = scrub_line("lp_live_ab12_secret Bearer tok");
        assert_eq!(scrub_line(&once), once);
    }

    #[test]
    fn keyring_keys_and_json_escaped_urls_go() {
        let s = Scrubber::with_secrets(["loops-opaque\"key/9".to_string(), "short".to_string()]);
        assert_eq!(s.line("key loops-opaque\"key/9 end"), "key [redacted] end");
        assert_eq!(
            s.line(r#"{"k":"loops-opaque\"key/9"}"#),
            r#"{"k":"[redacted]"}"#
        );
        assert_eq!(s.line("short stays"), "short stays");
        assert_eq!(
            s.line(r#"{"url":"https:\/\/s.example.com\/k?X-Amz-Signature=ff","n":1}"#),
            r#"{"url":"https:\/\/s.example.com\/k?[redacted]","n":1}"#
        );
        assert_eq!(
            s.line(r#"{"url":"https:\/\/s\/k\u003fsig=ff"}"#),
            r#"{"url":"https:\/\/s\/k\u003f[redacted]"}"#
        );
        assert_eq!(
            s.line(r#"msg="PUT \"https://s/k?sig=ff\" failed""#),
            r#"msg="PUT \"https://s/k?[redacted]\" failed""#
        );
    }
}
