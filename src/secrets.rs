//! API keys: the [`ApiKey`] wrapper that can only be shown redacted, and [`KeyStore`], which keeps
//! keys in the OS keyring (service `layers-uploader`). Environment variables override the keyring
//! for headless use. There is deliberately no file fallback: without a keyring we say so.

use std::fmt;

use thiserror::Error;

/// Keyring service shared by the app and the CLI.
pub const KEYRING_SERVICE: &str = "layers-uploader";

/// Env var that overrides the keyring's Layers key.
pub const LAYERS_KEY_ENV: &str = "LAYERS_API_KEY";

/// Env var that overrides the keyring's Loops key.
pub const LOOPS_KEY_ENV: &str = "LOOPS_API_KEY";

/// A secret API key. Debug and Display show only the key id; there are no serde impls, so a key
/// cannot end up in JSON, a store or a log by accident.
///
/// The check below compiles for a serializable type…
///
/// ```
/// fn needs_serialize<T: serde::Serialize>() {}
/// needs_serialize::<String>();
/// ```
///
/// …and fails for `ApiKey`, in both directions:
///
/// ```compile_fail
/// fn needs_serialize<T: serde::Serialize>() {}
/// needs_serialize::<layers_uploader::secrets::ApiKey>();
/// ```
///
/// ```compile_fail
/// fn needs_deserialize<T: serde::de::DeserializeOwned>() {}
/// needs_deserialize::<layers_uploader::secrets::ApiKey>();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    raw: String,
    shape: KeyShape,
}

/// What we know about a key's structure without the secret part.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyShape {
    /// `lp_<env>_<keyid>_<secret>`: `id_end` is the byte offset just past the key id.
    Layers { test: bool, id_end: usize },
    /// Loops keys (and anything else) are opaque bearer tokens.
    Opaque,
}

impl ApiKey {
    /// Wraps any bearer token (Loops keys are opaque); recognises the Layers shape when present.
    pub fn new(raw: &str) -> Result<ApiKey, SecretError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(SecretError::InvalidKey {
                reason: "the key is empty".into(),
            });
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::InvalidKey {
                reason: "the key contains spaces or non-printable characters".into(),
            });
        }
        let shape = layers_shape(raw).unwrap_or(KeyShape::Opaque);
        Ok(ApiKey {
            raw: raw.to_owned(),
            shape,
        })
    }

    /// Wraps a key that must have the Layers shape `lp_live_<keyid>_<secret>` or `lp_test_…`.
    pub fn layers(raw: &str) -> Result<ApiKey, SecretError> {
        let key = ApiKey::new(raw)?;
        match key.shape {
            KeyShape::Layers { .. } => Ok(key),
            KeyShape::Opaque => Err(SecretError::InvalidKey {
                reason:
                    "a Layers key looks like lp_live_<keyid>_<secret> or lp_test_<keyid>_<secret>"
                        .into(),
            }),
        }
    }

    /// The key id segment (safe to log), or `None` for opaque keys.
    pub fn key_id(&self) -> Option<&str> {
        match self.shape {
            KeyShape::Layers { test, id_end } => {
                let start = if test {
                    "lp_test_".len()
                } else {
                    "lp_live_".len()
                };
                self.raw.get(start..id_end)
            }
            KeyShape::Opaque => None,
        }
    }

    /// True for `lp_test_` keys, whose uploads may hit a sandbox backend.
    pub fn is_test(&self) -> bool {
        matches!(self.shape, KeyShape::Layers { test: true, .. })
    }

    /// The full secret. Only for building the `Authorization` header, never for output.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The secret segment alone (after `lp_<env>_<keyid>_`; the whole key if opaque). Only for
    /// scrubbing it out of text a server echoed back.
    pub fn expose_secret_part(&self) -> &str {
        match self.shape {
            KeyShape::Layers { id_end, .. } => &self.raw[id_end + 1..],
            KeyShape::Opaque => &self.raw,
        }
    }

    /// "live key", "test key" or "key": what the UI badge says.
    pub fn kind_label(&self) -> &'static str {
        match self.shape {
            KeyShape::Layers { test: true, .. } => "test key",
            KeyShape::Layers { test: false, .. } => "live key",
            KeyShape::Opaque => "key",
        }
    }
}

