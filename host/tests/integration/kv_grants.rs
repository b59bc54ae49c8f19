//! The kv capability through real wasm (`tests/guests/kv-probe`): grants are the only way
//! in, read-only means read-only, labels are isolated, data outlives the app, and
//! uniqueness holds under concurrent requests.

use crate::support;

use plughost::App;
use support::{call, engine, get, load_app, manifest};

const MANIFEST: &str = r#"
[kv.users]
[kv.audit]
[kv.secrets]

[plugins.probe]
source = "{kv-probe}"
routes = ["GET /kv/{label}/{key}", "PUT /kv/{label}/{key}", "DELETE /kv/{label}/{key}",
          "POST /kv-incr/{label}/{key}", "GET /kv-list/{label}", "POST /kv-tx/{label}",
          "POST /kv-many/{label}"]
kv = { users = "read-write", audit = "read" }

[plugins.other]
source = "{kv-probe}"
routes = ["GET /other/kv/{label}/{key}", "PUT /other/kv/{label}/{key}"]
kv = { secrets = "read-write", audit = "read-write" }
"#;

#[tokio::test]
async fn granted_store_round_trips_through_wasm() {
    let app = load_app(MANIFEST).await;
    let put = call(&app, "PUT", "/kv/users/ada", &[], b"lovelace").await.json();
    let version = put["ok"].as_u64().expect("a version");
    let got = get(&app, "/kv/users/ada").await.json();
    assert_eq!(got["ok"]["value"], "lovelace");
    assert_eq!(got["ok"]["version"], version);
    assert_eq!(get(&app, "/kv/users/nobody").await.json(), serde_json::json!({ "ok": null }));
}

#[tokio::test]
async fn ungranted_and_undeclared_labels_are_access_denied() {
    let app = load_app(MANIFEST).await;
    // `secrets` exists, but only `other` is granted it.
    assert_eq!(get(&app, "/kv/secrets/x").await.json()["err"], "access-denied");
    assert_eq!(get(&app, "/kv/nonexistent/x").await.json()["err"], "access-denied");
    assert_eq!(call(&app, "PUT", "/kv/secrets/x", &[], b"v").await.json()["err"], "access-denied");
}

#[tokio::test]
async fn read_only_grant_refuses_every_kind_of_write() {
    let app = load_app(MANIFEST).await;
    // `other` may write audit; `probe` may only read it.
    assert!(call(&app, "PUT", "/other/kv/audit/entry", &[], b"written by other").await.json()["ok"].is_u64());
    assert_eq!(get(&app, "/kv/audit/entry").await.json()["ok"]["value"], "written by other");
    for (method, uri, body) in [
        ("PUT", "/kv/audit/entry", &b"overwrite"[..]),
        ("DELETE", "/kv/audit/entry", b""),
        ("POST", "/kv-incr/audit/n", b""),
        ("POST", "/kv-tx/audit", br#"[{"set":"t","value":"v"}]"#),
    ] {
        let reply = call(&app, method, uri, &[("content-type", "application/json")], body).await.json();
        assert_eq!(reply["err"], "access-denied", "{method} {uri}: {reply}");
    }
    assert_eq!(get(&app, "/kv/audit/entry").await.json()["ok"]["value"], "written by other", "nothing changed");
}

#[tokio::test]
async fn labels_sharing_one_backend_do_not_see_each_others_keys() {
    let app = load_app(MANIFEST).await;
    call(&app, "PUT", "/kv/users/shared-key", &[], b"users' value").await;
    call(&app, "PUT", "/other/kv/secrets/shared-key", &[], b"secrets' value").await;
    assert_eq!(get(&app, "/kv/users/shared-key").await.json()["ok"]["value"], "users' value");
    assert_eq!(get(&app, "/other/kv/secrets/shared-key").await.json()["ok"]["value"], "secrets' value");
    let listed = get(&app, "/kv-list/users").await.json();
    assert_eq!(listed["ok"]["keys"], serde_json::json!(["shared-key"]));
}

#[tokio::test]
async fn conditional_writes_and_transactions_report_conflict_to_the_guest() {
    let app = load_app(MANIFEST).await;
    let v1 = call(&app, "PUT", "/kv/users/k?if=absent", &[], b"a").await.json()["ok"].as_u64().unwrap();
    assert_eq!(call(&app, "PUT", "/kv/users/k?if=absent", &[], b"b").await.json()["err"], "conflict");
    let v2 = call(&app, "PUT", &format!("/kv/users/k?if={v1}"), &[], b"c").await.json()["ok"].as_u64().unwrap();
    assert_eq!(call(&app, "PUT", &format!("/kv/users/k?if={v1}"), &[], b"d").await.json()["err"], "conflict");
    let json = [("content-type", "application/json")];
    let tx = format!(r#"[{{"set":"k","value":"e","if":"{v2}"}},{{"set":"new","value":"x","if":"absent"}}]"#);
    assert_eq!(
        call(&app, "POST", "/kv-tx/users", &json, tx.as_bytes()).await.json()["ok"].as_array().unwrap().len(),
        2
    );
    let stale = format!(r#"[{{"set":"other","value":"y"}},{{"delete":"k","if":"{v2}"}}]"#);
    assert_eq!(call(&app, "POST", "/kv-tx/users", &json, stale.as_bytes()).await.json()["err"], "conflict");
    assert_eq!(get(&app, "/kv/users/other").await.json()["ok"], serde_json::Value::Null, "all or nothing");
    assert_eq!(get(&app, "/kv/users/k").await.json()["ok"]["value"], "e");
}

#[tokio::test]
async fn bad_keys_and_limits_are_errors_the_guest_sees() {
    let app = load_app(MANIFEST).await;
    let long = "k".repeat(1100);
    let reply = call(&app, "PUT", &format!("/kv/users/{long}"), &[], b"v").await.json();
    assert!(reply["err"].as_str().unwrap().starts_with("limit-exceeded"), "{reply}");
    let reply = get(&app, "/kv-list/users?limit=0").await.json();
    assert!(reply["err"].as_str().unwrap().starts_with("invalid-input"), "{reply}");
    // A control character never reaches a plugin through a path (400 at the edge)...
    assert_eq!(call(&app, "PUT", "/kv/users/%0Aevil", &[], b"v").await.status, 400);
    // ...and through a body, the kv layer refuses it as a key.
    let json = [("content-type", "application/json")];
    let reply = call(&app, "POST", "/kv-tx/users", &json, br#"[{"set":"a\nevil","value":"v"}]"#).await.json();
    assert!(reply["err"].as_str().unwrap().starts_with("invalid-input"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_create_only_requests_exactly_one_succeeds() {
    let app = load_app(MANIFEST).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                call(&app, "PUT", "/kv/users/username:ada?if=absent", &[], format!("{i}").as_bytes()).await.json()
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply["ok"].is_u64() {
            ok += 1;
        } else {
            assert_eq!(reply["err"], "conflict");
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn data_outlives_the_app_in_the_data_dir() {
    let app = load_app(MANIFEST).await;
    call(&app, "PUT", "/kv/users/durable", &[], b"still here").await;
    let (_dir, path) = manifest(MANIFEST);
    let storage = plughost::Capabilities::embedded(&app.data_dir, "http://127.0.0.1").unwrap();
    let restarted = App::load(engine(), storage, &path, 1024).await.unwrap();
    assert_eq!(get(&restarted, "/kv/users/durable").await.json()["ok"]["value"], "still here");
}
