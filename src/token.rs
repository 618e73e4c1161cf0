//! Registry + identity → a usable credential: cache first, then a single-flight fetch.
//!
//! Shared by the helper's `get` and by `export`, so both see the same cache and the same rules:
//!
//! * fresh entry → served, no network;
//! * otherwise take the per-key lock (bounded by the fetch deadline), re-read the cache (another
//!   process may have just refreshed it), fetch, store, serve;
//! * fetch failed but the entry is stale-but-unexpired → served, with a warning in the log;
//! * an expired entry is never served; a token the API hands out already expired is returned
//!   (the registry will say why) but never counts as fresh.

use crate::cache::{Cache, Entry, Freshness};
use crate::ecr::{self, FetchError, FetchedToken, split_token};
use crate::identity::{CredentialSource, Identity};
use crate::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, Instant};

/// Less time than this left on the deadline is not worth starting a fetch (or a write) with.
const MIN_FETCH_TIME: Duration = Duration::from_millis(200);
use time::OffsetDateTime;

/// What a caller wants a credential for.
pub struct TokenRequest<'a> {
    pub registry: &'a Registry,
    pub identity: &'a Identity,
    pub source: &'a CredentialSource,
    /// The token must have at least this much life left to count as fresh (0 for `get`).
    pub min_remaining: Duration,
    /// `None` disables the cache.
    pub cache: Option<&'a Cache>,
    pub fetch_timeout: Duration,
}

/// A registry credential. The password is a [`SecretString`] so it cannot be printed by accident.
pub struct Credential {
    pub username: String,
    pub password: SecretString,
    /// The raw `authorizationToken` (base64 of `user:password`), what some platforms want.
    pub authorization_token: SecretString,
    pub expires_at: OffsetDateTime,
    pub proxy_endpoint: String,
    /// Where it came from, for logs and reports.
    pub origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Api,
    /// The refresh failed; this is the older, still unexpired token.
    StaleCache,
}

/// The cache key: region + identity + registry, in the Go helper's layout
/// (`<region>-<hash>-<account>`, `ecr-public-<hash>`).
pub fn cache_key(registry: &Registry, identity: &Identity) -> String {
    match registry {
        Registry::Private(p) => format!(
            "{}-{}-{}",
            p.region,
            identity.key,
            p.account.as_deref().unwrap_or("")
        ),
        Registry::Public { .. } => format!("ecr-public-{}", identity.key),
    }
}

/// Whether `key` belongs to `identity` (used by `list`).
pub fn key_belongs_to(key: &str, identity: &Identity) -> bool {
    key == format!("ecr-public-{}", identity.key) || key.contains(&format!("-{}-", identity.key))
}

pub fn obtain(request: &TokenRequest) -> Result<Credential, FetchError> {
    let key = cache_key(request.registry, request.identity);
    let cached = request.cache.and_then(|c| c.get(&key)).filter(is_usable);
    if let Some(entry) = cached.as_ref().filter(|e| is_fresh(e, request)) {
        tracing::debug!(region = request.registry.api_region(), "using cached token");
        return credential_from_entry(entry, Origin::Cache);
    }
    refresh(request, &key, cached)
}

fn is_fresh(entry: &Entry, request: &TokenRequest) -> bool {
    entry.freshness(OffsetDateTime::now_utc(), request.min_remaining) == Freshness::Fresh
}

fn is_unexpired(entry: &Entry) -> bool {
    entry.freshness(OffsetDateTime::now_utc(), Duration::ZERO) != Freshness::Expired
}

/// An entry whose token does not decode is treated as missing (and refetched), never served.
fn is_usable(entry: &Entry) -> bool {
    split_token(&entry.authorization_token).is_ok()
}

