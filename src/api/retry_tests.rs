use std::cell::RefCell;

use super::*;

fn net() -> ApiError {
    ApiError::Network {
        kind: NetworkKind::Reset,
        host: "h".into(),
        detail: "reset".into(),
    }
}

fn limited(secs: u64) -> ApiError {
    ApiError::RateLimited {
        retry_after: Some(Duration::from_secs(secs)),
        request_id: None,
    }
}

fn refused() -> ApiError {
    ApiError::Unauthenticated {
        service: super::super::error::Service::Layers,
        message: "bad key".into(),
        request_id: None,
    }
}

#[test]
fn ceilings_double_up_to_the_cap() {
    let p = RetryPolicy::default();
    let c: Vec<u64> = (0..8).map(|a| p.ceiling(a).as_millis() as u64).collect();
    assert_eq!(c, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
    assert_eq!(p.ceiling(200), Duration::from_secs(20));
}

#[test]
fn jitter_stays_within_the_ceiling() {
    let p = RetryPolicy::default();
    for a in 0..10 {
        for _ in 0..100 {
            assert!(p.backoff(a) <= p.ceiling(a));
        }
    }
}

#[test]
fn retry_after_wins_and_4xx_is_final() {
    let p = RetryPolicy::default();
    assert_eq!(p.next_delay(&limited(9), 0), Some(Duration::from_secs(9)));
    let conflict = ApiError::Conflict {
        message: String::new(),
        request_id: None,
    };
    assert_eq!(p.next_delay(&conflict, 0), None);
    assert!(p.next_delay(&net(), 3).is_some());
    assert_eq!(p.next_delay(&net(), 4), None);
    assert!(RetryPolicy::forever()
        .next_delay(&net(), 1_000_000)
        .is_some());
}

#[test]
fn an_absurd_retry_after_is_capped_and_the_cap_is_said() {
    let p = RetryPolicy::default();
    let w = p.wait_for(&limited(86_400), 0);
    assert_eq!(w.delay, MAX_RETRY_AFTER);
    assert_eq!(w.capped_from, Some(Duration::from_secs(86_400)));
    let e = limited(86_400);
    let line = waiting_line(
        &RetryNotice {
            next_attempt: 2,
            max_attempts: None,
            wait: w,
            error: &e,
        },
        "the key check",
    );
    assert_eq!(
        line,
        "Layers rate-limited the key check; trying again in 15 min (attempt 2); it asked for 24 h, more than the 15 min this client waits at most"
    );
}

#[test]
fn waits_read_as_people_say_them() {
    let cases = [
        (400, "0.4 s"),
        (1000, "1 s"),
        (1001, "1.1 s"),
        (9_950, "10 s"),
        (12_000, "12 s"),
        (125_000, "2 min 5 s"),
        (120_000, "2 min"),
        (5_400_000, "1 h 30 min"),
    ];
    for (ms, text) in cases {
        assert_eq!(human_wait(Duration::from_millis(ms)), text, "{ms}");
    }
}

#[tokio::test(start_paused = true)]
async fn run_retries_until_success_and_reports_each_wait() {
    let p = RetryPolicy::startup();
    let seen = RefCell::new(Vec::new());
    let out: Result<u32, GaveUp<ApiError>> = p
        .run_observed(
            |attempt| async move {
                match attempt {
                    0 => Err(limited(1)),
                    1 => Err(net()),
                    _ => Ok(attempt),
                }
            },
            |n| {
                seen.borrow_mut()
                    .push((n.next_attempt, n.max_attempts, n.wait.delay))
            },
        )
        .await;
    assert_eq!(out.unwrap(), 2);
    let seen = seen.into_inner();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0],
        (2, Some(5), Duration::from_secs(1)),
        "429 waits exactly"
    );
    assert_eq!((seen[1].0, seen[1].1), (3, Some(5)));
    assert!(
        seen[1].2 <= Duration::from_secs(2),
        "jittered under the ceiling"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_ends_at_once_and_a_dead_api_within_the_budget() {
    let p = RetryPolicy::startup();
    let calls = RefCell::new(0);
    let out: Result<(), GaveUp<ApiError>> = p
        .run_observed(
            |_| {
                *calls.borrow_mut() += 1;
                async { Err(refused()) }
            },
            |_| panic!("a 401 is never retried"),
        )
        .await;
    let g = out.unwrap_err();
    assert!(g.is_final());
    assert_eq!((g.attempts, *calls.borrow()), (1, 1));

    let started = Instant::now();
    let out: Result<(), GaveUp<ApiError>> = p.run_observed(|_| async { Err(net()) }, |_| {}).await;
    let g = out.unwrap_err();
    assert!(!g.is_final());
    assert_eq!(g.attempts, 5);
    assert!(
        started.elapsed() <= Duration::from_secs(55),
        "{:?}",
        started.elapsed()
    );

    // A Retry-After longer than the budget is not waited out: it gives up at once.
    let out: Result<(), GaveUp<ApiError>> = p
        .run_observed(|_| async { Err(limited(120)) }, |_| panic!("no wait"))
        .await;
    assert_eq!(out.unwrap_err().attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn forever_keeps_trying_past_any_count() {
    let p = RetryPolicy::forever();
    let mut notices = 0;
    let out: Result<u32, GaveUp<ApiError>> = p
        .run_observed(
            |attempt| async move {
                if attempt < 40 {
                    Err(net())
                } else {
                    Ok(attempt)
                }
            },
            |n| {
                assert_eq!(n.max_attempts, None);
                assert!(n.wait.delay <= p.cap);
                notices += 1;
            },
        )
        .await;
    assert_eq!(out.unwrap(), 40);
    assert_eq!(notices, 40);
}

#[tokio::test]
async fn run_retries_until_success() {
    let p = RetryPolicy {
        base: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let out: Result<u32, ApiError> = p
        .run(|attempt| async move {
            if attempt < 2 {
                Err(net())
            } else {
                Ok(attempt)
            }
        })
        .await;
    assert_eq!(out.unwrap(), 2);
}
