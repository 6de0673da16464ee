//! TOML themes: a named style for every element of the screen. The default
//! (themes/default.toml) is compiled in; `--theme FILE` replaces it. With
//! `NO_COLOR` set every colour is dropped and state stays readable by its
//! symbols (●, ◐, ✖, !) and by bold / reversed text.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use toml::Spanned;

use crate::file_error::{FileError, FileKind, line_of};

pub const DEFAULT_THEME: &str = include_str!("../themes/default.toml");

/// The themes that ship, by name (`--theme NAME`, `:theme NAME`, `inherits`).
pub const BUILTIN: [(&str, &str); 4] = [
    ("default", DEFAULT_THEME),
    ("light", include_str!("../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../themes/high-contrast.toml"),
    ),
    ("basic16", include_str!("../themes/basic16.toml")),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: String,
    /// A built-in theme whose styles fill in what this one leaves out.
    inherits: Option<Spanned<String>>,
    styles: BTreeMap<String, Spanned<RawStyle>>,
}

/// Every styled element. A theme must define them all.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub header: Style,
    pub tab: Style,
    pub tab_active: Style,
    pub table_header: Style,
    pub text: Style,
    pub muted: Style,
    pub selection: Style,
    pub healthy: Style,
    pub warning: Style,
    pub critical: Style,
    pub sparkline: Style,
    pub border: Style,
    pub title: Style,
    pub key: Style,
    pub dialog: Style,
}

const ELEMENTS: [&str; 15] = [
    "header",
    "tab",
    "tab_active",
    "table_header",
    "text",
    "muted",
    "selection",
    "healthy",
    "warning",
    "critical",
    "sparkline",
    "border",
    "title",
    "key",
    "dialog",
];

impl Theme {
    pub fn default_theme() -> Theme {
        Theme::parse(DEFAULT_THEME, "(built-in default)")
            .expect("the built-in theme is valid (tested)")
    }

    pub fn load(path: &Path) -> Result<Theme, FileError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            kind: FileKind::Theme,
            origin: origin.clone(),
            line: 0,
            reason: format!("cannot read it: {e}"),
        })?;
        Theme::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Theme, FileError> {
        let err = |line: usize, reason: String| FileError {
            kind: FileKind::Theme,
            origin: origin.to_string(),
            line,
            reason,
        };
        let raw: RawTheme = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            err(line, e.message().to_string())
        })?;
        let mut styles = BTreeMap::new();
        if let Some(base) = &raw.inherits {
            let text_of = BUILTIN
                .iter()
                .find(|(n, _)| n == base.get_ref())
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    err(
                        line_of(text, base.span().start),
                        format!(
                            "inherits {:?}: no such theme; the themes are {}",
                            base.get_ref(),
                            Theme::names().join(", ")
                        ),
                    )
                })?;
            let parent = Theme::parse(text_of, base.get_ref())?;
            for (n, s) in parent.styles() {
                styles.insert(n.to_string(), s);
            }
        }
        for (name, spanned) in &raw.styles {
            let line = line_of(text, spanned.span().start);
            if !ELEMENTS.contains(&name.as_str()) {
                return Err(err(
                    line,
                    format!(
                        "unknown element {name:?}; elements are {}",
                        ELEMENTS.join(", ")
                    ),
                ));
            }
            let r = spanned.get_ref();
            let colour = |c: &Option<Spanned<String>>| -> Result<Option<Color>, FileError> {
                match c {
                    None => Ok(None),
                    Some(s) => Color::from_str(s.get_ref()).map(Some).map_err(|_| {
                        err(
                            line_of(text, s.span().start),
                            format!("unknown colour {:?} (use a name like red, an index 0-255 or #rrggbb)", s.get_ref()),
                        )
                    }),
                }
            };
            let mut style = Style::default();
            if let Some(c) = colour(&r.fg)? {
                style = style.fg(c);
            }
            if let Some(c) = colour(&r.bg)? {
                style = style.bg(c);
            }
            for (on, m) in [
                (r.bold, Modifier::BOLD),
                (r.dim, Modifier::DIM),
                (r.italic, Modifier::ITALIC),
                (r.underlined, Modifier::UNDERLINED),
                (r.reversed, Modifier::REVERSED),
            ] {
                if on {
                    style = style.add_modifier(m);
                }
            }
            styles.insert(name.clone(), style);
        }
        if let Some(missing) = ELEMENTS.iter().find(|e| !styles.contains_key(**e)) {
            return Err(err(1, format!("no style for {missing:?}")));
        }
        let get = |n: &str| styles[n];
        Ok(Theme {
            name: raw.name,
            header: get("header"),
            tab: get("tab"),
            tab_active: get("tab_active"),
            table_header: get("table_header"),
            text: get("text"),
            muted: get("muted"),
            selection: get("selection"),
            healthy: get("healthy"),
            warning: get("warning"),
            critical: get("critical"),
            sparkline: get("sparkline"),
            border: get("border"),
            title: get("title"),
            key: get("key"),
            dialog: get("dialog"),
        })
    }

    /// Every element's style, by element name.
    fn styles(&self) -> Vec<(&'static str, Style)> {
        vec![
            ("header", self.header),
            ("tab", self.tab),
            ("tab_active", self.tab_active),
            ("table_header", self.table_header),
            ("text", self.text),
            ("muted", self.muted),
            ("selection", self.selection),
            ("healthy", self.healthy),
            ("warning", self.warning),
            ("critical", self.critical),
            ("sparkline", self.sparkline),
            ("border", self.border),
            ("title", self.title),
            ("key", self.key),
            ("dialog", self.dialog),
        ]
    }

    pub fn names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in theme by name.
    pub fn named(name: &str) -> Option<Theme> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| Theme::parse(t, n).expect("the built-in themes are valid (tested)"))
    }

    /// `--theme NAME|FILE`: a built-in name, else a file.
    pub fn resolve(spec: &Path) -> Result<Theme, FileError> {
        match spec.to_str().and_then(Theme::named) {
            Some(t) => Ok(t),
            None => Theme::load(spec),
        }
    }

    /// The same theme without any colour (NO_COLOR). Selection and the
    /// active tab fall back to reversed video so they stay visible.
    pub fn without_colour(&self) -> Theme {
        let strip = |s: Style| Style {
            fg: None,
            bg: None,
            underline_color: None,
            ..s
        };
        let mut t = self.clone();
        for s in [
            &mut t.header,
            &mut t.tab,
            &mut t.tab_active,
            &mut t.table_header,
            &mut t.text,
            &mut t.muted,
            &mut t.selection,
            &mut t.healthy,
            &mut t.warning,
            &mut t.critical,
            &mut t.sparkline,
            &mut t.border,
            &mut t.title,
            &mut t.key,
            &mut t.dialog,
        ] {
            *s = strip(*s);
        }
        t.selection = t.selection.add_modifier(Modifier::REVERSED);
        t.tab_active = t.tab_active.add_modifier(Modifier::REVERSED);
        t.critical = t.critical.add_modifier(Modifier::BOLD);
        t
    }
}

