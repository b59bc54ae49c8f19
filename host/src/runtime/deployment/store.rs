//! [`DeploymentStore`]: the deployment's objects in S3 (the manifest and the
//! content-addressed components). The only file of `runtime/deployment/` that talks to S3.
//!
//! Every write is conditional on the server: the manifest is created with
//! `If-None-Match: *` and replaced with `If-Match: <etag>`, so a writer that read an old
//! manifest gets [`WriteError::Conflict`] instead of silently undoing someone else's
//! change. Reads can be conditional too (`If-None-Match: <etag>`), so a warm host polls
//! cheaply. Errors name the bucket and key and say what to check.

use crate::platform::aws::http_status;
use crate::runtime::deployment::Location;
use crate::spec::manifest::{Digest, PluginId};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

pub struct DeploymentStore {
    client: Client,
    location: Location,
}

/// The outcome of reading the manifest.
pub enum ManifestRead {
    /// Its ETag is still the one given: nothing to do.
    NotModified,
    /// No manifest at the location yet.
    Missing,
    Found {
        text: String,
        etag: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The manifest changed (or appeared) since it was read: read again and retry.
    #[error("the manifest changed since it was read")]
    Conflict,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl DeploymentStore {
    pub fn new(client: Client, location: Location) -> Self {
        Self { client, location }
    }

    /// A store whose client is configured from the environment (region, credentials,
    /// `AWS_ENDPOINT_URL` for S3-compatible servers).
    pub async fn from_env(location: Location) -> Self {
        Self::new(crate::platform::aws::s3(&crate::platform::aws::config_from_env().await), location)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Reads the manifest; with `if_none_match`, answers [`ManifestRead::NotModified`]
    /// while its ETag is unchanged.
    pub async fn read_manifest(&self, if_none_match: Option<&str>) -> anyhow::Result<ManifestRead> {
        let request = self.client.get_object().bucket(&self.location.bucket).key(&self.location.key);
        match request.set_if_none_match(if_none_match.map(str::to_owned)).send().await {
            Ok(output) => {
                let etag = output.e_tag().unwrap_or_default().to_owned();
                let bytes = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: reading the manifest was interrupted: {e}", self.location))?;
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| anyhow::anyhow!("{}: the manifest is not UTF-8 text", self.location))?;
                Ok(ManifestRead::Found { text, etag })
            }
            Err(error) if http_status(&error) == Some(304) => Ok(ManifestRead::NotModified),
            Err(error) if error.code() == Some("NoSuchKey") => Ok(ManifestRead::Missing),
            Err(error) => Err(self.explain(error, &self.location.key, "read the manifest")),
        }
    }

    /// Writes the manifest if it is still the version with `expected` ETag (`None`: only
    /// if there is none yet). Returns the new ETag.
    pub async fn write_manifest(&self, text: &str, expected: Option<&str>) -> Result<String, WriteError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&self.location.key)
            .content_type("application/toml")
            .body(ByteStream::from(text.as_bytes().to_vec()));
        let request = match expected {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(output) => Ok(output.e_tag().unwrap_or_default().to_owned()),
            // 412: the precondition failed; 409: S3 saw a concurrent conditional write.
            Err(error) if matches!(http_status(&error), Some(409 | 412)) => Err(WriteError::Conflict),
            Err(error) => Err(WriteError::Other(self.explain(error, &self.location.key, "write the manifest"))),
        }
    }

