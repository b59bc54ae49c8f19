//! [`SecretSource`]: where `{ secret = "name" }` config values come from, and
//! [`resolve`], which turns a plugin's manifest config into the strings it reads.
//! The only file that talks to AWS Secrets Manager.
//!
//! - a local TOML file (`plughost serve --secrets secrets.toml`): `name = "value"` lines,
//!   re-read at every reload so an edit goes live like a plugin change;
//! - AWS Secrets Manager (`--secrets aws-secrets-manager:` with an optional name prefix):
//!   `GetSecretValue` per referenced secret when a table is built (cold start, reload).
//!
//! Secret values never reach a log line: errors name the plugin, the key and the secret,
//! never the value; [`Resolved`] prints as `[redacted]`; and the plugin's own log lines
//! have its secret values replaced (see `capability/log`).

use super::ConfigValue;
use crate::spec::id::PluginId;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `--secrets` names.
pub enum SecretSource {
    /// No source: a manifest that references a secret fails to load, saying so.
    None,
    /// A TOML file of `name = "value"`.
    File(PathBuf),
    /// AWS Secrets Manager; a secret `name` is the secret id `<prefix><name>`.
    SecretsManager { client: aws_sdk_secretsmanager::Client, prefix: String },
}

/// The prefix of `--secrets` that selects AWS Secrets Manager.
pub const SECRETS_MANAGER_SCHEME: &str = "aws-secrets-manager:";

impl SecretSource {
    /// Parses `--secrets`: `aws-secrets-manager:[prefix]`, or a file path. The AWS client
    /// is configured from the environment (region, credentials, `AWS_ENDPOINT_URL`).
    pub async fn from_arg(arg: &str) -> Self {
        match arg.strip_prefix(SECRETS_MANAGER_SCHEME) {
            Some(prefix) => {
                let config = crate::platform::aws::config_from_env().await;
                Self::SecretsManager { client: crate::platform::aws::secrets_manager(&config), prefix: prefix.into() }
            }
            None => Self::File(arg.into()),
        }
    }

    /// The file to watch for live reload, if the source is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::None => "no secrets source".into(),
            Self::File(path) => path.display().to_string(),
            Self::SecretsManager { prefix, .. } => format!("AWS Secrets Manager (prefix `{prefix}`)"),
        }
    }

    /// Fetches every secret the plugins' `configs` (of the manifest at `origin`)
    /// reference. Fails naming the first plugin, key and secret that cannot be resolved,
    /// and why (never a value).
    pub async fn fetch(&self, origin: &Path, configs: &[(&PluginId, &PluginConfig)]) -> anyhow::Result<Secrets> {
        let mut wanted: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
        for (plugin, config) in configs {
            for (key, value) in config.iter() {
                if let ConfigValue::Secret(name) = value {
                    wanted.entry(name).or_insert((plugin.as_str(), key));
                }
            }
        }
        let mut values = BTreeMap::new();
        if wanted.is_empty() {
            return Ok(Secrets(Arc::new(values)));
        }
        let fail = |name: &str, why: String| {
            let (plugin, key) = wanted[name];
            anyhow::anyhow!("{}: plugin `{plugin}`: config.{key}: secret `{name}` {why}", origin.display())
        };
        match self {
            Self::None => {
                let name = wanted.keys().next().copied().unwrap_or_default();
                return Err(fail(name, "cannot be resolved: no secrets source (pass `--secrets <file>` or `--secrets aws-secrets-manager:`)".into()));
            }
            Self::File(path) => {
                let file = read_secrets_file(path).await.map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?;
                for name in wanted.keys() {
                    let value = file.get(*name).ok_or_else(|| fail(name, format!("is not in {}", self.describe())))?;
                    values.insert((*name).to_owned(), value.clone());
                }
            }
            Self::SecretsManager { client, prefix } => {
                for name in wanted.keys() {
                    let id = format!("{prefix}{name}");
                    let output = client.get_secret_value().secret_id(&id).send().await.map_err(|error| {
                        let why = match error.as_service_error() {
                            Some(e) if e.is_resource_not_found_exception() => {
                                format!("does not exist in AWS Secrets Manager (secret id `{id}`)")
                            }
                            _ => format!(
                                "could not be read from AWS Secrets Manager (secret id `{id}`): {}",
                                aws_sdk_secretsmanager::error::DisplayErrorContext(&error)
                            ),
                        };
                        fail(name, why)
                    })?;
                    let value = output
                        .secret_string()
                        .ok_or_else(|| fail(name, "is binary; only string secrets can be config values".into()))?;
                    values.insert((*name).to_owned(), value.to_owned());
                }
            }
        }
        Ok(Secrets(Arc::new(values)))
    }
}