/// Parses `lp_(live|test)_<keyid>_<secret>` without exposing anything.
fn layers_shape(raw: &str) -> Option<KeyShape> {
    let (test, rest) = if let Some(rest) = raw.strip_prefix("lp_live_") {
        (false, rest)
    } else {
        (true, raw.strip_prefix("lp_test_")?)
    };
    let id_len = rest.find('_')?;
    let secret = &rest[id_len + 1..];
    if id_len == 0 || secret.is_empty() {
        return None;
    }
    Some(KeyShape::Layers {
        test,
        id_end: raw.len() - rest.len() + id_len,
    })
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            KeyShape::Layers { id_end, .. } => write!(f, "{}_…", &self.raw[..id_end]),
            KeyShape::Opaque => write!(f, "<opaque key, {} chars>", self.raw.len()),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({self})")
    }
}

/// Which key a keyring entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The Layers API key (`layers-api-key`).
    Layers,
    /// The Loops API key (`loops-api-key`).
    Loops,
}

impl Account {
    /// The keyring account (user) name.
    pub fn keyring_user(self) -> &'static str {
        match self {
            Account::Layers => "layers-api-key",
            Account::Loops => "loops-api-key",
        }
    }

    /// The env var that overrides the keyring for this account.
    pub fn env_var(self) -> &'static str {
        match self {
            Account::Layers => LAYERS_KEY_ENV,
            Account::Loops => LOOPS_KEY_ENV,
        }
    }

    /// Human name of the service the key belongs to.
    pub fn service_name(self) -> &'static str {
        match self {
            Account::Layers => "Layers",
            Account::Loops => "Loops",
        }
    }
}

/// Where a resolved key came from, so the UI can say "env override".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The named environment variable.
    Env(&'static str),
    /// The OS keyring.
    Keyring,
}

/// Why a key could not be read, stored or accepted. Never carries key material.
#[derive(Debug, Error)]
pub enum SecretError {
    /// No usable keyring service (no D-Bus session, no Secret Service, locked store, …).
    #[error(
        "No OS keyring is available ({detail}). Keys are never written to a plain file: start a \
         Secret Service (e.g. gnome-keyring) in this session, or set {env_var} for this process."
    )]
    KeyringUnavailable {
        /// What the keyring backend reported.
        detail: String,
        /// The env var that works instead.
        env_var: &'static str,
    },
    /// Nothing stored for this account and no env override.
    #[error("No {service} API key: run `layers-upload login{flag}` or set {env_var}.")]
    NotConfigured {
        /// "Layers" or "Loops".
        service: &'static str,
        /// " --loops" for the Loops account.
        flag: &'static str,
        /// The env var that would provide it.
        env_var: &'static str,
    },
    /// The text is not an acceptable key.
    #[error("Invalid API key: {reason}.")]
    InvalidKey {
        /// What is wrong with it (never the key itself).
        reason: String,
    },
    /// The keyring answered with an error other than "unavailable".
    #[error("The OS keyring failed: {detail}")]
    Keyring {
        /// What the keyring backend reported.
        detail: String,
    },
}

impl SecretError {
    /// Stable snake_case code for UIs.
    pub fn code(&self) -> &'static str {
        match self {
            SecretError::KeyringUnavailable { .. } => "keyring_unavailable",
            SecretError::NotConfigured { .. } => "no_api_key",
            SecretError::InvalidKey { .. } => "invalid_api_key",
            SecretError::Keyring { .. } => "keyring_failed",
        }
    }
}

/// The OS keyring, under one service name (tests use their own to stay isolated).
#[derive(Debug, Clone)]
pub struct KeyStore {
    service: String,
}

impl Default for KeyStore {
    fn default() -> Self {
        KeyStore::new()
    }
}

impl KeyStore {
    /// The product's keyring service, `layers-uploader`.
    pub fn new() -> KeyStore {
        KeyStore::with_service(KEYRING_SERVICE)
    }

    /// A store under another service name, so tests never touch a user's real keys.
    pub fn with_service(service: &str) -> KeyStore {
        KeyStore {
            service: service.to_owned(),
        }
    }

