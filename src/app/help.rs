//! The help overlay as a component: whether it shows and how far it is
//! scrolled, and its own keys. The lines themselves are drawn by
//! `ui::help` from the keymap and the command table.

use crate::keymap::Action;

#[derive(Debug, Default)]
pub struct Help {
    shown: bool,
    /// First line shown.
    scroll: usize,
}

impl Help {
    pub fn shown(&self) -> bool {
        self.shown
    }

    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Show it from the top.
    pub fn open(&mut self) {
        self.shown = true;
        self.scroll = 0;
    }

    /// An action while it shows (it takes every one): its own key, Back
    /// or Quit close it, the moves scroll it within its `lines`. True when
    /// the app must quit after all (`Ctrl-c`, as everywhere).
    pub fn on_action(&mut self, action: Action, ctrl_c: bool, lines: usize) -> bool {
        match action {
            Action::Quit if ctrl_c => return true,
            Action::Help | Action::Back | Action::Quit => self.shown = false,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top => {
                self.scroll = action
                    .moved(self.scroll, lines + 1, super::nav::LIST_PAGE)
                    .unwrap_or(self.scroll)
            }
            _ => {}
        }
        false
    }
}