/// Reads the file without blocking the async worker (a reload runs on one).
async fn read_secrets_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = tokio::fs::read_to_string(path).await.map_err(|e| format!("cannot read secrets file: {e}"))?;
    // The parse error would quote the offending line, which may hold a secret: say where only.
    let table: toml::Table = toml::from_str(&text).map_err(|e| match e.span() {
        Some(span) => format!("invalid TOML at byte {}", span.start),
        None => "invalid TOML".into(),
    })?;
    table
        .into_iter()
        .map(|(name, value)| match value {
            toml::Value::String(value) => Ok((name, value)),
            _ => Err(format!("secret `{name}` must be a string")),
        })
        .collect()
}

/// The secret values of one table build, by name.
#[derive(Clone, Default)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys().map(|name| format!("{name}: [redacted]"))).finish()
    }
}

/// One plugin's config as it reads it: plain values and resolved secrets.
pub struct Resolved {
    pub values: Arc<BTreeMap<String, String>>,
    /// The secret values among them, which the plugin's log lines must not show.
    pub secret_values: Arc<[String]>,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved").field("keys", &self.values.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// One plugin's `config` as the manifest writes it.
pub type PluginConfig = BTreeMap<String, ConfigValue>;

/// The values a plugin with `config` reads, its secrets looked up in `secrets` (which
/// [`SecretSource::fetch`] filled for this manifest, so every name is there).
pub fn resolve(config: &PluginConfig, secrets: &Secrets) -> Result<Resolved, String> {
    let mut values = BTreeMap::new();
    let mut secret_values = Vec::new();
    for (key, value) in config {
        let value = match value {
            ConfigValue::Plain(value) => value.clone(),
            ConfigValue::Secret(name) => {
                let value =
                    secrets.0.get(name).ok_or_else(|| format!("config.{key}: secret `{name}` was not fetched"))?;
                secret_values.push(value.clone());
                value.clone()
            }
        };
        values.insert(key.clone(), value);
    }
    Ok(Resolved { values: Arc::new(values), secret_values: secret_values.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::manifest::{LimitBounds, Manifest};

    fn manifest(config: &str) -> Manifest {
        let text = format!("[plugins.a]\nsource = \"a.wasm\"\nroutes = [\"/a\"]\nconfig = {config}\n");
        Manifest::parse(Path::new("/srv/plughost.toml"), &text, &LimitBounds::default(), &crate::capability::sections())
            .unwrap()
    }

    #[tokio::test]
    async fn a_file_source_resolves_secrets_and_nothing_prints_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.toml");
        std::fs::write(&file, "api-key = \"s3cr3t-value\"\nunused = \"x\"\n").unwrap();
        let manifest = manifest("{ key = { secret = \"api-key\" }, plain = \"p\" }");
        let secrets = SecretSource::File(file).fetch(&manifest.path, &manifest.configs()).await.unwrap();
        let resolved = resolve(&manifest.plugins[0].config, &secrets).unwrap();
        assert_eq!(resolved.values.get("key").map(String::as_str), Some("s3cr3t-value"));
        assert_eq!(resolved.values.get("plain").map(String::as_str), Some("p"));
        assert_eq!(&*resolved.secret_values, ["s3cr3t-value".to_owned()]);
        for printed in [format!("{secrets:?}"), format!("{resolved:?}")] {
            assert!(!printed.contains("s3cr3t"), "{printed}");
        }
    }

    #[tokio::test]
    async fn a_missing_secret_names_plugin_key_and_secret_but_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.toml");
        std::fs::write(&file, "other = \"s3cr3t-value\"\n").unwrap();
        let manifest = manifest("{ key = { secret = \"api-key\" } }");
        let error = SecretSource::File(file).fetch(&manifest.path, &manifest.configs()).await.unwrap_err().to_string();
        assert!(error.contains("plugin `a`: config.key: secret `api-key` is not in"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
        let error = SecretSource::None.fetch(&manifest.path, &manifest.configs()).await.unwrap_err().to_string();
        assert!(error.contains("no secrets source"), "{error}");
    }

    #[tokio::test]
    async fn a_malformed_secrets_file_does_not_quote_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.toml");
        std::fs::write(&file, "api-key = \"s3cr3t-value\nbroken").unwrap();
        let manifest = manifest("{ key = { secret = \"api-key\" } }");
        let error = SecretSource::File(file).fetch(&manifest.path, &manifest.configs()).await.unwrap_err().to_string();
        assert!(error.contains("invalid TOML at byte"), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}
