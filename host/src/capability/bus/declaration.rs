//! A bus's declaration in the manifest: `[bus.<label>]`, with no settings yet. Who
//! receives its events is said where they are received: plugins with
//! `events = [{ bus = "<label>", pattern = {...} }]`.

use crate::capability::labelled::parse_declaration;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBus {}

/// Checks a `[bus.<label>]` table (it must be empty).
pub fn check(table: &toml::Table) -> Result<(), String> {
    parse_declaration::<RawBus>(table).map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bus_declaration_has_no_settings() {
        assert!(super::check(&toml::Table::new()).is_ok());
        let table: toml::Table = toml::from_str("archive = true").unwrap();
        assert!(super::check(&table).unwrap_err().contains("unknown field `archive`"));
    }
}
