//! A kv store's declaration in the manifest: `[kv.<label>]` and its quotas, the same for
//! every plugin granted the store.
//!
//! ```toml
//! [kv.users]
//! max_value = "64 KiB"               # the largest value one write stores (<= 350 KiB)
//! max_written_per_request = "1 MiB"  # keys + values one request may write
//! ```

use super::limits::MAX_VALUE_BYTES;
use crate::capability::labelled::{bytes_within, parse_declaration};
use bytesize::ByteSize;

/// A kv store's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// The largest value one write stores (at most the backends' 350 KiB).
    pub max_value: u64,
    /// Bytes (keys and values) one request may write to this store.
    pub max_written_per_request: Option<u64>,
}

impl Default for KvQuota {
    fn default() -> Self {
        Self { max_value: MAX_VALUE_BYTES as u64, max_written_per_request: None }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKvStore {
    max_value: Option<ByteSize>,
    max_written_per_request: Option<ByteSize>,
}

impl KvQuota {
    /// Parses and checks a `[kv.<label>]` table.
    pub fn parse(table: &toml::Table) -> Result<Self, String> {
        let raw: RawKvStore = parse_declaration(table)?;
        let max = MAX_VALUE_BYTES as u64;
        Ok(Self {
            max_value: bytes_within("max_value", raw.max_value, max, max)?,
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

    fn parse(text: &str) -> Result<KvQuota, String> {
        KvQuota::parse(&toml::from_str(text).unwrap())
    }

    #[test]
    fn quotas_default_to_what_backends_allow_and_may_only_be_smaller() {
        assert_eq!(parse("").unwrap(), KvQuota::default());
        assert_eq!(
            parse("max_value = \"1 KiB\"\nmax_written_per_request = \"4 KiB\"").unwrap(),
            KvQuota { max_value: 1024, max_written_per_request: Some(4096) }
        );
        assert_eq!(parse("max_value = \"1 MiB\"").unwrap_err(), "max_value 1 MiB is outside (0, 350 KiB]");
        assert!(parse("max_valu = 1").unwrap_err().contains("unknown field `max_valu`"));
    }

    #[test]
    fn grants_must_name_declared_stores_with_a_known_access() {
        let m =
            manifest("[kv.users]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nkv = { users = \"read\" }\n")
                .unwrap();
        assert_eq!(m.plugins[0].grants["kv"].get("users"), Some(&"read"));
        let e =
            manifest("[kv.users]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nkv = { userz = \"read\" }\n")
                .unwrap_err();
        assert!(e.message.contains("plugin `a`: kv.userz: no kv store `userz` is declared"), "{e}");
        let e =
            manifest("[kv.users]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nkv = { users = \"write\" }\n")
                .unwrap_err();
        assert!(
            e.message.contains("plugin `a`: kv.users: unknown access `write` (use \"read\" or \"read-write\")"),
            "{e}"
        );
        let e = manifest("[kv.Users]\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n").unwrap_err();
        assert!(e.message.contains("[kv.Users]: invalid kv store label"), "{e}");
    }

    #[test]
    fn the_manifest_keeps_each_declaration_and_locates_its_errors() {
        let m = manifest(
            "[kv.users]\nmax_value = \"1 KiB\"\nmax_written_per_request = \"4 KiB\"\n\
             [plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n",
        )
        .unwrap();
        assert_eq!(
            KvQuota::parse(&m.declared["kv"]["users"]),
            Ok(KvQuota { max_value: 1024, max_written_per_request: Some(4096) })
        );
        let e = manifest("[kv.users]\nmax_value = \"1 MiB\"\n[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\n")
            .unwrap_err();
        assert!(e.message.contains("[kv.users]: max_value 1 MiB is outside (0, 350 KiB]"), "{e}");
    }
}
