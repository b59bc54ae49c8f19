//! A blob container's declaration in the manifest: `[blob.<label>]` and its quotas, the
//! same for every plugin granted the container.
//!
//! ```toml
//! [blob.images]
//! max_object = "8 MiB"                # the largest `put` (<= 16 MiB, what a call moves)
//! max_presigned_upload = "100 MiB"    # the largest upload through a presigned PUT URL
//! max_written_per_request = "16 MiB"  # bytes one request may `put`
//! ```

use super::limits::MAX_BODY_BYTES;
use crate::capability::labelled::{bytes_within, parse_declaration};
use bytesize::ByteSize;

/// The most a presigned upload may be (S3's single-PUT limit).
pub const MAX_PRESIGNED_UPLOAD: u64 = 5 * 1024 * 1024 * 1024;

/// A blob container's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobQuota {
    /// The largest body one `put` stores (at most 16 MiB, what a call moves through memory).
    pub max_object: u64,
    /// The largest object a presigned PUT URL accepts.
    pub max_presigned_upload: u64,
    /// Bytes one request may write to this container through `put`.
    pub max_written_per_request: Option<u64>,
}

impl Default for BlobQuota {
    fn default() -> Self {
        Self { max_object: MAX_BODY_BYTES, max_presigned_upload: 1024 * 1024 * 1024, max_written_per_request: None }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlobContainer {
    max_object: Option<ByteSize>,
    max_presigned_upload: Option<ByteSize>,
    max_written_per_request: Option<ByteSize>,
}

impl BlobQuota {
    /// Parses and checks a `[blob.<label>]` table.
    pub fn parse(table: &toml::Table) -> Result<Self, String> {
        let raw: RawBlobContainer = parse_declaration(table)?;
        let defaults = Self::default();
        Ok(Self {
            max_object: bytes_within("max_object", raw.max_object, defaults.max_object, MAX_BODY_BYTES)?,
            max_presigned_upload: bytes_within(
                "max_presigned_upload",
                raw.max_presigned_upload,
                defaults.max_presigned_upload,
                MAX_PRESIGNED_UPLOAD,
            )?,
            max_written_per_request: raw
                .max_written_per_request
                .map(|b| bytes_within("max_written_per_request", Some(b), 0, u64::MAX))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::manifest::parse_for_tests as manifest;

    fn parse(text: &str) -> Result<BlobQuota, String> {
        BlobQuota::parse(&toml::from_str(text).unwrap())
    }

    #[test]
    fn quotas_default_to_what_backends_allow_and_may_only_be_smaller() {
        assert_eq!(parse("").unwrap(), BlobQuota::default());
        let quota = parse("max_object = \"2 MiB\"\nmax_presigned_upload = \"10 MiB\"").unwrap();
        assert_eq!((quota.max_object, quota.max_presigned_upload), (2 << 20, 10 << 20));
        assert_eq!(
            parse("max_presigned_upload = \"6 GiB\"").unwrap_err(),
            "max_presigned_upload 6 GiB is outside (0, 5 GiB]"
        );
        assert!(parse("max_objekt = \"1 MiB\"").unwrap_err().contains("unknown field `max_objekt`"));
    }

    #[test]
    fn grants_must_name_declared_containers() {
        let m = manifest(
            "[blob.images]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nblob = { images = \"read-write\" }\n",
        )
        .unwrap();
        assert_eq!(m.plugins[0].grants["blob"].get("images"), Some(&"read-write"));
        assert!(m.declared["blob"].contains_key("images"));
        // A kv store of the same name does not make a blob container.
        let e = manifest(
            "[kv.images]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nblob = { images = \"read\" }\n",
        )
        .unwrap_err();
        assert!(e.message.contains("plugin `a`: blob.images: no blob container `images` is declared"), "{e}");
        let e = manifest("[blob.\"a/b\"]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("[blob.a/b]: invalid blob container label"), "{e}");
        let e = manifest(
            "[blob.i]\nmax_presigned_upload = \"6 GiB\"\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n",
        )
        .unwrap_err();
        assert!(e.message.contains("[blob.i]: max_presigned_upload 6 GiB is outside (0, 5 GiB]"), "{e}");
        let e = manifest("[blob.i]\nmax_objekt = \"1 MiB\"\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n")
            .unwrap_err();
        assert!(e.message.contains("[blob.i]: unknown field `max_objekt`"), "{e}");
    }
}
