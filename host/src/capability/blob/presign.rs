//! The embedded blob store's presigned-URL protocol, on its own: [`Presigner`] signs a
//! [`PresignedGrant`] into a URL of this host's `/_plughost/blob/...` endpoint and checks
//! such a URL back into the grant. The backend (`fs.rs`) signs; the local routes
//! (`routes.rs`) verify. Nothing here touches stored objects.
//!
//! A URL is `<public-url>/_plughost/blob/<namespace>/<key>?method=..&expires=..
//! [&content-type=..]&max-size=..&signature=..`, the signature an HMAC-SHA256 (key: a
//! random secret kept beside the store, so URLs survive restarts) over every field.

use crate::bindings::plughost::plugin::blob::PresignMethod;
use crate::capability::clock::unix_seconds;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;

/// The URL path under which presigned URLs of the embedded backend are served.
pub const PRESIGNED_PATH: &str = "/_plughost/blob";

type HmacSha256 = hmac::Hmac<Sha256>;

/// Characters escaped in one path segment of a presigned URL.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// What a presigned URL allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedGrant {
    pub method: PresignMethod,
    pub namespace: String,
    pub key: String,
    /// A PUT must send exactly this content type (when set).
    pub content_type: Option<String>,
    /// The most bytes a PUT may store (the container's `max_presigned_upload`).
    pub max_size: u64,
}

/// Signs and verifies presigned URLs with one secret.
pub struct Presigner {
    key: [u8; 32],
    /// Where this host is reachable (`http://127.0.0.1:8080`): the base of every URL.
    public_url: String,
}

impl Presigner {
    /// The signer whose secret is the file at `key_path` (created, random and readable
    /// only by this user, the first time). Blocking file I/O: call at startup.
    pub fn open(key_path: &Path, public_url: &str) -> anyhow::Result<Self> {
        Ok(Self { key: secret(key_path)?, public_url: public_url.trim_end_matches('/').to_owned() })
    }

    /// The URL for `grant`, valid until `expires` (epoch seconds).
    pub fn url(&self, grant: &PresignedGrant, expires: u64) -> String {
        let signature = hex::encode(self.mac(grant, expires).finalize().into_bytes());
        let path: Vec<String> = std::iter::once(grant.namespace.as_str())
            .chain(grant.key.split('/'))
            .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
            .collect();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("method", method_name(grant.method));
        query.append_pair("expires", &expires.to_string());
        if let Some(content_type) = &grant.content_type {
            query.append_pair("content-type", content_type);
        }
        query.append_pair("max-size", &grant.max_size.to_string());
        query.append_pair("signature", &signature);
        format!("{}{PRESIGNED_PATH}/{}?{}", self.public_url, path.join("/"), query.finish())
    }

    /// Checks a presigned URL's path (below [`PRESIGNED_PATH`], still percent-encoded) and
    /// query against its signature and expiry. The error says why, for the 403 body.
    pub fn verify(&self, path: &str, query: &str) -> Result<PresignedGrant, String> {
        let path = percent_encoding::percent_decode_str(path).decode_utf8().map_err(|_| "path is not UTF-8")?;
        let (namespace, key) = path.split_once('/').ok_or("path must be <namespace>/<key>")?;
        let mut fields = std::collections::HashMap::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            fields.insert(name.into_owned(), value.into_owned());
        }
        let field = |name: &str| fields.get(name).ok_or_else(|| format!("missing `{name}` query parameter"));
        let method = match field("method")?.as_str() {
            "GET" => PresignMethod::Get,
            "PUT" => PresignMethod::Put,
            other => return Err(format!("unknown method `{other}`")),
        };
        let expires: u64 = field("expires")?.parse().map_err(|_| "`expires` is not a number")?;
        let content_type = fields.get("content-type").cloned();
        let max_size: u64 = field("max-size")?.parse().map_err(|_| "`max-size` is not a number")?;
        let signature = hex::decode(field("signature")?).map_err(|_| "`signature` is not hex")?;
        let grant = PresignedGrant { method, namespace: namespace.into(), key: key.into(), content_type, max_size };
        self.mac(&grant, expires).verify_slice(&signature).map_err(|_| "signature does not match")?;
        if unix_seconds() >= expires {
            return Err("URL has expired".into());
        }
        Ok(grant)
    }

    fn mac(&self, grant: &PresignedGrant, expires: u64) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        let content_type = grant.content_type.as_deref().unwrap_or("");
        // Fields are newline-separated and none may contain a newline (keys and content
        // types refuse control characters), so no two grants sign the same text.
        mac.update(
            format!(
                "v2\n{}\n{}\n{}\n{expires}\n{content_type}\n{}",
                method_name(grant.method),
                grant.namespace,
                grant.key,
                grant.max_size
            )
            .as_bytes(),
        );
        mac
    }
}

fn method_name(method: PresignMethod) -> &'static str {
    match method {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
    }
}

/// Reads the signing secret, creating a random one (readable only by this user) the
/// first time, so presigned URLs survive a restart.
fn secret(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path) {
        return bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key: delete it to make a new one", path.display()));
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness for the presign key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => secret(path),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> PresignedGrant {
        PresignedGrant {
            method: PresignMethod::Put,
            namespace: "images".into(),
            key: "a b/ü.png".into(),
            content_type: Some("image/png".into()),
            max_size: 1024,
        }
    }

    /// The path and query of `url`, as the local routes receive them.
    fn split(url: &str) -> (String, String) {
        let rest = url.split_once(PRESIGNED_PATH).unwrap().1;
        let (path, query) = rest.split_once('?').unwrap();
        (path.trim_start_matches('/').to_owned(), query.to_owned())
    }

    #[test]
    fn a_signed_url_verifies_back_into_its_grant_and_any_change_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let presigner = Presigner::open(&dir.path().join("presign.key"), "http://h:1/").unwrap();
        let url = presigner.url(&grant(), unix_seconds() + 60);
        assert!(url.starts_with("http://h:1/_plughost/blob/images/a%20b/%C3%BC.png?method=PUT"), "{url}");
        let (path, query) = split(&url);
        assert_eq!(presigner.verify(&path, &query), Ok(grant()));

        let bigger = query.replace("max-size=1024", "max-size=4096");
        assert_eq!(presigner.verify(&path, &bigger), Err("signature does not match".into()));
        assert_eq!(presigner.verify("images/other.png", &query), Err("signature does not match".into()));
        let expired = presigner.url(&grant(), unix_seconds() - 1);
        let (path, query) = split(&expired);
        assert_eq!(presigner.verify(&path, &query), Err("URL has expired".into()));

        // Another store's secret (a different data dir) signs different URLs.
        let other = Presigner::open(&tempfile::tempdir().unwrap().path().join("k"), "http://h:1").unwrap();
        let (path, query) = split(&other.url(&grant(), unix_seconds() + 60));
        assert_eq!(presigner.verify(&path, &query), Err("signature does not match".into()));
        // The secret survives a restart.
        let reopened = Presigner::open(&dir.path().join("presign.key"), "http://h:1").unwrap();
        let (path, query) = split(&presigner.url(&grant(), unix_seconds() + 60));
        assert_eq!(reopened.verify(&path, &query), Ok(grant()));
    }
}
