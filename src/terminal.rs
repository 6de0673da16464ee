//! Terminal hygiene: raw mode and the alternate screen on the way in, and
//! always restored on the way out — normal exit, error or panic.

use ratatui::DefaultTerminal;

/// Enter the TUI. ratatui's init also installs a panic hook that restores
/// the terminal before the panic report (color-eyre's) is printed.
pub fn enter() -> std::io::Result<DefaultTerminal> {
    ratatui::try_init()
}

pub fn leave() {
    ratatui::restore();
}

/// Restores the terminal when dropped, so an early return cannot skip it.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        leave();
    }
}

/// Send log records to the in-memory buffer the log pane shows.
pub fn init_logging() {
    if tui_logger::init_logger(log::LevelFilter::Debug).is_ok() {
        tui_logger::set_default_level(log::LevelFilter::Info);
        // Dependencies are chatty at debug level; keep our own.
        tui_logger::set_level_for_target("agile_deck", log::LevelFilter::Debug);
    }
}
