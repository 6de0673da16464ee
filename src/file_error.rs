//! A file agile-deck cannot use — a config, keymap, theme or topology —
//! said the same way for each: which kind, which file, which line, why.

use std::fmt;

/// Which kind of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Keymap,
    Theme,
    Topology,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Config => "config",
            FileKind::Keymap => "keymap",
            FileKind::Theme => "theme",
            FileKind::Topology => "topology",
        })
    }
}

/// `keymap my.toml, line 3: unknown action "sclae"`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {origin}{}: {reason}", at_line(.line))]
pub struct FileError {
    pub kind: FileKind,
    /// The path, or "(built-in default)".
    pub origin: String,
    /// 1-based; 0 when the file as a whole is the trouble (unreadable).
    pub line: usize,
    pub reason: String,
}

fn at_line(line: &usize) -> String {
    match line {
        0 => String::new(),
        n => format!(", line {n}"),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_alike() {
        let e = |kind, line| FileError {
            kind,
            origin: "my.toml".into(),
            line,
            reason: "bad".into(),
        };
        assert_eq!(
            e(FileKind::Keymap, 3).to_string(),
            "keymap my.toml, line 3: bad"
        );
        assert_eq!(e(FileKind::Theme, 0).to_string(), "theme my.toml: bad");
        assert_eq!(line_of("a\nb\nc", 2), 2);
    }
}
