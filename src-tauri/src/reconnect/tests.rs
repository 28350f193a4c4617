use super::*;
use layers_uploader::api::{NetworkKind, Service};

fn network() -> ApiError {
    ApiError::Network {
        kind: NetworkKind::Connect,
        host: "api.layers.com".into(),
        detail: "connection refused".into(),
    }
}

fn server(status: u16) -> ApiError {
    ApiError::Server {
        service: Service::Layers,
        status,
        code: "INTERNAL".into(),
        message: "boom".into(),
        request_id: None,
    }
}

#[test]
fn a_keyring_error_never_starts_the_sandbox() {
    let locked = SecretError::KeyringUnavailable {
        detail: "the unlock prompt was dismissed".into(),
        env_var: "LAYERS_API_KEY",
    };
    let failed = SecretError::Keyring {
        detail: "org.freedesktop.DBus.Error.ServiceUnknown".into(),
    };
    for e in [locked, failed] {
        match choose_key(Err(e)) {
            KeyChoice::Refuse { mode, error } => {
                assert_eq!(mode, MODE_KEYRING);
                assert_eq!(error.code, ErrorCode::Keyring);
                assert!(
                    error.message.starts_with(
                        "The keyring is locked or unavailable: unlock it, then press Retry."
                    ),
                    "{}",
                    error.message
                );
            }
            other => panic!("a keyring error led to {other:?}"),
        }
    }
}

#[test]
fn only_no_key_at_all_starts_the_sandbox() {
    let none = SecretError::NotConfigured {
        service: "Layers",
        flag: "",
        env_var: "LAYERS_API_KEY",
    };
    assert!(matches!(choose_key(Err(none)), KeyChoice::Sandbox));
    let bad = SecretError::InvalidKey {
        reason: "it must start with lp_live_ or lp_test_".into(),
    };
    match choose_key(Err(bad)) {
        KeyChoice::Refuse { mode, error } => {
            assert_eq!(mode, MODE_OFFLINE);
            assert!(error.message.contains("press Retry"), "{}", error.message);
        }
        other => panic!("an invalid key led to {other:?}"),
    }
    let key = ApiKey::layers("lp_live_abc_0123456789abcdef0123456789abcdef").unwrap();
    assert!(matches!(choose_key(Ok(key)), KeyChoice::Live(_)));
}

#[test]
fn an_unreachable_layers_is_tried_again_forever_within_the_backoff() {
    for e in [network(), server(503), server(500)] {
        for attempt in [0, 1, 5, 50, 10_000, u32::MAX] {
            let wait = next_try(&e, attempt).unwrap_or_else(|| panic!("{e} gave up at {attempt}"));
            assert!(wait >= Duration::from_secs(1), "{attempt}: {wait:?}");
            assert!(wait <= Duration::from_secs(60), "{attempt}: {wait:?}");
        }
    }
    // The ceiling grows: the first tries come soon, later ones up to a minute apart.
    let first = (0..200)
        .map(|_| next_try(&network(), 0).unwrap())
        .max()
        .unwrap();
    assert!(first <= Duration::from_secs(2), "{first:?}");
}

#[test]
fn retry_after_is_honoured_as_given() {
    let limited = ApiError::RateLimited {
        retry_after: Some(Duration::from_secs(37)),
        request_id: None,
    };
    assert_eq!(next_try(&limited, 0), Some(Duration::from_secs(37)));
    assert_eq!(next_try(&limited, 9), Some(Duration::from_secs(37)));
    let silly = ApiError::RateLimited {
        retry_after: Some(Duration::from_secs(86_400 * 30)),
        request_id: None,
    };
    assert_eq!(next_try(&silly, 0), Some(Duration::from_secs(3600)));
}

#[test]
fn a_refused_key_is_not_retried() {
    let unauth = ApiError::Unauthenticated {
        service: Service::Layers,
        message: "invalid key".into(),
        request_id: None,
    };
    let scope = ApiError::ForbiddenScope {
        message: "content:write".into(),
        request_id: None,
    };
    assert_eq!(next_try(&unauth, 0), None);
    assert_eq!(next_try(&scope, 0), None);
}

#[test]
fn the_banner_says_how_many_posts_wait_and_when_the_next_try_is() {
    assert_eq!(
        unreachable_message(3, Duration::from_millis(19_200)),
        "Layers unreachable, 3 posts waiting, next try in 20 s"
    );
    assert_eq!(
        unreachable_message(1, Duration::from_secs(90)),
        "Layers unreachable, 1 post waiting, next try in 2 min"
    );
    assert_eq!(wait_text(Duration::ZERO), "1 s");
}
