//! [`Document`]: the deployed manifest as a TOML document, edited by the operator
//! commands and read by the host as an ordinary manifest (`spec/manifest.rs`).
//!
//! A deployed manifest is the operator's `plughost.toml` with each plugin's `source` file
//! replaced by the `digest` of its component, plus a `[history]` table: per plugin, the
//! digests it served before, newest first (at most [`HISTORY_LIMIT`]), which is what
//! `plughost rollback` goes back to. Every edit is validated as a whole manifest before
//! it is written.

use crate::spec::manifest::{Digest, LimitBounds, Manifest, PluginId, PluginSpec};
use std::path::{Path, PathBuf};

/// Earlier digests kept per plugin.
pub const HISTORY_LIMIT: usize = 10;

#[derive(Debug, Clone)]
pub struct Document {
    table: toml::Table,
}

impl Document {
    /// A deployed manifest read from `origin`.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let table =
            text.parse::<toml::Table>().map_err(|e| anyhow::anyhow!("{origin}: invalid TOML: {}", e.message()))?;
        Ok(Self { table })
    }

    /// The deployed form of the local manifest at `path`, validated, with every plugin's
    /// `source` removed. Returns it with each plugin and its component file, which the caller
    /// checks, uploads and names with [`Document::set_digest`].
    pub fn from_local(path: &Path, bounds: &LimitBounds) -> anyhow::Result<(Self, Vec<(PluginSpec, PathBuf)>)> {
        let manifest = Manifest::load(path, bounds, &crate::capability::sections())?;
        let text = std::fs::read_to_string(path)?;
        let mut doc = Self::parse(&text, &path.display().to_string())?;
        doc.table.remove("history");
        let mut files = Vec::new();
        for spec in &manifest.plugins {
            let crate::spec::manifest::ComponentRef::File(file) = &spec.source else {
                anyhow::bail!(
                    "{}: plugin `{}`: a local manifest names its component with `source`",
                    path.display(),
                    spec.id
                );
            };
            files.push((spec.clone(), file.clone()));
            if let Some(plugin) = doc.plugin_mut(&spec.id) {
                plugin.remove("source");
            }
        }
        Ok((doc, files))
    }

    /// Parses this document as a manifest, exactly as the host will; errors name `origin`.
    pub fn validate(&self, origin: &str, bounds: &LimitBounds) -> anyhow::Result<Manifest> {
        Ok(Manifest::parse(Path::new(origin), &self.to_text(), bounds, &crate::capability::sections())?)
    }

    pub fn to_text(&self) -> String {
        toml::to_string(&self.table).unwrap_or_default()
    }

    /// Plugin ids, sorted.
    pub fn plugin_ids(&self) -> Vec<String> {
        self.plugins().map(|p| p.keys().cloned().collect()).unwrap_or_default()
    }

    /// The digest a plugin serves, if the plugin exists and names one.
    pub fn digest(&self, id: &PluginId) -> Option<Digest> {
        let plugin = self.plugins()?.get(id.as_str())?.as_table()?;
        Digest::parse(plugin.get("digest")?.as_str()?).ok()
    }

    /// The plugin's earlier digests, newest first.
    pub fn history(&self, id: &PluginId) -> Vec<Digest> {
        let entries = self.table.get("history").and_then(|h| h.get(id.as_str())).and_then(|l| l.as_array());
        entries.into_iter().flatten().filter_map(|d| d.as_str().and_then(|d| Digest::parse(d).ok())).collect()
    }

    /// Points plugin `id` at `digest`, recording the digest it served before in its
    /// history. Returns that previous digest (`None`: it had none, or it was already
    /// `digest` and nothing changed).
    pub fn set_digest(&mut self, id: &PluginId, digest: &Digest) -> anyhow::Result<Option<Digest>> {
        let previous = self.digest(id);
        let plugin = self.plugin_mut(id).ok_or_else(|| {
            anyhow::anyhow!(
                "plugin `{id}` is not in the deployed manifest: add it to your plughost.toml and run `plughost deploy`"
            )
        })?;
        if previous.as_ref() == Some(digest) {
            return Ok(None);
        }
        plugin.insert("digest".into(), toml::Value::String(digest.to_string()));
        let mut history = self.history(id);
        history.retain(|d| d != digest && Some(d) != previous.as_ref());
        if let Some(previous) = &previous {
            history.insert(0, previous.clone());
        }
        self.set_history(id, history);
        Ok(previous)
    }

    /// Points plugin `id` back at `to`, or at the newest digest of its history. Returns
    /// the digest it served before and the one it serves now.
    pub fn rollback(&mut self, id: &PluginId, to: Option<&Digest>) -> anyhow::Result<(Option<Digest>, Digest)> {
        let current = self.digest(id);
        let target = match to {
            Some(to) => to.clone(),
            None => self.history(id).into_iter().find(|d| Some(d) != current.as_ref()).ok_or_else(|| {
                anyhow::anyhow!("plugin `{id}` has no earlier version recorded to roll back to (give one with --to)")
            })?,
        };
        self.set_digest(id, &target)?;
        Ok((current, target))
    }

    /// Carries the history of `live` over to this (new) document: each plugin keeps its
    /// recorded digests, and a plugin whose digest changes records the one it served.
    pub fn inherit_history(&mut self, live: &Document) {
        for id in self.plugin_ids() {
            let Ok(id) = PluginId::parse(&id) else { continue };
            let mut history = live.history(&id);
            let new = self.digest(&id);
            if let Some(served) = live.digest(&id).filter(|served| Some(served) != new.as_ref()) {
                history.insert(0, served);
            }
            history.retain(|d| Some(d) != new.as_ref());
            let mut seen = std::collections::HashSet::new();
            history.retain(|d| seen.insert(d.clone()));
            self.set_history(&id, history);
        }
    }

    fn set_history(&mut self, id: &PluginId, mut digests: Vec<Digest>) {
        digests.truncate(HISTORY_LIMIT);
        let history = self.table.entry("history").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(history) = history.as_table_mut() {
            if digests.is_empty() {
                history.remove(id.as_str());
            } else {
                let list = digests.iter().map(|d| toml::Value::String(d.to_string())).collect();
                history.insert(id.to_string(), toml::Value::Array(list));
            }
        }
    }

    fn plugins(&self) -> Option<&toml::Table> {
        self.table.get("plugins")?.as_table()
    }

    fn plugin_mut(&mut self, id: &PluginId) -> Option<&mut toml::Table> {
        self.table.get_mut("plugins")?.as_table_mut()?.get_mut(id.as_str())?.as_table_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::of(&[n])
    }

    fn doc(d: &Digest) -> Document {
        Document::parse(&format!("[plugins.a]\ndigest = \"{d}\"\nroutes = [\"/a\"]\n"), "test").unwrap()
    }

    #[test]
    fn set_digest_records_history_newest_first_without_duplicates() {
        let id = PluginId::parse("a").unwrap();
        let mut d = doc(&digest(1));
        assert_eq!(d.set_digest(&id, &digest(2)).unwrap(), Some(digest(1)));
        assert_eq!(d.set_digest(&id, &digest(3)).unwrap(), Some(digest(2)));
        assert_eq!(d.history(&id), vec![digest(2), digest(1)]);
        assert_eq!(d.set_digest(&id, &digest(3)).unwrap(), None, "same digest changes nothing");
        d.set_digest(&id, &digest(1)).unwrap();
        assert_eq!(d.history(&id), vec![digest(3), digest(2)], "the new digest leaves the history");
        d.validate("test", &LimitBounds::default()).unwrap();
    }

    #[test]
    fn rollback_goes_to_the_previous_digest_or_the_one_given() {
        let id = PluginId::parse("a").unwrap();
        let mut d = doc(&digest(1));
        assert!(d.rollback(&id, None).unwrap_err().to_string().contains("no earlier version"));
        d.set_digest(&id, &digest(2)).unwrap();
        d.set_digest(&id, &digest(3)).unwrap();
        assert_eq!(d.rollback(&id, None).unwrap(), (Some(digest(3)), digest(2)));
        assert_eq!(d.digest(&id), Some(digest(2)));
        assert_eq!(d.rollback(&id, Some(&digest(1))).unwrap().1, digest(1));
        assert_eq!(d.history(&id), vec![digest(2), digest(3)]);
    }

    #[test]
    fn unknown_plugins_are_named() {
        let mut d = doc(&digest(1));
        let e = d.set_digest(&PluginId::parse("b").unwrap(), &digest(2)).unwrap_err();
        assert!(e.to_string().contains("plugin `b` is not in the deployed manifest"), "{e}");
    }

    #[test]
    fn history_is_capped() {
        let id = PluginId::parse("a").unwrap();
        let mut d = doc(&digest(0));
        for n in 1..=20 {
            d.set_digest(&id, &digest(n)).unwrap();
        }
        assert_eq!(d.history(&id).len(), HISTORY_LIMIT);
        assert_eq!(d.history(&id)[0], digest(19));
    }

    #[test]
    fn a_new_deployment_keeps_the_live_history() {
        let id = PluginId::parse("a").unwrap();
        let mut live = doc(&digest(1));
        live.set_digest(&id, &digest(2)).unwrap();
        let mut new = doc(&digest(3));
        new.inherit_history(&live);
        assert_eq!(new.history(&id), vec![digest(2), digest(1)]);
    }
}
