//! The generated guest bindings of the `plughost:plugin` world (`wit/`).
//!
//! Plugin authors rarely need these directly: [`crate::Request`], [`crate::Response`],
//! [`crate::config`] and [`crate::log`] wrap them. They are public so a plugin can reach a
//! capability before the SDK grows a helper for it.

wit_bindgen::generate!({
    path: "../wit",
    world: "plughost:plugin/plugin",
    // `plugin!` (in lib.rs) expands to this macro inside the plugin crate.
    pub_export_macro: true,
    export_macro_name: "__export_handler",
    default_bindings_module: "plughost_sdk::bindings",
    additional_derives: [PartialEq, Eq],
});
