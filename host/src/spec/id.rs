//! The host's two identities: [`PluginId`] (who a plugin is, in logs, errors and
//! namespaces) and [`Digest`] (which component bytes, content-addressed). Every layer uses
//! them; this module uses nothing of the host.

use std::fmt;
use std::sync::Arc;

/// A component's sha256, as 64 lower-case hex digits (written `sha256:<hex>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(Arc<str>);

impl Digest {
    pub const PREFIX: &str = "sha256:";

    /// Parses `sha256:<64 hex>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text.strip_prefix(Self::PREFIX).unwrap_or("");
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(hex.into()))
        } else {
            Err(format!("invalid digest `{text}`: expected `sha256:` and 64 lower-case hex digits"))
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(hex::encode(sha2::Sha256::digest(bytes)).into())
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for logs and tables.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

/// A plugin's id: lower-case letters, digits, `-` and `_`; it appears in logs, errors
/// and (later) storage namespaces, so it is kept boring.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginId(Arc<str>);

impl PluginId {
    pub fn parse(id: &str) -> Result<Self, String> {
        let valid = !id.is_empty()
            && id.len() <= 63
            && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid {
            Ok(Self(id.into()))
        } else {
            Err(format!(
                "invalid plugin id `{id}`: use 1-63 lower-case letters, digits, `-` or `_`, starting with a letter or digit"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
