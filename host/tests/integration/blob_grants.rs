//! The blob capability through real wasm (`tests/guests/blob-probe`): grants are the only
//! way in, read-only means read-only (no writes, no upload URLs), labels are isolated,
//! keys cannot escape, and every failure reaches the guest as a WIT error.

use crate::support;

use plughost::App;
use support::{call, engine, get, load_app, manifest};

const MANIFEST: &str = r#"
[blob.images]
[blob.archive]
[blob.private]

[plugins.probe]
source = "{blob-probe}"
routes = ["PUT /blob/{label}", "GET /blob/{label}", "GET /blob-head/{label}", "DELETE /blob/{label}",
          "GET /blob-list/{label}", "POST /blob-presign/{label}"]
blob = { images = "read-write", archive = "read" }

[plugins.other]
source = "{blob-probe}"
routes = ["PUT /other/blob/{label}", "GET /other/blob/{label}", "GET /other/blob-list/{label}"]
blob = { archive = "read-write", private = "read-write" }
"#;

#[tokio::test]
async fn granted_container_round_trips_through_wasm() {
    let app = load_app(MANIFEST).await;
    let png = [("content-type", "image/png")];
    let put = call(&app, "PUT", "/blob/images?key=p/1.png&meta=owner:ada", &png, b"PNG DATA").await.json();
    assert_eq!(put["ok"]["size"], 8, "{put}");
    let etag = put["ok"]["etag"].as_str().expect("an etag").to_owned();
    let got = get(&app, "/blob/images?key=p/1.png").await.json();
    assert_eq!(got["ok"]["body"], "PNG DATA");
    assert_eq!(got["ok"]["info"]["content_type"], "image/png");
    assert_eq!(got["ok"]["info"]["etag"], etag);
    assert_eq!(got["ok"]["info"]["metadata"], serde_json::json!([["owner", "ada"]]));
    assert_eq!(get(&app, "/blob/images?key=p/1.png&offset=4&length=2").await.json()["ok"]["body"], "DA");
    assert_eq!(get(&app, "/blob-head/images?key=p/1.png").await.json()["ok"]["size"], 8);
    let listed = get(&app, "/blob-list/images?prefix=p/").await.json();
    assert_eq!(listed["ok"]["objects"], serde_json::json!([{ "key": "p/1.png", "size": 8 }]));
    assert_eq!(
        call(&app, "DELETE", "/blob/images?key=p/1.png", &[], b"").await.json(),
        serde_json::json!({ "ok": null })
    );
    assert_eq!(get(&app, "/blob/images?key=p/1.png").await.json(), serde_json::json!({ "ok": null }));
}

#[tokio::test]
async fn ungranted_and_undeclared_labels_are_access_denied() {
    let app = load_app(MANIFEST).await;
    // `private` exists, but only `other` is granted it.
    assert_eq!(get(&app, "/blob/private?key=k").await.json()["err"], "access-denied");
    assert_eq!(get(&app, "/blob/nonexistent?key=k").await.json()["err"], "access-denied");
    assert_eq!(call(&app, "PUT", "/blob/private?key=k", &[], b"v").await.json()["err"], "access-denied");
}

#[tokio::test]
async fn read_only_grant_refuses_writes_and_upload_urls_but_reads() {
    let app = load_app(MANIFEST).await;
    // `other` may write archive; `probe` may only read it.
    assert_eq!(call(&app, "PUT", "/other/blob/archive?key=k", &[], b"by other").await.json()["ok"]["size"], 8);
    assert_eq!(get(&app, "/blob/archive?key=k").await.json()["ok"]["body"], "by other");
    for (method, uri) in [
        ("PUT", "/blob/archive?key=k"),
        ("DELETE", "/blob/archive?key=k"),
        ("POST", "/blob-presign/archive?key=k&method=put&type=text/plain"),
    ] {
        let reply = call(&app, method, uri, &[], b"overwrite").await.json();
        assert_eq!(reply["err"], "access-denied", "{method} {uri}: {reply}");
    }
    let url = call(&app, "POST", "/blob-presign/archive?key=k&method=get", &[], b"").await.json();
    assert!(
        url["ok"].as_str().is_some_and(|u| u.starts_with("http://")),
        "a read grant may share a download URL: {url}"
    );
    assert_eq!(get(&app, "/blob/archive?key=k").await.json()["ok"]["body"], "by other", "nothing changed");
}

