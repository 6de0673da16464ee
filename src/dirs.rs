//! agile-deck's folders, after the XDG base directory spec (`etcetera`
//! reads `XDG_STATE_HOME`, `XDG_CONFIG_HOME` and their `~/.local/state`,
//! `~/.config` defaults).

use std::path::PathBuf;

use etcetera::base_strategy::{BaseStrategy, Xdg};

/// The state folder (journal, saved logs, the demo's Prometheus):
/// `$XDG_STATE_HOME/agile-deck`; the temporary folder if there is no home.
pub fn state() -> PathBuf {
    Xdg::new()
        .ok()
        .and_then(|x| x.state_dir())
        .unwrap_or_else(std::env::temp_dir)
        .join("agile-deck")
}

/// Where the config file is looked for when `--config` is not given:
/// `$XDG_CONFIG_HOME/agile-deck/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    Some(Xdg::new().ok()?.config_dir().join("agile-deck/config.toml"))
}
