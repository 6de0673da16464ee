//! The command line (`:`) as a component: it owns the text typed while it
//! is open and the lines run before, and takes its own keys. What a line
//! means (running it, completing its names) needs the fleet, so the
//! component hands those to the app as a `Typed`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Lines remembered for ↑ ↓.
const HISTORY: usize = 100;

#[derive(Debug, Default)]
pub struct Prompt {
    /// What was typed so far; None while closed.
    text: Option<String>,
    /// Lines run, oldest first, and where ↑ ↓ are in them.
    history: Vec<String>,
    pos: Option<usize>,
}

/// What a key on the open command line asks of the app.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed {
    /// The component took it (edited, moved in history, closed).
    Nothing,
    /// Enter: run this line (the command line is closed and remembers it).
    Run(String),
    /// Tab: complete the last word (`App::complete_prompt`).
    Complete,
}

impl Prompt {
    /// Open with `text` to edit (empty for a bare `:`).
    pub fn open(&mut self, text: impl Into<String>) {
        self.text = Some(text.into());
    }

    pub fn is_open(&self) -> bool {
        self.text.is_some()
    }

    /// The text typed so far, while open.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    pub fn close(&mut self) {
        self.text = None;
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Typed {
        let Some(text) = self.text.as_mut() else {
            return Typed::Nothing;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.close(),
            KeyCode::Char('c') if ctrl => self.close(),
            KeyCode::Enter => {
                let line = self.text.take().unwrap_or_default();
                self.remember(&line);
                return Typed::Run(line);
            }
            KeyCode::Tab => return Typed::Complete,
            KeyCode::Up => self.step_history(true),
            KeyCode::Down => self.step_history(false),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => {}
        }
        Typed::Nothing
    }

    /// ↑ / ↓: earlier / later lines run.
    fn step_history(&mut self, older: bool) {
        let n = self.history.len();
        if n == 0 {
            return;
        }
        self.pos = match (self.pos, older) {
            (None, true) => Some(n - 1),
            (None, false) => None,
            (Some(p), true) => Some(p.saturating_sub(1)),
            (Some(p), false) if p + 1 < n => Some(p + 1),
            (Some(_), false) => None,
        };
        self.text = Some(
            self.pos
                .map(|p| self.history[p].clone())
                .unwrap_or_default(),
        );
    }

    /// Remember a line run (not twice in a row).
    fn remember(&mut self, line: &str) {
        let line = line.trim();
        if !line.is_empty() && self.history.last().map(String::as_str) != Some(line) {
            self.history.push(line.to_string());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        self.pos = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(p: &mut Prompt, code: KeyCode) -> Typed {
        p.on_key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn edits_runs_and_walks_its_history() {
        let mut p = Prompt::default();
        assert_eq!(press(&mut p, KeyCode::Char('x')), Typed::Nothing);
        assert_eq!(p.text(), None, "closed: keys are not its own");
        p.open("sc");
        for c in "ale web 3".chars() {
            press(&mut p, KeyCode::Char(c));
        }
        press(&mut p, KeyCode::Backspace);
        press(&mut p, KeyCode::Char('4'));
        assert_eq!(press(&mut p, KeyCode::Tab), Typed::Complete);
        assert_eq!(
            press(&mut p, KeyCode::Enter),
            Typed::Run("scale web 4".into())
        );
        assert!(!p.is_open());
        p.open("");
        press(&mut p, KeyCode::Up);
        assert_eq!(p.text(), Some("scale web 4"));
        press(&mut p, KeyCode::Down);
        assert_eq!(p.text(), Some(""));
        assert_eq!(press(&mut p, KeyCode::Esc), Typed::Nothing);
        assert!(!p.is_open());
    }
}
