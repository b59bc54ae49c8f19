//! `users`: the user accounts of the reference API. One plugin, one microservice.
//!
//! | route                      | auth            | does                                         |
//! |----------------------------|-----------------|----------------------------------------------|
//! | `GET /healthz`             | —               | 200 when the users store answers             |
//! | `POST /v1/user`            | —               | sign up: 201 with the user (never the password) |
//! | `GET /v1/user/{userId}`    | Basic, that user | the user                                    |
//! | `PUT /v1/user/{userId}`    | Basic, that user | change first_name, last_name and/or password: 204 |
//!
//! Storage: the kv store `users` (layout in the `accounts` crate). Passwords are stored
//! as Argon2id hashes, computed here, inside the sandbox. A username is unique
//! (case-insensitive) even under concurrent sign-ups: the username index and the user are
//! created in one transaction with create-only conditions.

use accounts::{PublicUser, StoredUser, USERS_STORE, authenticate, forbidden, user_key, username_key};
use plughost_sdk::kv::{Condition, StorageError, Store, Write, WriteOptions};
use plughost_sdk::{Error, Json, Request, Response, Router, StatusCode};
use serde::Deserialize;

pub fn handle(req: Request) -> Response {
    Router::new()
        .get("/healthz", healthz)
        .post("/v1/user", create_user)
        .get("/v1/user/{userId}", get_user)
        .put("/v1/user/{userId}", update_user)
        .handle(req)
}

fn healthz(_req: Request) -> Result<StatusCode, Error> {
    Store::open(USERS_STORE)?.exists("healthz")?;
    Ok(StatusCode::OK)
}

/// The sign-up body: exactly these fields, all strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// The update body: only these fields may appear (any other is a 400).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
}

/// Names: 1..=100 characters after trimming.
pub fn check_name(field: &str, value: &str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err(Error::bad_request(format!("{field} must be 1 to 100 characters")));
    }
    Ok(value.to_owned())
}

fn create_user(req: Request) -> Result<(StatusCode, Json<PublicUser>), Error> {
    let new: NewUser = req.json()?;
    accounts::check_email(&new.username)?;
    accounts::check_password(&new.password)?;
    let users = Store::open(USERS_STORE)?;
    // A taken username is refused before the (deliberately slow) password hash: a crowd
    // signing up as someone else costs a read each, not 19 MiB and ~100 ms of CPU each.
    // The create-only transaction below still decides races.
    if users.exists(&username_key(new.username.trim()))? {
        return Err(taken());
    }
    let now = accounts::now();
    let user = StoredUser {
        id: accounts::new_id(),
        username: new.username.trim().to_owned(),
        first_name: check_name("first_name", &new.first_name)?,
        last_name: check_name("last_name", &new.last_name)?,
        password_hash: accounts::hash_password(&new.password)?,
        account_created: now.clone(),
        account_updated: now,
    };
    let create = |key: String, value: Vec<u8>| {
        Write::Set((key, value, WriteOptions { condition: Condition::Absent, ttl_seconds: None }))
    };
    let record = serde_json::to_vec(&user).map_err(|e| Error::internal(e.to_string()))?;
    let writes =
        [create(username_key(&user.username), user.id.clone().into_bytes()), create(user_key(&user.id), record)];
    match users.transact(&writes) {
        Ok(_) => Ok((StatusCode::CREATED, Json(PublicUser::from(&user)))),
        Err(StorageError::Conflict) => Err(taken()),
        Err(other) => Err(other.into()),
    }
}

fn taken() -> Error {
    Error::bad_request("a user with this username already exists")
}

/// The authenticated user, who must be the one the path names (403 otherwise).
fn owner(req: &Request, users: &Store) -> Result<(StoredUser, u64), Error> {
    let (user, version) = authenticate(req, users)?;
    if req.require_param("userId")? != user.id {
        return Err(forbidden());
    }
    Ok((user, version))
}

fn get_user(req: Request) -> Result<Json<PublicUser>, Error> {
    let users = Store::open(USERS_STORE)?;
    let (user, _) = owner(&req, &users)?;
    Ok(Json(PublicUser::from(&user)))
}

fn update_user(req: Request) -> Result<StatusCode, Error> {
    let users = Store::open(USERS_STORE)?;
    let (mut user, version) = owner(&req, &users)?;
    let update: UserUpdate = req.json()?;
    apply_update(&mut user, update)?;
    user.account_updated = accounts::now();
    // Only if nobody changed the user since we read it (409 otherwise: retry).
    users.replace_json(&user_key(&user.id), &user, version)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies an update body: at least one field, each validated.
pub fn apply_update(user: &mut StoredUser, update: UserUpdate) -> Result<(), Error> {
    if update.first_name.is_none() && update.last_name.is_none() && update.password.is_none() {
        return Err(Error::bad_request("give at least one of first_name, last_name, password"));
    }
    if let Some(first_name) = update.first_name {
        user.first_name = check_name("first_name", &first_name)?;
    }
    if let Some(last_name) = update.last_name {
        user.last_name = check_name("last_name", &last_name)?;
    }
    if let Some(password) = update.password {
        accounts::check_password(&password)?;
        user.password_hash = accounts::hash_password(&password)?;
    }
    Ok(())
}

plughost_sdk::plugin!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> StoredUser {
        StoredUser {
            id: "u1".into(),
            username: "jane@example.com".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            password_hash: accounts::hash_password("old password").unwrap(),
            account_created: "t0".into(),
            account_updated: "t0".into(),
        }
    }

    #[test]
    fn updates_change_only_given_fields_and_rehash_passwords() {
        let mut u = user();
        apply_update(&mut u, UserUpdate { last_name: Some(" Smith ".into()), ..Default::default() }).unwrap();
        assert_eq!((u.first_name.as_str(), u.last_name.as_str()), ("Jane", "Smith"));
        apply_update(&mut u, UserUpdate { password: Some("new password".into()), ..Default::default() }).unwrap();
        assert!(accounts::verify_password("new password", &u.password_hash));
        assert_eq!(apply_update(&mut u, UserUpdate::default()).unwrap_err().status(), 400);
        let short = UserUpdate { password: Some("short".into()), ..Default::default() };
        assert_eq!(apply_update(&mut u, short).unwrap_err().status(), 400);
    }

    #[test]
    fn unknown_update_fields_are_refused() {
        let body = r#"{"first_name":"J","username":"other@example.com"}"#;
        assert!(serde_json::from_str::<UserUpdate>(body).is_err());
    }
}