/// NO_COLOR is honoured when set to anything but the empty string (no-color.org).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_basic16_uses_basic_colours() {
        for (name, _) in BUILTIN {
            let t = Theme::named(name).unwrap();
            assert_eq!(t.name, name);
        }
        let basic = Theme::named("basic16").unwrap();
        for (_, s) in basic.styles() {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(
                    matches!(
                        c,
                        Color::Black
                            | Color::Red
                            | Color::Green
                            | Color::Yellow
                            | Color::Blue
                            | Color::Magenta
                            | Color::Cyan
                            | Color::White
                    ),
                    "{c:?} is not one of the eight basic colours"
                );
            }
        }
    }

    #[test]
    fn inherits_fills_in_and_names_a_bad_parent() {
        let t = Theme::parse(
            "name = \"mine\"\ninherits = \"light\"\n[styles]\ncritical = { fg = \"magenta\" }\n",
            "mine.toml",
        )
        .unwrap();
        assert_eq!(t.critical.fg, Some(Color::Magenta));
        assert_eq!(t.text, Theme::named("light").unwrap().text);
        let e =
            Theme::parse("name = \"x\"\ninherits = \"neon\"\n[styles]\n", "x.toml").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.reason
                .contains("no such theme; the themes are default, light"),
            "{e}"
        );
        assert!(Theme::resolve(Path::new("high-contrast")).is_ok());
        assert!(Theme::resolve(Path::new("/nonexistent/theme.toml")).is_err());
    }

    #[test]
    fn default_theme_parses() {
        let t = Theme::default_theme();
        assert_eq!(t.name, "default");
        assert!(t.critical.fg.is_some());
    }

    #[test]
    fn no_color_strips_every_colour() {
        let t = Theme::default_theme().without_colour();
        for s in [t.header, t.selection, t.healthy, t.critical, t.sparkline] {
            assert_eq!((s.fg, s.bg), (None, None));
        }
        assert!(t.selection.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn broken_themes_name_line_and_reason() {
        let good = DEFAULT_THEME;
        let e = Theme::parse(
            &good.replace("fg = \"green\"", "fg = \"greenish\""),
            "t.toml",
        )
        .unwrap_err();
        assert!(e.reason.contains("unknown colour \"greenish\""), "{e}");
        let line = good
            .lines()
            .position(|l| l.contains("fg = \"green\""))
            .unwrap()
            + 1;
        assert_eq!(e.line, line);
        let e = Theme::parse(
            "name = \"x\"\n[styles]\nheader = { fg = \"red\" }\n",
            "t.toml",
        )
        .unwrap_err();
        assert!(e.reason.contains("no style for \"tab\""), "{e}");
        let e = Theme::parse(
            "name = \"x\"\n[styles]\nheadr = { fg = \"red\" }\n",
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("unknown element"), "{e}");
        let e = Theme::parse(
            "name = \"x\"\n[styles]\nheader = { fg = \"red\", blink = true }\n",
            "t.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
    }
}
