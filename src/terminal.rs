//! Terminal hygiene: raw mode and the alternate screen on the way in, and
//! always restored on the way out — normal exit, error or panic — exactly
//! once: leaving the alternate screen twice makes terminals restore the
//! cursor saved on entry, and what was printed since (a panic report) would
//! be overwritten.

use std::io::stdout;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::Show;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::backend::CrosstermBackend;
use ratatui::{DefaultTerminal, Terminal};

static ACTIVE: AtomicBool = AtomicBool::new(false);
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Report mouse clicks and the wheel (call before `enter`; `--no-mouse`
/// leaves the terminal's own selection alone).
pub fn want_mouse(on: bool) {
    MOUSE.store(on, Ordering::SeqCst);
}

/// Enter the TUI, with a panic hook that restores the terminal before the
/// previous hook (color-eyre's report) prints.
pub fn enter() -> std::io::Result<DefaultTerminal> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        leave();
        previous(info);
    }));
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(stdout(), EnterAlternateScreen)?;
    if MOUSE.load(Ordering::SeqCst) {
        execute!(stdout(), crossterm::event::EnableMouseCapture)?;
    }
    Terminal::new(CrosstermBackend::new(stdout()))
}

/// Stop or resume reporting the mouse (a command in a replica wants the
/// terminal's own selection); nothing if it was not asked for.
pub fn pause_mouse(paused: bool) {
    if MOUSE.load(Ordering::SeqCst) {
        let _ = if paused {
            execute!(stdout(), crossterm::event::DisableMouseCapture)
        } else {
            execute!(stdout(), crossterm::event::EnableMouseCapture)
        };
    }
}

/// Restore the terminal if the TUI is active; a no-op otherwise.
pub fn leave() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        if MOUSE.load(Ordering::SeqCst) {
            let _ = execute!(stdout(), crossterm::event::DisableMouseCapture);
        }
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
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
