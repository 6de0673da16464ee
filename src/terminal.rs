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

/// Whether the terminal on stdout or stderr has hung up: the operator's
/// ssh session or the window is gone.
pub fn gone() -> bool {
    [libc::STDOUT_FILENO, libc::STDERR_FILENO]
        .into_iter()
        .any(|fd| tty(fd) == Some(false))
}

/// Whether `fd` is a terminal: Some(true) one that is there, Some(false)
/// one that hung up (the kernel answers every call on it with EIO), None
/// not a terminal.
fn tty(fd: i32) -> Option<bool> {
    // SAFETY: isatty only asks the kernel about this process's own `fd`.
    if unsafe { libc::isatty(fd) } == 1 {
        return Some(true);
    }
    (std::io::Error::last_os_error().raw_os_error() == Some(libc::EIO)).then_some(false)
}

/// The terminal hung up (SIGHUP): there is nothing to restore, and what
/// would still be written to it goes to /dev/null instead. A write to a
/// hung-up terminal fails, and `eprintln!` (ratatui's own, on drop) panics
/// on that, which would skip the cleanup after it.
pub fn hung_up() {
    use std::os::fd::AsRawFd;
    ACTIVE.store(false, Ordering::SeqCst);
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        if tty(fd).is_some() {
            // SAFETY: dup2 onto this process's own descriptor, a terminal.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
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
