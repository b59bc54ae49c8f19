//! Secret config values through real wasm: a `{ secret = "name" }` value reaches the
//! plugin from a local secrets file or from AWS Secrets Manager (moto), a missing secret
//! fails the load naming plugin, key and secret, and a plugin that logs its secrets gets
//! `[redacted]` in the host's log instead.

use crate::support;

use plughost::capability::config::secrets::SecretSource;
use plughost::{App, Capabilities};
use support::{capture_logs, captured_logs, engine, get, manifest};

const SECRET: &str = "psst-4f9d2c";

fn storage_with(source: SecretSource) -> (tempfile::TempDir, Capabilities) {
    let data = tempfile::tempdir().unwrap();
    let storage = Capabilities::embedded(data.path(), "http://127.0.0.1").unwrap().with_secrets(source);
    (data, storage)
}

fn secrets_file(text: &str) -> (tempfile::TempDir, SecretSource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.toml");
    std::fs::write(&path, text).unwrap();
    (dir, SecretSource::File(path))
}

#[tokio::test]
async fn a_secret_from_the_secrets_file_reaches_the_plugin_as_config() {
    let (_secrets_dir, source) = secrets_file(&format!("\"hello/greeting\" = \"{SECRET}\"\n"));
    let (_data, storage) = storage_with(source);
    let (_dir, path) = manifest(
        "[plugins.hello]\nsource = \"{hello}\"\nroutes = [\"GET /hello/{name}\"]\n\
         config = { greeting = { secret = \"hello/greeting\" } }\n",
    );
    let app = App::load(engine(), storage, &path, 1024).await.unwrap();
    let reply = get(&app, "/hello/ada").await;
    assert_eq!(reply.json()["message"], format!("{SECRET}, ada!"));
}

#[tokio::test]
async fn a_missing_secret_fails_the_load_naming_plugin_key_and_secret() {
    let (_secrets_dir, source) = secrets_file(&format!("other = \"{SECRET}\"\n"));
    let (_data, storage) = storage_with(source);
    let (_dir, path) = manifest(
        "[plugins.hello]\nsource = \"{hello}\"\nroutes = [\"GET /hello/{name}\"]\n\
         config = { greeting = { secret = \"hello/greeting\" } }\n",
    );
    let error = format!("{:#}", App::load(engine(), storage, &path, 1024).await.err().expect("load fails"));
    assert!(error.contains("plugin `hello`: config.greeting: secret `hello/greeting` is not in"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
}

#[tokio::test]
async fn a_plugin_that_logs_its_secret_gets_it_redacted_in_the_host_log() {
    capture_logs();
    let (_secrets_dir, source) = secrets_file(&format!("token = \"{SECRET}\"\n"));
    let (_data, storage) = storage_with(source);
    let (_dir, path) = manifest(
        "[plugins.leaky]\nsource = \"{misbehave}\"\nroutes = [\"GET /leak-config\", \"GET /config\"]\n\
         config = { token = { secret = \"token\" }, region = \"eu-west-1\" }\n",
    );
    let app = App::load(engine(), storage, &path, 1024).await.unwrap();
    // The plugin may use (even return) its secret: only the host's logs are guarded.
    assert_eq!(get(&app, "/config").await.json(), serde_json::json!([["region", "eu-west-1"], ["token", SECRET]]));
    let reply = get(&app, "/leak-config").await;
    assert_eq!(reply.text(), "logged");
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let logs = captured_logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&request_id)).collect();
    assert!(lines.iter().any(|l| l.contains("config token = [redacted]")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("stdout says token is [redacted]")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("config region = eu-west-1")), "plain values stay: {lines:#?}");
    assert!(!logs.contains(SECRET), "the secret value appears in the log:\n{logs}");
}

#[tokio::test]
async fn a_secret_in_a_refused_outbound_url_is_redacted_in_the_denied_line() {
    capture_logs();
    let (_secrets_dir, source) = secrets_file(&format!("token = \"{SECRET}\"\n"));
    let (_data, storage) = storage_with(source);
    let (_dir, path) = manifest(
        "[plugins.caller]\nsource = \"{http-probe}\"\nroutes = [\"POST /fetch\"]\n\
         config = { token = { secret = \"token\" } }\n\
         allowed_outbound_hosts = [\"https://api.example.com\"]\n",
    );
    let app = App::load(engine(), storage, &path, 1024).await.unwrap();
    // A host name built from the secret (a tenant id, a key in a subdomain): not allowed.
    let body = serde_json::json!({ "url": format!("https://{SECRET}.example.com/v1") }).to_string();
    let reply = support::call(&app, "POST", "/fetch", &[("content-type", "application/json")], body.as_bytes()).await;
    assert_eq!(reply.json()["results"][0]["error"], "Denied", "{}", reply.text());
    let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let logs = captured_logs();
    let denied: Vec<&str> =
        logs.lines().filter(|l| l.contains(&request_id) && l.contains("outbound request denied")).collect();
    assert!(denied.iter().any(|l| l.contains("https://[redacted].example.com:443")), "{denied:#?}");
    assert!(!logs.contains(SECRET), "the secret value appears in the log:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_come_from_aws_secrets_manager_with_a_prefix() {
    let moto = support::moto::Moto::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    client.create_secret().name("prod/hello/greeting").secret_string(SECRET).send().await.unwrap();
    let source = SecretSource::SecretsManager { client: client.clone(), prefix: "prod/".into() };
    let (_data, storage) = storage_with(source);
    let (_dir, path) = manifest(
        "[plugins.hello]\nsource = \"{hello}\"\nroutes = [\"GET /hello/{name}\"]\n\
         config = { greeting = { secret = \"hello/greeting\" } }\n",
    );
    let app = App::load(engine(), storage, &path, 1024).await.unwrap();
    assert_eq!(get(&app, "/hello/ada").await.json()["message"], format!("{SECRET}, ada!"));

    // A secret that does not exist: the load fails naming it and its full id.
    let source = SecretSource::SecretsManager { client, prefix: "staging/".into() };
    let (_data, storage) = storage_with(source);
    let error = format!("{:#}", App::load(engine(), storage, &path, 1024).await.err().expect("load fails"));
    assert!(
        error.contains("config.greeting: secret `hello/greeting` does not exist in AWS Secrets Manager (secret id `staging/hello/greeting`)"),
        "{error}"
    );
}
