//! Deployments in S3 end to end, against moto: the operator CLI (`plughost deploy`,
//! `push`, `rollback`, `status`) and the real Lambda binary under cargo-lambda's emulator
//! serving what they deploy, hot-swapping under traffic, and refusing bad versions while
//! the good one keeps serving.
//!
//! Two versions of one plugin: `hello.wasm` answers "Hello, <name>!" and a copy with its
//! default greeting changed in the data segment ("Howdy") answers "Howdy, <name>!" — two
//! valid components, different digests, observable from the client.

use crate::support;

use aws_sdk_s3::primitives::ByteStream;
use plughost::runtime::deployment::Location;
use plughost::spec::manifest::{Digest, PluginId};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::guest_wasm;
use support::lambda::Lambda;
use support::moto::Moto;

const BUCKET: &str = "deployments";
const MANIFEST_URL: &str = "s3://deployments/prod/manifest.toml";
/// How often the function checks the deployment.
const REFRESH: Duration = Duration::from_secs(1);
/// The bound the tests hold a switch to: the refresh interval plus generous room for
/// fetching and compiling a component in a debug build on a busy machine.
const SWITCH_BOUND: Duration = Duration::from_secs(30);

const LOCAL_MANIFEST: &str = r#"
[plugins.greeter]
source = "{greeter}"
routes = ["GET /hello/{name}"]

[plugins.other]
source = "{misbehave}"
routes = ["GET /ok"]
"#;

/// A deployment bucket in a fresh moto, the local files the operator deploys from.
struct Fixture {
    moto: Moto,
    dir: tempfile::TempDir,
    s3: aws_sdk_s3::Client,
}

