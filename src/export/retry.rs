//! The one retry policy of `export`, used by every target (HTTP platforms, GraphQL errors,
//! Kubernetes): at most `retries` extra attempts, exponential backoff with jitter, a server's
//! `Retry-After` honoured up to [`MAX_RETRY_AFTER`] (a longer one ends the retries at once:
//! waiting would only meet the per-target deadline). No layer underneath retries on its own
//! (the `kube` client's retry layer is turned off), so `retries = 0` means one attempt.

use std::future::Future;
use std::time::Duration;

/// Longest wait honoured from a `Retry-After` header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// How one failed attempt may continue.
pub enum Failure<E> {
    /// Worth another attempt, after `after` if the server said so.
    Retry { after: Option<Duration>, error: E },
    /// Final: retrying cannot help (auth, validation) or could do harm (a create that may
    /// have happened).
    Fail(E),
}

/// Runs `attempt(1)`, `attempt(2)`, … until it succeeds, fails finally, or `retries` extra
/// attempts are used up; returns the last error.
pub async fn retry<T, E, F, Fut>(retries: u32, mut attempt: F) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let mut n = 0u32;
    loop {
        n += 1;
        match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(Failure::Fail(error)) => return Err(error),
            Err(Failure::Retry { after, error }) => {
                if n > retries || after.is_some_and(|w| w > MAX_RETRY_AFTER) {
                    return Err(error);
                }
                let wait = after.unwrap_or_else(|| backoff(n));
                tracing::info!(attempt = n, wait_ms = wait.as_millis() as u64, "retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Exponential backoff with jitter (between half and all of the step).
pub fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let millis = cap.as_millis() as u64;
    Duration::from_millis(fastrand::u64(millis / 2..=millis.max(1)))
}

/// A `Retry-After` value in seconds (the HTTP-date form is not used by these APIs).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= BACKOFF_MAX);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn retries_are_bounded_and_long_retry_after_stops_at_once() {
        let mut calls = 0;
        let r: Result<(), &str> = retry(2, |_| {
            calls += 1;
            async {
                Err(Failure::Retry {
                    after: Some(Duration::from_millis(1)),
                    error: "busy",
                })
            }
        })
        .await;
        assert_eq!((r, calls), (Err("busy"), 3));
        let mut calls = 0;
        let r: Result<(), &str> = retry(5, |_| {
            calls += 1;
            async {
                Err(Failure::Retry {
                    after: Some(Duration::from_secs(3600)),
                    error: "later",
                })
            }
        })
        .await;
        assert_eq!((r, calls), (Err("later"), 1));
        let mut calls = 0;
        let r: Result<(), &str> = retry(5, |_| {
            calls += 1;
            async { Err(Failure::Fail("no")) }
        })
        .await;
        assert_eq!((r, calls), (Err("no"), 1));
    }
}