#[tokio::test]
async fn labels_sharing_one_backend_do_not_see_each_others_objects() {
    let app = load_app(MANIFEST).await;
    call(&app, "PUT", "/blob/images?key=shared", &[], b"images' object").await;
    call(&app, "PUT", "/other/blob/private?key=shared", &[], b"private object").await;
    assert_eq!(get(&app, "/blob/images?key=shared").await.json()["ok"]["body"], "images' object");
    assert_eq!(get(&app, "/other/blob/private?key=shared").await.json()["ok"]["body"], "private object");
    let listed = get(&app, "/other/blob-list/private").await.json();
    assert_eq!(listed["ok"]["objects"], serde_json::json!([{ "key": "shared", "size": 14 }]));
}

#[tokio::test]
async fn escaping_keys_and_bad_input_are_errors_the_guest_sees() {
    let app = load_app(MANIFEST).await;
    for key in ["../private/shared", "a/../../x", "%2Fetc%2Fpasswd", "a%00b"] {
        let reply = call(&app, "PUT", &format!("/blob/images?key={key}"), &[], b"v").await.json();
        assert!(reply["err"].as_str().unwrap().starts_with("invalid-input"), "{key}: {reply}");
    }
    let reply = call(&app, "PUT", "/blob/images?key=k", &[("content-type", "nonsense")], b"v").await.json();
    assert!(reply["err"].as_str().unwrap().starts_with("invalid-input"), "{reply}");
    let reply = get(&app, "/blob-list/images?limit=5000").await.json();
    assert!(reply["err"].as_str().unwrap().starts_with("invalid-input"), "{reply}");
    assert_eq!(get(&app, "/blob-list/images").await.json()["ok"]["objects"], serde_json::json!([]));
}

#[tokio::test]
async fn conditional_puts_report_conflict_to_the_guest() {
    let app = load_app(MANIFEST).await;
    let first = call(&app, "PUT", "/blob/images?key=doc&if=absent", &[], b"a").await.json();
    let etag = first["ok"]["etag"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, "PUT", "/blob/images?key=doc&if=absent", &[], b"b").await.json()["err"], "conflict");
    let encoded: String = url_encode(&etag);
    let second = call(&app, "PUT", &format!("/blob/images?key=doc&if={encoded}"), &[], b"c").await.json();
    assert!(second["ok"]["etag"].is_string(), "{second}");
    assert_eq!(
        call(&app, "PUT", &format!("/blob/images?key=doc&if={encoded}"), &[], b"d").await.json()["err"],
        "conflict"
    );
    assert_eq!(get(&app, "/blob/images?key=doc").await.json()["ok"]["body"], "c");
}

#[tokio::test]
async fn a_grant_of_an_undeclared_container_fails_the_load_naming_plugin_and_label() {
    let (_dir, path) = manifest(
        "[blob.images]\n[plugins.probe]\nsource = \"{blob-probe}\"\nroutes = [\"GET /blob/{label}\"]\nblob = { imagez = \"read\" }\n",
    );
    let error = App::load(engine(), support::shared_storage(), &path, 1024).await.err().expect("load fails");
    let message = format!("{error:#}");
    assert!(message.contains("plugin `probe`: blob.imagez: no blob container `imagez` is declared"), "{message}");
}

#[tokio::test]
async fn objects_outlive_the_app_in_the_data_dir() {
    let app = load_app(MANIFEST).await;
    call(&app, "PUT", "/blob/images?key=durable", &[], b"still here").await;
    let (_dir, path) = manifest(MANIFEST);
    let storage = plughost::Capabilities::embedded(&app.data_dir, "http://127.0.0.1").unwrap();
    let restarted = App::load(engine(), storage, &path, 1024).await.unwrap();
    assert_eq!(get(&restarted, "/blob/images?key=durable").await.json()["ok"]["body"], "still here");
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
