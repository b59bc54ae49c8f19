//! `plughost:plugin/config` over a [`ConfigCtx`].

use super::ConfigCtx;
use crate::bindings::plughost::plugin::config::Host;

impl Host for &ConfigCtx {
    fn get(&mut self, key: String) -> Option<String> {
        self.values.get(&key).cloned()
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn get_returns_only_configured_values() {
        let ctx = ConfigCtx::new(Arc::new(BTreeMap::from([("greeting".to_owned(), "Hi".to_owned())])));
        let mut host = &ctx;
        assert_eq!(host.get("greeting".into()).as_deref(), Some("Hi"));
        assert_eq!(host.get("HOME".into()), None);
        assert_eq!(host.get_all(), vec![("greeting".to_owned(), "Hi".to_owned())]);
    }
}
