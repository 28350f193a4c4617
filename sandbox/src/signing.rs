//! Presigned storage URLs: an HMAC-SHA256 (server secret) over method, object key, the signed
//! headers' values and the expiry. Like S3, the URL carries no content type: the PUT's own
//! `Content-Type` (and, when signed, `Content-Length`) must reproduce the signature.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why storage refuses a presigned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Required query parameters are missing or malformed.
    #[error("the URL is not a presigned URL")]
    Malformed,
    /// The signature does not cover this request (tampered URL or wrong headers).
    #[error("the request signature does not match")]
    Mismatch,
    /// The URL's expiry has passed.
    #[error("Request has expired")]
    Expired,
}

/// The header values a presigned URL binds.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub content_type: &'a str,
    /// `Some` only when the length is part of the signature (Loops).
    pub content_length: Option<u64>,
}

/// Signs and checks presigned URLs with a per-run random secret.
pub struct Signer {
    secret: [u8; 32],
}

impl Signer {
    /// A signer with a fresh random secret (URLs die with the run, as they should).
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Signer { secret }
    }

    /// A signer with a saved secret, so URLs issued before a restart still verify after it.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Signer { secret }
    }

    /// The secret, for the data dir's state file only.
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }

    /// The full PUT URL for `key` under `base`, valid until `expires_secs` (unix).
    pub fn presign(
        &self,
        base: &str,
        key: &str,
        headers: SignedHeaders<'_>,
        expires_secs: u64,
    ) -> String {
        let signed = signed_header_list(headers.content_length.is_some());
        let sig = self.signature(key, headers, expires_secs, signed);
        format!(
            "{base}/storage/{key}?X-Amz-Algorithm=LAYERS-HMAC-SHA256&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders={signed}&X-Amz-Signature={sig}"
        )
    }

    /// Checks a PUT to `key` with this raw query string and these request headers.
    pub fn verify(
        &self,
        key: &str,
        query: &str,
        content_type: Option<&str>,
        content_length: Option<u64>,
        now_secs: u64,
    ) -> Result<(), SignatureError> {
        let mut expires = None;
        let mut signed = None;
        let mut signature = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("X-Amz-Expires", v)) => expires = v.parse::<u64>().ok(),
                Some(("X-Amz-SignedHeaders", v)) => signed = Some(v.replace("%3B", ";")),
                Some(("X-Amz-Signature", v)) => signature = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(expires), Some(signed), Some(signature)) = (expires, signed, signature) else {
            return Err(SignatureError::Malformed);
        };
        let with_length = match signed.as_str() {
            "content-type" => false,
            "content-length;content-type" => true,
            _ => return Err(SignatureError::Malformed),
        };
        let Some(content_type) = content_type else {
            return Err(SignatureError::Mismatch);
        };
        let headers = SignedHeaders {
            content_type,
            content_length: if with_length {
                Some(content_length.ok_or(SignatureError::Mismatch)?)
            } else {
                None
            },
        };
        let mac = self.mac(key, headers, expires, signed_header_list(with_length));
        mac.verify_slice(&signature)
            .map_err(|_| SignatureError::Mismatch)?;
        if now_secs > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    fn signature(
        &self,
        key: &str,
        headers: SignedHeaders<'_>,
        expires: u64,
        signed: &str,
    ) -> String {
        hex::encode(
            self.mac(key, headers, expires, signed)
                .finalize()
                .into_bytes(),
        )
    }

    fn mac(&self, key: &str, headers: SignedHeaders<'_>, expires: u64, signed: &str) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail; fall back to an empty-key MAC
        // rather than panic if that ever changed.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        let length = headers
            .content_length
            .map(|n| n.to_string())
            .unwrap_or_default();
        let canonical = format!(
            "PUT\n{key}\n{}\n{length}\n{expires}\n{signed}",
            headers.content_type
        );
        mac.update(canonical.as_bytes());
        mac
    }
}

fn signed_header_list(with_length: bool) -> &'static str {
    if with_length {
        "content-length;content-type"
    } else {
        "content-type"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> &str {
        url.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    #[test]
    fn a_presigned_url_verifies_only_with_its_headers() {
        let s = Signer::random();
        let h = SignedHeaders {
            content_type: "image/png",
            content_length: None,
        };
        let url = s.presign("http://x", "a/b.png", h, 1_000);
        let q = query(&url);
        assert_eq!(
            s.verify("a/b.png", q, Some("image/png"), Some(5), 999),
            Ok(())
        );
        assert_eq!(
            s.verify("a/b.png", q, Some("image/jpeg"), Some(5), 999),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify("a/c.png", q, Some("image/png"), Some(5), 999),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify("a/b.png", q, Some("image/png"), Some(5), 1_001),
            Err(SignatureError::Expired)
        );
        let tampered = q.replace("X-Amz-Expires=1000", "X-Amz-Expires=9000");
        assert_eq!(
            s.verify("a/b.png", &tampered, Some("image/png"), None, 999),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signed_length_must_match() {
        let s = Signer::random();
        let h = SignedHeaders {
            content_type: "image/gif",
            content_length: Some(42),
        };
        let url = s.presign("http://x", "loops/a", h, 1_000);
        let q = query(&url);
        assert_eq!(
            s.verify("loops/a", q, Some("image/gif"), Some(42), 0),
            Ok(())
        );
        assert_eq!(
            s.verify("loops/a", q, Some("image/gif"), Some(41), 0),
            Err(SignatureError::Mismatch)
        );
    }
}