impl Fixture {
    async fn new(moto: Moto) -> Self {
        let s3 = plughost::platform::aws::s3(&moto.sdk_config().await);
        s3.create_bucket().bucket(BUCKET).send().await.expect("create the bucket");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hello.wasm"), std::fs::read(guest_wasm("hello")).unwrap()).unwrap();
        std::fs::write(dir.path().join("howdy.wasm"), with_greeting(b"Howdy")).unwrap();
        let manifest = LOCAL_MANIFEST
            .replace("{greeter}", &dir.path().join("hello.wasm").display().to_string())
            .replace("{misbehave}", &guest_wasm("misbehave").display().to_string());
        std::fs::write(dir.path().join("plughost.toml"), manifest).unwrap();
        Self { moto, dir, s3 }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `plughost <args>` against moto; (success, stdout + stderr).
    fn plughost(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_plughost"))
            .args(args)
            .envs(self.moto.env())
            .env("PLUGHOST_MANIFEST", MANIFEST_URL)
            .output()
            .expect("run plughost");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.plughost(args);
        assert!(ok, "plughost {args:?} failed: {text}");
        text
    }

    fn start_lambda(&self) -> Lambda {
        self.start_lambda_with(&[])
    }

    /// A fresh instance (its own empty /tmp), with `extra` environment.
    fn start_lambda_with(&self, extra: &[(&'static str, &str)]) -> Lambda {
        let tmp = tempfile::tempdir().unwrap();
        let mut env: Vec<(&str, String)> = self.moto.env().iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push(("PLUGHOST_MANIFEST", MANIFEST_URL.into()));
        env.push(("PLUGHOST_REFRESH", format!("{}ms", REFRESH.as_millis())));
        env.push(("PLUGHOST_DATA_DIR", tmp.path().join("data").display().to_string()));
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        Lambda::start(&env, tmp)
    }

    async fn manifest_text(&self) -> String {
        let key = &Location::parse(MANIFEST_URL).unwrap().key;
        let object = self.s3.get_object().bucket(BUCKET).key(key).send().await.unwrap();
        String::from_utf8(object.body.collect().await.unwrap().to_vec()).unwrap()
    }

    /// Writes the manifest directly, as a careless operator or a broken tool would.
    async fn put_manifest(&self, text: String) {
        let key = &Location::parse(MANIFEST_URL).unwrap().key;
        self.s3.put_object().bucket(BUCKET).key(key).body(ByteStream::from(text.into_bytes())).send().await.unwrap();
    }
}

/// `hello.wasm` answering `greeting` instead of "Hello" (see `support/variants.rs`).
fn with_greeting(greeting: &[u8; 5]) -> Vec<u8> {
    support::variants::hello_with_greeting(&std::fs::read(guest_wasm("hello")).unwrap(), greeting)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn greeting(lambda: &Lambda, client: &reqwest::Client) -> (u16, String) {
    let response = client.get(lambda.url("/hello/ada")).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["message"].as_str().unwrap_or_default().to_owned())
}

/// Requests `/hello/ada` until the answer is `expected`; every answer must be a 200 with
/// either `previous` or `expected`, and once `expected` came, only `expected`.
async fn traffic_until(lambda: &Lambda, previous: &str, expected: &str) -> Duration {
    let client = http();
    let started = Instant::now();
    loop {
        let (status, message) = greeting(lambda, &client).await;
        assert_eq!(status, 200, "a request failed during the swap: {message}");
        if message == expected {
            return started.elapsed();
        }
        assert_eq!(message, previous, "an answer from neither version");
        assert!(started.elapsed() < SWITCH_BOUND, "still `{previous}` {SWITCH_BOUND:?} after the change");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn hot_swap_rollback_and_rejected_versions_under_the_lambda_emulator() {
    let fixture = Fixture::new(Moto::start().await).await;
    let deployed = fixture.ok(&["deploy", fixture.file("plughost.toml").to_str().unwrap()]);
    assert!(deployed.contains("s3://deployments/prod/manifest.toml: created"), "{deployed}");
    assert!(deployed.contains("greeter sha256:") && deployed.contains("(uploaded)"), "{deployed}");

    let lambda = fixture.start_lambda();
    let client = http();
    assert_eq!(greeting(&lambda, &client).await, (200, "Hello, ada!".into()));

    // A steady stream of requests while a new version is pushed: none fails, and the
    // answers switch once, to the new version.
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let (stop, url) = (stop.clone(), lambda.url("/hello/ada"));
        tokio::spawn(async move {
            let client = http();
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = client.get(&url).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                answers.push((status, body["message"].as_str().unwrap_or_default().to_owned()));
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pushed = fixture.ok(&["push", fixture.file("howdy.wasm").to_str().unwrap(), "--plugin", "greeter"]);
    assert!(pushed.contains("greeter: sha256:") && pushed.contains("(uploaded)"), "{pushed}");
    let took = traffic_until(&lambda, "Hello, ada!", "Howdy, ada!").await;
    println!("new version answering {took:?} after `plughost push` returned");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let answers = background.await.unwrap();
    assert!(answers.len() > 10, "the background client sent only {} requests", answers.len());
    assert!(answers.iter().all(|(status, _)| *status == 200), "a request failed during the swap: {answers:?}");
    let switched = answers.iter().position(|(_, m)| m == "Howdy, ada!").expect("the stream saw the new version");
    assert!(answers[..switched].iter().all(|(_, m)| m == "Hello, ada!"), "{answers:?}");
    assert!(answers[switched..].iter().all(|(_, m)| m == "Howdy, ada!"), "answers went back: {answers:?}");

    // Rollback restores the previous answers; pushing again reuses the stored component.
    let rolled = fixture.ok(&["rollback", "greeter"]);
    assert!(rolled.contains("greeter: rolled back sha256:"), "{rolled}");
    traffic_until(&lambda, "Howdy, ada!", "Hello, ada!").await;
    let again = fixture.ok(&["push", fixture.file("howdy.wasm").to_str().unwrap(), "--plugin", "greeter"]);
    assert!(again.contains("(already stored)"), "{again}");
    traffic_until(&lambda, "Hello, ada!", "Howdy, ada!").await;
    let status = fixture.ok(&["status"]);
    let hello = Digest::of(&std::fs::read(guest_wasm("hello")).unwrap());
    assert!(status.contains(&format!("earlier: {}", hello.short())), "{status}");

    // A corrupt upload: the manifest names a digest whose object holds other bytes (here
    // a truncated copy). The S3 event makes the function check at once; it refuses the
    // version, counts it, and keeps serving the last good one.
    let hiya = with_greeting(b"Hiya!");
    let hiya_digest = Digest::of(&hiya);
    let location = Location::parse(MANIFEST_URL).unwrap();
    let key = location.component_key(&PluginId::parse("greeter").unwrap(), &hiya_digest);
    let truncated = hiya[..hiya.len() / 2].to_vec();
    fixture.s3.put_object().bucket(BUCKET).key(&key).body(ByteStream::from(truncated)).send().await.unwrap();
    let live = fixture.manifest_text().await;
    let howdy_digest = Digest::of(&with_greeting(b"Howdy"));
    assert!(live.contains(&howdy_digest.to_string()), "{live}");
    fixture.put_manifest(live.replacen(&howdy_digest.to_string(), &hiya_digest.to_string(), 1)).await;
    let reloaded = lambda.invoke_fixture("s3-put-manifest.json");
    assert_eq!(reloaded["reloaded"], false, "{reloaded}");
    let lines = lambda.logs_until("reload rejected");
    let rejected = lines.last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(rejected.contains(&format!("component `{hiya_digest}` is corrupt")), "{rejected}");
    let metric = lambda.metrics_until("DeploymentRejected");
    assert_eq!(metric.last().unwrap()["_aws"]["CloudWatchMetrics"][0]["Namespace"], "plughost");
    assert_eq!(greeting(&lambda, &client).await, (200, "Howdy, ada!".into()));

    // A manifest granting a store it does not declare: refused the same way.
    fixture
        .put_manifest(live.replace(
            "routes = [\"GET /hello/{name}\"]",
            "routes = [\"GET /hello/{name}\"]\nkv = { orders = \"read\" }",
        ))
        .await;
    lambda.invoke_fixture("s3-put-manifest.json");
    let lines = lambda.logs_until("reload rejected");
    let rejected = lines.last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(rejected.contains("plugin `greeter`: kv.orders: no kv store `orders` is declared"), "{rejected}");
    assert_eq!(greeting(&lambda, &client).await, (200, "Howdy, ada!".into()));

    // Fixing the manifest (the last good text) is picked up like any new version.
    fixture.put_manifest(live.replacen(&howdy_digest.to_string(), &hello.to_string(), 1)).await;
    let reloaded = lambda.invoke_fixture("s3-put-manifest.json");
    assert_eq!(reloaded["reloaded"], true, "{reloaded}");
    assert_eq!(greeting(&lambda, &client).await, (200, "Hello, ada!".into()));
}

#[tokio::test]
async fn a_fresh_instance_deserializes_what_another_compiled_and_signed() {
    const KEY: &str = "an artifact key of at least 32 characters";
    let fixture = Fixture::new(Moto::start().await).await;
    fixture.ok(&["deploy", fixture.file("plughost.toml").to_str().unwrap()]);
    let client = http();

    let first = fixture.start_lambda_with(&[("PLUGHOST_ARTIFACT_KEY", KEY)]);
    let lines = first.logs_until("\"plugin\":\"greeter\"");
    assert_eq!(lines.last().unwrap()["message"], "component compiled", "{lines:?}");
    first.logs_until("compiled component shared through the deployment");
    first.logs_until("compiled component shared through the deployment");
    assert_eq!(greeting(&first, &client).await, (200, "Hello, ada!".into()));
    drop(first);

    // A new instance (empty /tmp) neither downloads nor compiles the component.
    let second = fixture.start_lambda_with(&[("PLUGHOST_ARTIFACT_KEY", KEY)]);
    let lines = second.logs_until("\"plugin\":\"greeter\"");
    let greeter = lines.last().unwrap();
    assert_eq!(greeter["message"], "component loaded from the precompiled cache", "{lines:?}");
    assert!(lines.iter().any(|l| l["message"] == "compiled component fetched from the deployment's shared cache"));
    assert_eq!(greeting(&second, &client).await, (200, "Hello, ada!".into()));
    drop(second);

    // An instance with another key does not trust those artifacts: it compiles.
    let other = fixture.start_lambda_with(&[("PLUGHOST_ARTIFACT_KEY", "a different key, also 32 characters long")]);
    let lines = other.logs_until("\"plugin\":\"greeter\"");
    assert!(lines.iter().any(|l| l["message"] == "shared compiled component has a bad signature; ignoring it"));
    assert_eq!(lines.last().unwrap()["message"], "component compiled", "{lines:?}");
    assert_eq!(greeting(&other, &client).await, (200, "Hello, ada!".into()));
}

#[tokio::test]
async fn in_lambda_stores_are_bound_by_an_inline_map_and_unbound_ones_are_refused() {
    let fixture = Fixture::new(Moto::start().await).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&fixture.moto.sdk_config().await);
    fixture.moto.create_kv_table(&dynamo, "plughost-data").await;
    let local = fixture.file("notes.toml");
    let notes = format!(
        "[kv.notes]\n[plugins.notes]\nsource = \"{}\"\nroutes = [\"GET /kv/{{label}}/{{key}}\", \"PUT /kv/{{label}}/{{key}}\"]\nkv = {{ notes = \"read-write\" }}\n",
        guest_wasm("kv-probe").display()
    );
    std::fs::write(&local, &notes).unwrap();
    fixture.ok(&["deploy", local.to_str().unwrap()]);

    // The label -> resource map as Terraform sets it: inline JSON in PLUGHOST_STORAGE.
    let map = r#"{"kv": {"notes": {"dynamodb": {"table": "plughost-data", "prefix": "notes"}}}}"#;
    let lambda = fixture.start_lambda_with(&[("PLUGHOST_STORAGE", map)]);
    let client = http();
    let put = client.put(lambda.url("/kv/notes/first")).body("in dynamodb").send().await.unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let got: Value = client.get(lambda.url("/kv/notes/first")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["ok"]["value"], "in dynamodb", "{got}");
    let items = dynamo.scan().table_name("plughost-data").send().await.unwrap();
    assert_eq!(items.count(), 1, "the value is in DynamoDB, not in the instance's /tmp");

    // A new version declaring a store the map does not bind would keep data in /tmp: refused.
    std::fs::write(&local, notes.replace("[kv.notes]\n", "[kv.notes]\n[kv.drafts]\n")).unwrap();
    fixture.ok(&["deploy", local.to_str().unwrap()]);
    lambda.invoke_fixture("s3-put-manifest.json");
    let lines = lambda.logs_until("reload rejected");
    let rejected = lines.last().unwrap()["message"].as_str().unwrap().to_owned();
    assert!(rejected.contains("[kv.drafts] has no binding in the storage map (PLUGHOST_STORAGE)"), "{rejected}");
    let got: Value = client.get(lambda.url("/kv/notes/first")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got["ok"]["value"], "in dynamodb", "the previous version still serves: {got}");
}

#[tokio::test]
async fn two_concurrent_pushes_of_different_plugins_both_land() {
    let fixture = Fixture::new(Moto::start_with_atomic_s3_writes().await).await;
    fixture.ok(&["deploy", fixture.file("plughost.toml").to_str().unwrap()]);

    // Deterministically first: a write based on a stale read is refused by S3 (If-Match).
    let store =
        plughost::runtime::deployment::DeploymentStore::new(fixture.s3.clone(), Location::parse(MANIFEST_URL).unwrap());
    let plughost::runtime::deployment::ManifestRead::Found { text, etag } = store.read_manifest(None).await.unwrap()
    else {
        panic!("no manifest")
    };
    fixture.ok(&["push", fixture.file("howdy.wasm").to_str().unwrap(), "--plugin", "greeter"]);
    let stale = store.write_manifest(&text, Some(&etag)).await;
    assert!(
        matches!(stale, Err(plughost::runtime::deployment::store::WriteError::Conflict)),
        "a stale write went through"
    );

    // Then two operators at once, several rounds: each push retries on the other's write.
    let hello = fixture.file("hello.wasm");
    let howdy = fixture.file("howdy.wasm");
    let misbehave = guest_wasm("misbehave");
    let rounds = [(&hello, &howdy), (&howdy, &misbehave), (&misbehave, &hello)];
    for (round, (greeter, other)) in rounds.into_iter().enumerate() {
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| fixture.plughost(&["push", greeter.to_str().unwrap(), "--plugin", "greeter"]));
            let b = scope.spawn(|| fixture.plughost(&["push", other.to_str().unwrap(), "--plugin", "other"]));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(a.0 && b.0, "round {round}: a push failed:\n{}\n{}", a.1, b.1);
        let live = fixture.manifest_text().await;
        for (plugin, file) in [("greeter", greeter), ("other", other)] {
            let digest = Digest::of(&std::fs::read(file).unwrap());
            let manifest = plughost::spec::manifest::Manifest::parse(
                Path::new("m.toml"),
                &live,
                &Default::default(),
                &plughost::capability::sections(),
            )
            .unwrap();
            let spec = manifest.plugins.iter().find(|p| p.id.as_str() == plugin).unwrap();
            assert_eq!(spec.source.to_string(), digest.to_string(), "round {round}: {plugin} lost its push:\n{live}");
        }
    }
}

#[tokio::test]
async fn operator_errors_name_what_is_wrong() {
    let fixture = Fixture::new(Moto::start().await).await;
    let (ok, text) = fixture.plughost(&["status"]);
    assert!(!ok && text.contains("nothing is deployed at s3://deployments/prod/manifest.toml yet"), "{text}");

    let (ok, text) = fixture.plughost(&["status", "--manifest", "s3://no-such-bucket/manifest.toml"]);
    assert!(!ok && text.contains("bucket `no-such-bucket` does not exist"), "{text}");
    let (ok, text) = fixture.plughost(&["status", "--manifest", "plughost.toml"]);
    assert!(!ok && text.contains("is not a deployment: expected s3://"), "{text}");

    // Invalid components and manifests are refused before anything is uploaded.
    let bogus = fixture.file("bogus.wasm");
    std::fs::write(&bogus, b"not wasm").unwrap();
    fixture.ok(&["deploy", fixture.file("plughost.toml").to_str().unwrap()]);
    let before = fixture.manifest_text().await;
    let (ok, text) = fixture.plughost(&["push", bogus.to_str().unwrap(), "--plugin", "greeter"]);
    assert!(!ok && text.contains("not a WebAssembly file"), "{text}");
    let (ok, text) = fixture.plughost(&["push", guest_wasm("wrong-world").to_str().unwrap(), "--plugin", "greeter"]);
    assert!(!ok && text.contains("does not fit the `plughost:plugin` worlds"), "{text}");
    let (ok, text) = fixture.plughost(&["push", guest_wasm("kv-probe").to_str().unwrap(), "--plugin", "greeter"]);
    assert!(
        !ok && text.contains("imports `plughost:plugin/kv@0.1.4` but the manifest grants it no kv store"),
        "{text}"
    );
    let (ok, text) = fixture.plughost(&["push", fixture.file("howdy.wasm").to_str().unwrap(), "--plugin", "nope"]);
    assert!(!ok && text.contains("plugin `nope` is not in s3://deployments/prod/manifest.toml"), "{text}");
    let ungranted = fixture.file("ungranted.toml");
    let local = std::fs::read_to_string(fixture.file("plughost.toml")).unwrap();
    std::fs::write(
        &ungranted,
        local.replace("routes = [\"GET /ok\"]", "routes = [\"GET /ok\"]\nblob = { x = \"read\" }"),
    )
    .unwrap();
    let (ok, text) = fixture.plughost(&["deploy", ungranted.to_str().unwrap()]);
    assert!(!ok && text.contains("plugin `other`: blob.x: no blob container `x` is declared"), "{text}");
    let (ok, text) = fixture.plughost(&["rollback", "greeter"]);
    assert!(!ok && text.contains("plugin `greeter` has no earlier version"), "{text}");
    assert_eq!(fixture.manifest_text().await, before, "a refused command changed the manifest");

    // No credentials at all: said so, not a stack of SDK internals.
    let output = Command::new(env!("CARGO_BIN_EXE_plughost"))
        .args(["status", "--manifest", MANIFEST_URL])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &fixture.moto.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", fixture.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && text.contains("no usable AWS credentials"), "{text}");
}