    fn entry(&self, account: Account) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(&self.service, account.keyring_user())
            .map_err(|e| keyring_error(e, account))
    }

    /// Reads the stored key; `Ok(None)` when nothing is stored.
    pub fn load(&self, account: Account) -> Result<Option<ApiKey>, SecretError> {
        match self.entry(account)?.get_password() {
            Ok(raw) => ApiKey::new(&raw).map(Some),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e, account)),
        }
    }

    /// Stores (or replaces) the key.
    pub fn store(&self, account: Account, key: &ApiKey) -> Result<(), SecretError> {
        self.entry(account)?
            .set_password(key.expose())
            .map_err(|e| keyring_error(e, account))
    }

    /// Deletes the key; `Ok(false)` when there was none.
    pub fn delete(&self, account: Account) -> Result<bool, SecretError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_error(e, account)),
        }
    }

    /// The key to use: the env override if set (non-empty), else the keyring.
    pub fn resolve(&self, account: Account) -> Result<(ApiKey, KeySource), SecretError> {
        if let Some(key) = env_key(account)? {
            return Ok((key, KeySource::Env(account.env_var())));
        }
        match self.load(account)? {
            Some(key) => Ok((key, KeySource::Keyring)),
            None => Err(SecretError::NotConfigured {
                service: account.service_name(),
                flag: match account {
                    Account::Layers => "",
                    Account::Loops => " --loops",
                },
                env_var: account.env_var(),
            }),
        }
    }
}

/// The env override for an account, if set and non-empty.
pub fn env_key(account: Account) -> Result<Option<ApiKey>, SecretError> {
    match std::env::var(account.env_var()) {
        Ok(v) if !v.trim().is_empty() => ApiKey::new(&v).map(Some),
        _ => Ok(None),
    }
}

/// Converts a keyring error into ours, dropping anything that could hold secret bytes.
fn keyring_error(e: keyring::Error, account: Account) -> SecretError {
    match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            SecretError::KeyringUnavailable {
                detail: inner.to_string(),
                env_var: account.env_var(),
            }
        }
        // BadEncoding carries the stored bytes: never format them.
        keyring::Error::BadEncoding(_) => SecretError::Keyring {
            detail: "the stored key is not UTF-8; run login again".into(),
        },
        other => SecretError::Keyring {
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "lp_live_k7Qx2_s3cr3tS3cr3tS3cr3t";

    #[test]
    fn layers_key_shape_is_recognised() {
        let k = ApiKey::layers(LIVE).unwrap();
        assert_eq!(k.key_id(), Some("k7Qx2"));
        assert!(!k.is_test());
        assert_eq!(k.kind_label(), "live key");
        let t = ApiKey::layers("lp_test_abc_def_ghi").unwrap();
        assert!(t.is_test());
        assert_eq!(t.key_id(), Some("abc"));
        assert_eq!(t.to_string(), "lp_test_abc_…");
        assert_eq!(t.expose_secret_part(), "def_ghi");
    }

    #[test]
    fn malformed_layers_keys_are_refused() {
        for bad in [
            "",
            "  ",
            "lp_live_",
            "lp_live_abc",
            "lp_live__x",
            "lp_prod_a_b",
            "sk_123",
        ] {
            assert!(ApiKey::layers(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ApiKey::new("has space").is_err());
        assert!(ApiKey::new("tab\there").is_err());
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let k = ApiKey::layers(&format!("  {LIVE}\n")).unwrap();
        assert_eq!(k.expose(), LIVE);
    }

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let k = ApiKey::layers(LIVE).unwrap();
        assert_eq!(format!("{k}"), "lp_live_k7Qx2_…");
        assert_eq!(format!("{k:?}"), "ApiKey(lp_live_k7Qx2_…)");
        assert!(!format!("{k:#?}").contains("s3cr3t"));
        let wrapped = Some(vec![k.clone()]);
        assert!(!format!("{wrapped:?}").contains("s3cr3t"));
        let opaque = ApiKey::new("loops_0123456789abcdef").unwrap();
        assert_eq!(opaque.key_id(), None);
        assert!(!format!("{opaque} {opaque:?}").contains("0123456789"));
    }

    #[test]
    fn secret_errors_never_show_the_secret() {
        let errs = [
            ApiKey::layers("lp_live_s3cr3t").unwrap_err(),
            ApiKey::new("s3cr3t value").unwrap_err(),
            keyring_error(
                keyring::Error::BadEncoding(b"s3cr3t".to_vec()),
                Account::Layers,
            ),
        ];
        for e in errs {
            assert!(!format!("{e} {e:?}").contains("s3cr3t"), "{e:?}");
        }
    }

    #[test]
    fn unavailable_keyring_says_so_plainly() {
        let e = keyring_error(
            keyring::Error::PlatformFailure("Unable to autolaunch a dbus-daemon".into()),
            Account::Layers,
        );
        assert_eq!(e.code(), "keyring_unavailable");
        let msg = e.to_string();
        assert!(msg.contains("No OS keyring is available"), "{msg}");
        assert!(msg.contains("LAYERS_API_KEY"), "{msg}");
        assert!(msg.contains("never written to a plain file"), "{msg}");
    }
}
