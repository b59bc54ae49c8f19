//! A topic's declaration in the manifest: `[topic.<label>]`, with no settings yet. Who
//! receives its notifications is said where they are received: plugins with
//! `events = [{ topic = "<label>" }]`, queues declared with `topics = ["<label>"]`.

use crate::capability::labelled::parse_declaration;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {}

/// Checks a `[topic.<label>]` table (it must be empty).
pub fn check(table: &toml::Table) -> Result<(), String> {
    parse_declaration::<RawTopic>(table).map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_topic_declaration_has_no_settings() {
        assert!(super::check(&toml::Table::new()).is_ok());
        let table: toml::Table = toml::from_str("fifo = true").unwrap();
        assert!(super::check(&table).unwrap_err().contains("unknown field `fifo`"));
    }
}