    /// Uploads a component under its digest, unless it is there already (content-addressed
    /// objects never change). Returns whether it was uploaded.
    pub async fn put_component(&self, plugin: &PluginId, digest: &Digest, bytes: Vec<u8>) -> anyhow::Result<bool> {
        let key = self.location.component_key(plugin, digest);
        if self.has_object(&key).await? {
            return Ok(false);
        }
        let request = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .content_type("application/wasm")
            .checksum_sha256(base64_of_hex(digest.hex()))
            .body(ByteStream::from(bytes));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => Err(self.explain(error, &key, "upload the component")),
        }
    }

    /// Whether a component with this digest has been uploaded for the plugin.
    pub async fn has_component(&self, plugin: &PluginId, digest: &Digest) -> anyhow::Result<bool> {
        self.has_object(&self.location.component_key(plugin, digest)).await
    }

    /// A component's bytes, as stored (the caller checks them against the digest);
    /// `None` if it was never uploaded. One GET: this is on the cold-start path.
    pub async fn get_component(&self, plugin: &PluginId, digest: &Digest) -> anyhow::Result<Option<Vec<u8>>> {
        self.get_object(&self.location.component_key(plugin, digest), "download the component").await
    }

    /// Any object of the deployment by key; `None` if it does not exist.
    pub async fn get_object(&self, key: &str, doing: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.client.get_object().bucket(&self.location.bucket).key(key).send().await {
            Ok(output) => {
                let bytes =
                    output.body.collect().await.map_err(|e| {
                        anyhow::anyhow!("s3://{}/{key}: download interrupted: {e}", self.location.bucket)
                    })?;
                Ok(Some(bytes.to_vec()))
            }
            Err(error) if error.code() == Some("NoSuchKey") => Ok(None),
            Err(error) => Err(self.explain(error, key, doing)),
        }
    }

    /// Writes any object of the deployment by key, unconditionally.
    pub async fn put_object(&self, key: &str, bytes: Vec<u8>, doing: &str) -> anyhow::Result<()> {
        let request = self.client.put_object().bucket(&self.location.bucket).key(key).body(ByteStream::from(bytes));
        request.send().await.map(drop).map_err(|error| self.explain(error, key, doing))
    }

    async fn has_object(&self, key: &str) -> anyhow::Result<bool> {
        match self.client.head_object().bucket(&self.location.bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(error) if http_status(&error) == Some(404) => {
                // HEAD has no body, so a missing bucket looks like a missing key: ask.
                self.check_bucket().await?;
                Ok(false)
            }
            Err(error) => Err(self.explain(error, key, "look up the object")),
        }
    }

    async fn check_bucket(&self) -> anyhow::Result<()> {
        match self.client.head_bucket().bucket(&self.location.bucket).send().await {
            Ok(_) => Ok(()),
            Err(error) if http_status(&error) == Some(404) => Err(no_such_bucket(&self.location.bucket)),
            Err(error) => Err(self.explain(error, "", "look up the bucket")),
        }
    }

    /// An error an operator can act on: which object, what we were doing, and the likely
    /// cause for the common cases.
    fn explain<E>(&self, error: SdkError<E, HttpResponse>, key: &str, doing: &str) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let bucket = &self.location.bucket;
        let detail = format!("{}", DisplayErrorContext(&error));
        let hint = match (error.code(), &error) {
            (Some("NoSuchBucket"), _) => return no_such_bucket(bucket),
            (Some("AccessDenied" | "Forbidden"), _) => {
                "access denied: the credentials in use may not touch this bucket/key".to_owned()
            }
            // HEAD answers carry no error code.
            (None, _) if http_status(&error) == Some(403) => {
                "access denied (HTTP 403): the credentials in use may not touch this bucket/key, \
                 or a bucket policy refuses the request (e.g. TLS-only)"
                    .to_owned()
            }
            (Some("InvalidAccessKeyId" | "SignatureDoesNotMatch"), _) => {
                "the AWS credentials were refused: check AWS_PROFILE / AWS_ACCESS_KEY_ID".to_owned()
            }
            // The SDK reports missing credentials as a dispatch failure; say it plainly.
            _ if detail.contains("no credentials found") || detail.contains("CredentialsNotLoaded") => {
                "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (in Lambda the function's role provides them)"
                    .to_owned()
            }
            (_, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
                format!("cannot reach S3 ({detail}): check the network, AWS_REGION and AWS_ENDPOINT_URL")
            }
            // A service error: its code and message are what matter, not the raw response.
            (code, SdkError::ServiceError(_)) => format!(
                "{} (HTTP {}): {}",
                code.unwrap_or("error"),
                http_status(&error).map_or_else(|| "?".to_owned(), |s| s.to_string()),
                error.message().unwrap_or("no message")
            ),
            _ => detail,
        };
        anyhow::anyhow!("s3://{bucket}/{key}: cannot {doing}: {hint}")
    }
}

fn no_such_bucket(bucket: &str) -> anyhow::Error {
    anyhow::anyhow!("bucket `{bucket}` does not exist (create it, or check the s3:// URL and AWS_REGION)")
}

/// S3's `x-amz-checksum-sha256` is the base64 of the raw digest: S3 itself then rejects
/// an upload whose bytes do not hash to it.
fn base64_of_hex(hex_digest: &str) -> String {
    use base64::Engine as _;
    let raw = hex::decode(hex_digest).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(raw)
}