/// The slow path, kept out of line so the cached path does not carry its (large, async) frame.
/// Everything in it — waiting for the lock, fetching, writing — shares one deadline.
#[inline(never)]
fn refresh(
    request: &TokenRequest,
    key: &str,
    mut cached: Option<Entry>,
) -> Result<Credential, FetchError> {
    crate::logging::activate(); // from here on there may be news to log
    let deadline = Instant::now() + request.fetch_timeout;
    // Single flight: whoever holds the key's lock fetches; the others wait, then re-read.
    let guard = request
        .cache
        .map(|c| c.lock_key(key, request.fetch_timeout));
    match (request.cache, &guard) {
        (Some(cache), Some(Ok(guard))) => {
            // Always re-read: another process may have refreshed between our read and our lock.
            cached = cache.get(key).filter(is_usable);
            if let Some(entry) = cached.as_ref().filter(|e| is_fresh(e, request)) {
                tracing::debug!("another process refreshed the token");
                return credential_from_entry(entry, Origin::Cache);
            }
            if let Some(entry) = cached.as_ref().filter(|e| {
                guard.waited && e.lasts(OffsetDateTime::now_utc(), request.min_remaining)
            }) {
                // The holder just tried and did not refresh it: don't make this caller wait
                // for a second attempt while a token that lasts long enough is at hand. (A
                // holder needing less time left — `get` vs `export` — may have skipped the
                // refresh; then this caller's need is not met, and it fetches itself.)
                tracing::warn!(expires_at = %entry.expires_at, "refresh by another process failed; serving the cached token until it expires");
                return credential_from_entry(entry, Origin::StaleCache);
            }
        }
        (Some(cache), Some(Err(e))) if e.kind() == std::io::ErrorKind::TimedOut => {
            // Another process held the lock for the whole deadline. It may have written just
            // now: look once more before giving up, and say what really happened.
            cached = cache.get(key).filter(is_usable);
            if let Some(entry) = cached.as_ref().filter(|e| is_fresh(e, request)) {
                return credential_from_entry(entry, Origin::Cache);
            }
            return match cached
                .filter(|e| e.lasts(OffsetDateTime::now_utc(), request.min_remaining))
            {
                Some(entry) => credential_from_entry(&entry, Origin::StaleCache),
                None => Err(FetchError::Busy {
                    after: request.fetch_timeout,
                }),
            };
        }
        (_, Some(Err(e))) => tracing::debug!(error = %e, "fetching without the cache lock"),
        _ => {}
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining < MIN_FETCH_TIME {
        return match cached.filter(is_unexpired) {
            Some(entry) => credential_from_entry(&entry, Origin::StaleCache),
            None => Err(FetchError::Timeout {
                after: request.fetch_timeout,
            }),
        };
    }

    let requested_at = OffsetDateTime::now_utc();
    match ecr::fetch_blocking(request.registry, request.source, remaining) {
        Ok(fetched) => {
            let entry = entry_from(request.registry, &fetched, requested_at);
            if fetched.expires_at <= requested_at {
                tracing::warn!(expires_at = %fetched.expires_at, "the API issued a token that is already expired");
            }
            if let Some(Err(e)) = request.cache.map(|cache| {
                cache.put(
                    key,
                    &entry,
                    deadline
                        .saturating_duration_since(Instant::now())
                        .max(MIN_FETCH_TIME),
                )
            }) {
                tracing::warn!(error = %e, "could not write the token cache");
            }
            tracing::info!(
                registry = entry.proxy_endpoint.as_str(),
                identity = request.identity.description.as_str(),
                expires_at = %entry.expires_at,
                "fetched a new authorization token"
            );
            credential_from_entry(&entry, Origin::Api)
        }
        Err(error) => {
            tracing::error!(error = %error.detail(), identity = request.identity.description.as_str(), "token fetch failed");
            match cached {
                Some(entry) if is_unexpired(&entry) => {
                    tracing::warn!(expires_at = %entry.expires_at, "serving the cached token until it expires");
                    credential_from_entry(&entry, Origin::StaleCache)
                }
                _ => Err(error),
            }
        }
    }
}

fn entry_from(registry: &Registry, fetched: &FetchedToken, requested_at: OffsetDateTime) -> Entry {
    let proxy_endpoint = fetched
        .proxy_endpoint
        .clone()
        .filter(|_| !registry.is_public())
        .or_else(|| registry.proxy_endpoint())
        .unwrap_or_default();
    Entry {
        authorization_token: fetched.authorization_token.clone(),
        requested_at,
        expires_at: fetched.expires_at,
        proxy_endpoint,
        service: if registry.is_public() {
            "ecr-public"
        } else {
            "ecr"
        }
        .to_string(),
    }
}

fn credential_from_entry(entry: &Entry, origin: Origin) -> Result<Credential, FetchError> {
    let (username, password) =
        split_token(&entry.authorization_token).map_err(FetchError::BadResponse)?;
    Ok(Credential {
        username,
        password: SecretString::from(password),
        authorization_token: SecretString::from(entry.authorization_token.clone()),
        expires_at: entry.expires_at,
        proxy_endpoint: entry.proxy_endpoint.clone(),
        origin,
    })
}

impl Credential {
    /// The password, for the few places that must write it out (protocol reply, export).
    pub fn password(&self) -> &str {
        self.password.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_go_layout_and_list_filters_by_identity() {
        let id = Identity {
            key: "abc+/=".into(),
            description: String::new(),
            profile: None,
        };
        let private =
            crate::registry::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").expect("ecr");
        let public = crate::registry::parse("public.ecr.aws").expect("public");
        assert_eq!(cache_key(&private, &id), "eu-west-1-abc+/=-123456789012");
        assert_eq!(cache_key(&public, &id), "ecr-public-abc+/=");
        assert!(key_belongs_to("eu-west-1-abc+/=-123456789012", &id));
        assert!(key_belongs_to("ecr-public-abc+/=", &id));
        assert!(!key_belongs_to("eu-west-1-other-123456789012", &id));
    }
}
