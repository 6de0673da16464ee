//! Keys as keymap files write them (`ctrl-c`, `G`, `pgdn`), and sequences
//! of them (`g g`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key or a sequence pressed in turn (`g g`, at most 3).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keys(pub Vec<Key>);

impl Keys {
    pub fn parse(s: &str) -> Result<Keys, String> {
        let keys = s
            .split_whitespace()
            .map(Key::parse)
            .collect::<Result<Vec<Key>, String>>()?;
        match keys.len() {
            0 => Err("an empty key".into()),
            1..=3 => Ok(Keys(keys)),
            _ => Err(format!("{s:?}: a sequence has at most 3 keys")),
        }
    }

    /// One starts the other (or they are equal): both cannot be bound.
    pub(super) fn overlaps(&self, other: &Keys) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }
}

impl std::fmt::Display for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, k) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

/// A key with its modifiers, as written in keymap files (`ctrl-c`, `G`, `pgdn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// KeyCode with an order, so keys can live in sorted maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Insert,
    Delete,
}

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCodeOrd::Enter,
                "esc" | "escape" => KeyCodeOrd::Esc,
                "tab" => KeyCodeOrd::Tab,
                "backtab" | "shift-tab" => KeyCodeOrd::BackTab,
                "backspace" => KeyCodeOrd::Backspace,
                "space" => KeyCodeOrd::Char(' '),
                "up" => KeyCodeOrd::Up,
                "down" => KeyCodeOrd::Down,
                "left" => KeyCodeOrd::Left,
                "right" => KeyCodeOrd::Right,
                "pgup" | "pageup" => KeyCodeOrd::PageUp,
                "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
                "home" => KeyCodeOrd::Home,
                "end" => KeyCodeOrd::End,
                "insert" => KeyCodeOrd::Insert,
                "delete" | "del" => KeyCodeOrd::Delete,
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=24).contains(&n)) =>
                {
                    KeyCodeOrd::F(f[1..].parse().unwrap())
                }
                _ => return Err(format!("unknown key {s:?}")),
            },
        };
        Ok(Key { code, ctrl, alt })
    }

    pub fn from_event(e: &KeyEvent) -> Option<Key> {
        let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
        let alt = e.modifiers.contains(KeyModifiers::ALT);
        let code = match e.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::Insert => KeyCodeOrd::Insert,
            KeyCode::Delete => KeyCodeOrd::Delete,
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ctrl {
            write!(f, "Ctrl-")?;
        }
        if self.alt {
            write!(f, "Alt-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => write!(f, "Space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "F{n}"),
            KeyCodeOrd::Enter => write!(f, "Enter"),
            KeyCodeOrd::Esc => write!(f, "Esc"),
            KeyCodeOrd::Tab => write!(f, "Tab"),
            KeyCodeOrd::BackTab => write!(f, "Shift-Tab"),
            KeyCodeOrd::Backspace => write!(f, "Backspace"),
            KeyCodeOrd::Up => write!(f, "↑"),
            KeyCodeOrd::Down => write!(f, "↓"),
            KeyCodeOrd::Left => write!(f, "←"),
            KeyCodeOrd::Right => write!(f, "→"),
            KeyCodeOrd::PageUp => write!(f, "PgUp"),
            KeyCodeOrd::PageDown => write!(f, "PgDn"),
            KeyCodeOrd::Home => write!(f, "Home"),
            KeyCodeOrd::End => write!(f, "End"),
            KeyCodeOrd::Insert => write!(f, "Ins"),
            KeyCodeOrd::Delete => write!(f, "Del"),
        }
    }
}
