//! Named actions and the TOML keymap that binds keys (or sequences of
//! keys, `g g`) to them per context. The default (keymaps/default.toml) and
//! vim.toml are compiled in; `--keymap vim|FILE` goes over the default.
//! The help overlay is generated from the active keymap.

use std::collections::BTreeMap;
use std::path::Path;

use strum::IntoEnumIterator;
use toml::Spanned;

use crate::file_error::{FileError, FileKind, line_of};

pub const DEFAULT_KEYMAP: &str = include_str!("../../keymaps/default.toml");
pub const VIM_KEYMAP: &str = include_str!("../../keymaps/vim.toml");

/// Keymaps that ship, by name (`--keymap vim`).
pub const BUILT_IN: [(&str, &str); 2] = [("default", DEFAULT_KEYMAP), ("vim", VIM_KEYMAP)];

mod action;
mod key;

pub use action::{Action, Context};
pub use key::{Key, KeyCodeOrd, Keys};

/// What keys pressed so far mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Action(Action),
    /// The start of a sequence: wait for the next key.
    Prefix,
    None,
}

type RawKeymap = BTreeMap<String, BTreeMap<String, Spanned<Vec<Spanned<String>>>>>;

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<(Context, Keys), Action>,
    /// The same bindings in file order: hints and help list keys as written.
    order: Vec<(Context, Keys, Action)>,
    pub origin: String,
}

impl Keymap {
    pub fn default_keymap() -> Keymap {
        Keymap::parse(DEFAULT_KEYMAP, "(built-in default)")
            .expect("the built-in keymap is valid (tested)")
    }

