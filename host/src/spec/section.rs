//! What the manifest knows of a capability plugins reach by label — its `[<name>.<label>]`
//! sections, its grant words, the trigger of its events — as a [`Section`] each capability
//! supplies (`capability::sections()`, from `capability/<name>/mod.rs`'s `KIND`). The spec
//! names no capability: `Manifest::parse` is handed the sections.
//!
//! Also here: the helpers every capability's declaration parser uses.

use std::collections::BTreeMap;

/// Every label a manifest declares: capability -> label -> its declaration's fields.
pub type Declarations = BTreeMap<&'static str, BTreeMap<String, toml::Table>>;

/// What one plugin's manifest entry grants: capability -> label -> access (one of the
/// capability's `accesses`). Bound to backends, it becomes `grants::PluginGrants`.
pub type GrantedAccess = BTreeMap<&'static str, BTreeMap<String, &'static str>>;

/// One capability as the manifest sees it.
#[derive(Clone, Copy)]
pub struct Section {
    /// The manifest's `[<name>.<label>]` sections and `<name> = { ... }` grants.
    pub name: &'static str,
    /// What one label names, in messages (a noun: "… store", "… container").
    pub noun: &'static str,
    /// The grant values, weakest first: `["read", "read-write"]`.
    pub accesses: &'static [&'static str],
    /// Checks one declaration (the fields of `[<name>.<label>]`); the error names the field.
    pub check_declaration: fn(&toml::Table) -> Result<(), String>,
    /// The trigger in `events = [...]` naming its labels' events (`object`, `changes`), if any.
    pub event_trigger: Option<&'static str>,
}

impl Section {
    /// The access `word` if this capability grants it.
    pub fn access(&self, word: &str) -> Result<&'static str, String> {
        self.accesses.iter().copied().find(|access| *access == word).ok_or_else(|| {
            format!(
                "unknown access `{word}` (use {})",
                self.accesses.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(" or ")
            )
        })
    }
}

/// The section whose labels' events a manifest subscribes to with `trigger`.
pub fn emitting<'a>(sections: &'a [Section], trigger: &str) -> Option<&'a Section> {
    sections.iter().find(|section| section.event_trigger == Some(trigger))
}

/// A declaration's fields as `T` (a capability's `#[serde(deny_unknown_fields)]` struct);
/// the error names the field.
pub fn parse_declaration<T: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| e.message().trim().to_owned())
}

/// Checks a declaration that takes no settings (`[<capability>.<label>]`, empty): any
/// field is an error naming it.
pub fn no_settings(table: &toml::Table) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Empty {}
    parse_declaration::<Empty>(table).map(drop)
}

/// A byte quota `field`: `value` (or `default`) if within 1..=`max`, else an error naming
/// the field and the bound.
pub fn bytes_within(field: &str, value: Option<bytesize::ByteSize>, default: u64, max: u64) -> Result<u64, String> {
    let value = value.map_or(default, |b| b.as_u64());
    if value == 0 || value > max {
        return Err(format!("{field} {} is outside (0, {}]", exact_bytes(value), exact_bytes(max)));
    }
    Ok(value)
}

/// `4 GiB`, `256 MiB`, `1500 bytes`: exact, in the largest unit that divides evenly
/// (operators compare these with what they wrote).
pub fn exact_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(size, _)| bytes >= *size && bytes.is_multiple_of(*size))
        .map_or_else(|| format!("{bytes} bytes"), |(size, unit)| format!("{} {unit}", bytes / size))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_declaration_without_settings_refuses_any_field_by_name() {
        assert!(super::no_settings(&toml::Table::new()).is_ok());
        let table: toml::Table = toml::from_str("fifo = true").unwrap();
        assert!(super::no_settings(&table).unwrap_err().contains("unknown field `fifo`"));
    }
}
