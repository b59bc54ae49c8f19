//! Shared by the `users` and `products` plugins (a library, not a plugin): the user
//! record as stored in the `users` kv store, password hashing, and HTTP Basic
//! authentication against that store.
//!
//! Layout of the `users` store:
//!
//! | key                      | value                                        |
//! |--------------------------|----------------------------------------------|
//! | `user/<id>`              | [`StoredUser`] as JSON (with the password hash) |
//! | `username/<lowercased>`  | the user's id: makes usernames unique        |
//!
//! Both keys of a new user are written in one transaction with create-only conditions,
//! so two concurrent sign-ups with one username cannot both succeed.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use plughost_sdk::kv::Store;
use plughost_sdk::{Error, Request, StatusCode};
use serde::{Deserialize, Serialize};

/// The label of the kv store holding users (granted read-write to `users`, read to `products`).
pub const USERS_STORE: &str = "users";

/// A user as stored. Never serialised to a client: see [`PublicUser`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredUser {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    /// An Argon2id PHC string (`$argon2id$v=19$...`): salt and parameters included.
    pub password_hash: String,
    pub account_created: String,
    pub account_updated: String,
}

/// What clients see of a user: everything but the password hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublicUser {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub account_created: String,
    pub account_updated: String,
}

impl From<&StoredUser> for PublicUser {
    fn from(user: &StoredUser) -> Self {
        Self {
            id: user.id.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            username: user.username.clone(),
            account_created: user.account_created.clone(),
            account_updated: user.account_updated.clone(),
        }
    }
}

pub fn user_key(id: &str) -> String {
    format!("user/{id}")
}

/// Usernames are emails; they are unique regardless of case.
pub fn username_key(username: &str) -> String {
    format!("username/{}", username.to_lowercase())
}

/// Hashes `password` with Argon2id (the crate's defaults: OWASP's minimum, m=19 MiB, t=2)
/// and a random salt.
pub fn hash_password(password: &str) -> Result<String, Error> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches `hash` (constant-time comparison inside argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// Passwords: 8..=128 characters. The upper bound keeps hashing cost bounded.
pub fn check_password(password: &str) -> Result<(), Error> {
    let len = password.chars().count();
    if !(8..=128).contains(&len) {
        return Err(Error::bad_request("password must be 8 to 128 characters"));
    }
    Ok(())
}

/// A plausible email address: one `@`, a non-empty local part, a dotted domain, no
/// spaces or control characters, at most 254 bytes. (Deliverability is not checkable here.)
pub fn check_email(email: &str) -> Result<(), Error> {
    let invalid = || Error::bad_request("username must be a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'));
    if local.is_empty() || !domain_ok {
        return Err(invalid());
    }
    Ok(())
}

/// The current time as RFC 3339 UTC with milliseconds (`2026-11-22T15:04:05.123Z`).
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A new random id (UUID v4).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A random number below `bound` (at least 1), from the same source as ids: for jitter.
pub fn random_below(bound: u64) -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0 % bound.max(1)
}

/// The user the request's `Authorization: Basic` credentials name, if the password
/// matches; 401 (with `WWW-Authenticate`) otherwise. Also returns the user's version, for
/// compare-and-swap updates.
pub fn authenticate(req: &Request, users: &Store) -> Result<(StoredUser, u64), Error> {
    let (username, password) = basic_credentials(req).ok_or_else(unauthorized)?;
    let id = match users.get(&username_key(&username))? {
        Some(entry) => String::from_utf8(entry.value).map_err(|_| Error::internal("corrupt username index"))?,
        None => {
            // Spend the same time as a real check, so response times do not tell which
            // usernames exist.
            let _ = verify_password(&password, DUMMY_HASH);
            return Err(unauthorized());
        }
    };
    let (user, version) = users.get_json::<StoredUser>(&user_key(&id))?.ok_or_else(unauthorized)?;
    if !verify_password(&password, &user.password_hash) {
        return Err(unauthorized());
    }
    Ok((user, version))
}

/// A valid Argon2id hash of a random password, to verify against when the user is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7w1Fn0VdP0IO6oZsrqXbq3SMPwy8pzV/cQJ1yvPDGVA";

/// 401 with a challenge, so browsers and curl know to send Basic credentials.
pub fn unauthorized() -> Error {
    Error::unauthorized("valid Basic credentials are required")
        .with_header("www-authenticate", "Basic realm=\"plughost\", charset=\"UTF-8\"")
}

/// 403: authenticated, but not allowed to touch this resource.
pub fn forbidden() -> Error {
    Error::new(StatusCode::FORBIDDEN, "forbidden", "this resource belongs to another user")
}

/// `Authorization: Basic base64(username:password)`, decoded.
pub fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let header = req.header("authorization")?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plughost_sdk::Method;

    #[test]
    fn passwords_hash_with_a_random_salt_and_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong horse", &a));
        // The dummy must parse, or unknown usernames would answer faster than wrong passwords.
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn emails_are_checked_for_shape() {
        for good in ["jane@example.com", "a.b+c@sub.example.co"] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in ["", "jane", "jane@", "@example.com", "jane@example", "ja ne@example.com", "a@b@c.com", "a@.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn basic_credentials_are_decoded_and_other_schemes_ignored() {
        let req = |value: &str| Request::builder(Method::Get, "/").header("authorization", value).build();
        // "jane@example.com:pa:ss" — a password may contain `:`.
        let encoded = base64::engine::general_purpose::STANDARD.encode("jane@example.com:pa:ss");
        assert_eq!(
            basic_credentials(&req(&format!("Basic {encoded}"))),
            Some(("jane@example.com".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials(&req("Bearer abc")), None);
        assert_eq!(basic_credentials(&req("Basic not-base64!")), None);
    }
}