    /// `--keymap NAME|FILE`: a keymap that ships, or a file; either goes
    /// over the default.
    pub fn load(path: &Path) -> Result<Keymap, FileError> {
        if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| path.as_os_str() == *n) {
            return Keymap::over_default(text, &format!("{name} (built-in)"));
        }
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            kind: FileKind::Keymap,
            origin: origin.clone(),
            line: 0,
            reason: format!("cannot read it: {e}"),
        })?;
        Keymap::over_default(&text, &origin)
    }

    /// A user's keymap over the default one: each action it names gets
    /// exactly the keys it lists in that context (`[]` unbinds it), and a
    /// key it takes is taken from whatever default action had it there.
    pub fn over_default(text: &str, origin: &str) -> Result<Keymap, FileError> {
        let (user, named) = Keymap::read(text, origin)?;
        let base = Keymap::default_keymap();
        // A key (or sequence) the user binds is taken from the default,
        // and so is any default sequence it starts or is started by.
        let mut order: Vec<(Context, Keys, Action)> = base
            .order
            .into_iter()
            .filter(|(c, k, a)| {
                !named.contains(&(*c, *a))
                    && !user.iter().any(|(uc, uk, _)| uc == c && uk.overlaps(k))
            })
            .collect();
        order.extend(user);
        Keymap::finish(order, origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Keymap, FileError> {
        let (order, _) = Keymap::read(text, origin)?;
        Keymap::finish(order, origin)
    }

    /// The bindings of a file in file order, and every (context, action) it
    /// names (also with no key: an unbinding).
    #[allow(clippy::type_complexity)]
    fn read(
        text: &str,
        origin: &str,
    ) -> Result<(Vec<(Context, Keys, Action)>, Vec<(Context, Action)>), FileError> {
        let err = |line: usize, reason: String| FileError {
            kind: FileKind::Keymap,
            origin: origin.to_string(),
            line,
            reason,
        };
        let raw: RawKeymap = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            err(line, e.message().to_string())
        })?;
        // Walk the bindings in file order, so a conflict names the earlier line.
        let mut entries = Vec::new();
        for (section, actions) in raw {
            let context = match Context::ALL.into_iter().find(|c| c.name() == section) {
                Some(c) => c,
                None => {
                    let other = section.as_str();
                    let line = actions
                        .values()
                        .next()
                        .map(|v| line_of(text, v.span().start))
                        .unwrap_or(1);
                    return Err(err(
                        line,
                        format!(
                            "unknown context [{other}]; use {}",
                            Context::ALL.map(|c| format!("[{}]", c.name())).join(", ")
                        ),
                    ));
                }
            };
            for (name, keys) in actions {
                entries.push((line_of(text, keys.span().start), context, name, keys));
            }
        }
        entries.sort_by_key(|e| e.0);
        let mut order = Vec::new();
        let mut named = Vec::new();
        let mut seen: Vec<(Context, Keys, Action, usize)> = Vec::new();
        for (line, context, name, keys) in entries {
            let action = Action::from_name(&name).ok_or_else(|| {
                err(
                    line,
                    format!(
                        "unknown action {name:?}; actions are {}",
                        Action::iter()
                            .map(Action::name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            named.push((context, action));
            for key in keys.into_inner() {
                let kline = line_of(text, key.span().start);
                let k = Keys::parse(key.get_ref()).map_err(|e| err(kline, e))?;
                if let Some((_, ok, other, oline)) = seen
                    .iter()
                    .find(|(c, ok, _, _)| *c == context && ok.overlaps(&k))
                {
                    let why = if *ok == k {
                        format!("{k} is bound to both")
                    } else {
                        format!(
                            "{ok} and {k} start alike: one would hide the other; they are bound to"
                        )
                    };
                    return Err(err(
                        kline,
                        format!(
                            "{why} {} (line {oline}) and {} in [{}]",
                            other.name(),
                            action.name(),
                            context.name()
                        ),
                    ));
                }
                seen.push((context, k.clone(), action, kline));
                order.push((context, k, action));
            }
        }
        Ok((order, named))
    }

    fn finish(order: Vec<(Context, Keys, Action)>, origin: &str) -> Result<Keymap, FileError> {
        let err = |line: usize, reason: String| FileError {
            kind: FileKind::Keymap,
            origin: origin.to_string(),
            line,
            reason,
        };
        let km = Keymap {
            bindings: order
                .iter()
                .map(|(c, k, a)| ((*c, k.clone()), *a))
                .collect(),
            order,
            origin: origin.to_string(),
        };
        // Without these the user could not leave or move: refuse rather than guess.
        for a in [
            Action::Quit,
            Action::Up,
            Action::Down,
            Action::Back,
            Action::Enter,
            Action::Confirm,
            Action::Cancel,
        ] {
            if km.keys_for(a).is_empty() {
                return Err(err(1, format!("no key is bound to {}", a.name())));
            }
        }
        Ok(km)
    }

    /// What the keys pressed so far mean in `context`: its own bindings
    /// first, then those of the contexts it falls back to.
    pub fn lookup(&self, context: Context, pressed: &[Key]) -> Lookup {
        for c in context.chain() {
            if let Some(a) = self.bindings.get(&(*c, Keys(pressed.to_vec()))) {
                return Lookup::Action(*a);
            }
            let starts = self
                .bindings
                .keys()
                .any(|(bc, k)| bc == c && k.0.len() > pressed.len() && k.0.starts_with(pressed));
            if starts {
                return Lookup::Prefix;
            }
        }
        Lookup::None
    }

    /// The action of one key on its own (no sequence), for the tests.
    #[cfg(test)]
    pub fn action(&self, context: Context, e: &crossterm::event::KeyEvent) -> Option<Action> {
        let key = Key::from_event(e)?;
        match self.lookup(context, &[key]) {
            Lookup::Action(a) => Some(a),
            _ => None,
        }
    }

    pub fn keys_for(&self, action: Action) -> Vec<Keys> {
        self.order
            .iter()
            .filter(|(_, _, a)| *a == action)
            .map(|(_, k, _)| k.clone())
            .collect()
    }

    /// First key of an action, for hints in the footer.
    pub fn hint(&self, action: Action) -> String {
        self.keys_for(action)
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "(unbound)".into())
    }

    /// Help lines, per context: (context, keys, action description).
    pub fn help(&self) -> Vec<(Context, String, &'static str)> {
        self.help_actions()
            .into_iter()
            .map(|(c, k, a)| (c, k, a.describe()))
            .collect()
    }

    /// Each bound action once per context with all its keys, in the
    /// keymap's order.
    pub fn help_actions(&self) -> Vec<(Context, String, Action)> {
        let mut out: Vec<(Context, String, Action)> = Vec::new();
        let mut index: BTreeMap<(Context, Action), usize> = BTreeMap::new();
        for (c, k, a) in &self.order {
            match index.get(&(*c, *a)) {
                Some(i) => out[*i].1 += &format!(" {k}"),
                None => {
                    index.insert((*c, *a), out.len());
                    out.push((*c, k.to_string(), *a));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn default_keymap_binds_every_action() {
        let km = Keymap::default_keymap();
        for a in Action::iter() {
            assert!(!km.keys_for(a).is_empty(), "{} unbound", a.name());
        }
        assert_eq!(
            km.action(
                Context::Table,
                &ev(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action(Context::Table, &ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(
            km.action(Context::Table, &ev(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action(Context::Table, &ev(KeyCode::PageDown, KeyModifiers::NONE)),
            Some(Action::PageDown)
        );
        assert_eq!(
            km.action(Context::Table, &ev(KeyCode::Char('x'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn key_names() {
        assert_eq!(Key::parse("ctrl-C").unwrap(), Key::parse("ctrl-c").unwrap());
        assert_eq!(Key::parse("f5").unwrap().code, KeyCodeOrd::F(5));
        assert_eq!(Key::parse("G").unwrap().code, KeyCodeOrd::Char('G'));
        assert!(Key::parse("hyper-x").is_err());
        assert!(Key::parse("f99").is_err());
        assert_eq!(Key::parse("ctrl-c").unwrap().to_string(), "Ctrl-c");
    }

    #[test]
    fn broken_keymaps_name_line_and_reason() {
        let base = "[global]\nquit = [\"q\"]\n[table]\nup = [\"k\"]\ndown = [\"j\"]\nback = [\"esc\"]\nenter = [\"enter\"]\n";
        let cases: &[(String, usize, &str)] = &[
            (format!("{base}frobnicate = [\"z\"]\n"), 8, "unknown action"),
            (format!("{base}top = [\"hyper-z\"]\n"), 8, "unknown key"),
            (format!("{base}top = [\"k\"]\n"), 8, "bound to both up (line 4) and top"),
            (format!("{base}[pane]\ntop = [\"g\"]\n"), 9, "unknown context"),
            (
                format!("{base}top = [\"g\"]\nbottom = [\"g g\"]\n"),
                9,
                "g and g g start alike",
            ),
            (format!("{base}top = [\"g g g g\"]\n"), 8, "at most 3 keys"),
            (format!("{base}top = [\" \"]\n"), 8, "an empty key"),
            (format!("{base}top = \"g\"\n"), 8, "invalid type"),
            ("[global]\nquit = []\n[table]\nup=[\"k\"]\ndown=[\"j\"]\nback=[\"esc\"]\nenter=[\"enter\"]\n".to_string(), 1, "no key is bound to quit"),
        ];
        for (text, line, reason) in cases {
            let e = Keymap::parse(text, "k.toml").expect_err(text);
            assert_eq!(e.line, *line, "{e}");
            assert!(e.reason.contains(reason), "{e}");
        }
    }

    #[test]
    fn a_user_file_overrides_and_unbinds_over_the_default() {
        let km = Keymap::over_default(
            "[table]\n# colemak-ish\nup = [\"e\"]\ndown = [\"n\"]\nrestart = []\n",
            "mine.toml",
        )
        .unwrap();
        let key = |c| km.action(Context::Table, &ev(KeyCode::Char(c), KeyModifiers::NONE));
        assert_eq!(key('e'), Some(Action::Up));
        assert_eq!(key('n'), Some(Action::Down));
        // The old keys are free, the rest of the default stays.
        assert_eq!(key('k'), None);
        assert_eq!(key('j'), None);
        assert_eq!(key('s'), Some(Action::Scale));
        // Unbound.
        assert!(km.keys_for(Action::Restart).is_empty());
        // `e` was exec's: the user's binding took it.
        assert!(km.keys_for(Action::Exec).is_empty());
        // What cannot be unbound is refused.
        let e = Keymap::over_default("[global]\nquit = []\n", "bad.toml").unwrap_err();
        assert!(e.reason.contains("no key is bound to quit"), "{e}");
    }

    fn seq(keys: &str) -> Vec<Key> {
        Keys::parse(keys).unwrap().0
    }

    #[test]
    fn sequences_wait_for_their_next_key() {
        let km = Keymap::over_default("[table]\ntop = [\"g g\"]\n", "seq.toml").unwrap();
        assert_eq!(km.lookup(Context::Table, &seq("g")), Lookup::Prefix);
        assert_eq!(
            km.lookup(Context::Table, &seq("g g")),
            Lookup::Action(Action::Top)
        );
        assert_eq!(km.lookup(Context::Table, &seq("g x")), Lookup::None);
        // The default's `g` was taken by the sequence: no conflict remains.
        assert_eq!(km.keys_for(Action::Top), vec![Keys(seq("g g"))]);
        assert_eq!(km.hint(Action::Top), "g g");
    }

    #[test]
    fn each_context_falls_back_in_its_order() {
        let km = Keymap::default_keymap();
        let one = |c, k: &str| km.lookup(c, &seq(k));
        // Logs: its own keys shadow the table's (s is save, not scale).
        assert_eq!(one(Context::Logs, "s"), Lookup::Action(Action::LogSave));
        assert_eq!(one(Context::Table, "s"), Lookup::Action(Action::Scale));
        assert_eq!(one(Context::Logs, "j"), Lookup::Action(Action::Down));
        assert_eq!(one(Context::Logs, "q"), Lookup::Action(Action::Quit));
        // Rollouts: X retires a colour there, stops replicas in tables.
        assert_eq!(one(Context::Rollouts, "X"), Lookup::Action(Action::Retire));
        assert_eq!(one(Context::Table, "X"), Lookup::Action(Action::StopOp));
        // Under a plan: yes, no, scrolling; q does not quit.
        assert_eq!(one(Context::Dialog, "y"), Lookup::Action(Action::Confirm));
        assert_eq!(one(Context::Dialog, "esc"), Lookup::Action(Action::Cancel));
        assert_eq!(one(Context::Dialog, "j"), Lookup::Action(Action::Down));
        assert_eq!(one(Context::Dialog, "q"), Lookup::None);
    }

    #[test]
    fn a_pane_of_its_own_binds_over_the_table() {
        let km = Keymap::over_default("[events]\nack_alerts = [\"a\"]\n", "panes.toml").unwrap();
        let a = |c| km.lookup(c, &seq("a"));
        assert_eq!(a(Context::Events), Lookup::Action(Action::AckAlerts));
        assert_eq!(a(Context::Table), Lookup::Action(Action::Advise));
        assert_eq!(a(Context::Networks), Lookup::Action(Action::Advise));
        // The global A still acknowledges everywhere.
        assert_eq!(
            km.lookup(Context::Networks, &seq("A")),
            Lookup::Action(Action::AckAlerts)
        );
    }

    #[test]
    fn the_vim_keymap_ships_and_loads_by_name() {
        let km = Keymap::load(Path::new("vim")).unwrap();
        assert_eq!(km.origin, "vim (built-in)");
        assert_eq!(
            km.lookup(Context::Table, &seq("g g")),
            Lookup::Action(Action::Top)
        );
        assert_eq!(
            km.lookup(Context::Table, &seq("ctrl-d")),
            Lookup::Action(Action::PageDown)
        );
        assert_eq!(km.lookup(Context::Global, &seq("Z")), Lookup::Prefix);
        assert_eq!(
            km.lookup(Context::Global, &seq("Z Z")),
            Lookup::Action(Action::Quit)
        );
        // Everything it does not name keeps the default's keys.
        assert_eq!(
            km.lookup(Context::Table, &seq("s")),
            Lookup::Action(Action::Scale)
        );
        assert_eq!(
            km.lookup(Context::Dialog, &seq("q")),
            Lookup::Action(Action::Cancel)
        );
    }

    #[test]
    fn help_is_generated_from_the_bindings() {
        let km = Keymap::parse(
            "[global]\nquit = [\"x\"]\n[table]\nup = [\"i\"]\ndown = [\"e\"]\nback = [\"esc\"]\nenter = [\"enter\"]\n[dialog]\nconfirm = [\"y\"]\ncancel = [\"n\"]\n",
            "remap",
        )
        .unwrap();
        let help = km.help();
        assert!(help.contains(&(Context::Global, "x".into(), Action::Quit.describe())));
        assert!(help.contains(&(Context::Table, "i".into(), Action::Up.describe())));
    }
}
