//! A config value as the manifest writes it (`config = { key = "value", api_key = {
//! secret = "name" } }`): the config capability's manifest section.

/// A config value as the manifest writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigValue {
    /// The value itself (numbers and booleans become their text).
    Plain(String),
    /// `{ secret = "name" }`: the value of a secret, looked up by the host at load time in
    /// the secrets source (a local file for `serve`, AWS Secrets Manager in the cloud).
    Secret(String),
}

impl ConfigValue {
    /// A `config` entry as the manifest writes it; the error says what is allowed.
    pub fn parse(value: &toml::Value) -> Result<Self, String> {
        let plain = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Datetime(d) => d.to_string(),
            toml::Value::Table(table) if table.len() == 1 && table.contains_key("secret") => {
                let name = table["secret"].as_str().ok_or("`secret` must be the secret's name, a string")?;
                check_secret_name(name)?;
                return Ok(Self::Secret(name.to_owned()));
            }
            toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err(
                    "must be a string, number, boolean or `{ secret = \"name\" }` (plugins receive strings)".into()
                );
            }
        };
        Ok(Self::Plain(plain))
    }
}

/// Secret names follow AWS Secrets Manager's rules, so one manifest works everywhere.
fn check_secret_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 512
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!("invalid secret name `{name}`: use 1-512 of letters, digits and `/_+=.@-`"))
    }
}
