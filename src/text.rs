//! Text measured as the terminal shows it: a CJK character or most emoji
//! take two cells, a combining mark none. Every width, cut and pad on
//! screen counts cells (`unicode-width`), never `chars()`, or a container
//! named in Japanese would push the columns after it out of line.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Cells `s` takes on screen.
pub fn width(s: &str) -> usize {
    s.width()
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// The longest start of `s` that fits in `cells`.
pub fn head(s: &str, cells: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += char_width(c);
        if used > cells {
            return &s[..i];
        }
    }
    s
}

/// The longest end of `s` that fits in `cells`.
pub fn tail(s: &str, cells: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices().rev() {
        used += char_width(c);
        if used > cells {
            return &s[i + c.len_utf8()..];
        }
    }
    s
}

/// Cut `s` to `cells`, marking the cut with `…`.
pub fn truncate(s: &str, cells: usize) -> String {
    if width(s) <= cells {
        s.to_string()
    } else if cells == 0 {
        String::new()
    } else {
        format!("{}…", head(s, cells - 1))
    }
}

/// Cut `s` to `cells` in the middle: `agile-agent-dev…-dev-006` keeps what
/// tells replicas apart.
pub fn truncate_middle(s: &str, cells: usize) -> String {
    if width(s) <= cells || cells < 5 {
        return truncate(s, cells);
    }
    let end = (cells - 1) / 2;
    format!("{}…{}", head(s, cells - 1 - end), tail(s, end))
}

/// Cut a container's name to `cells` keeping what tells it from its
/// siblings: the end of most names (`agile-agent-…ent-dev-006`), but a
/// Swarm task's service and slot (`web.3.` before its 25-character task
/// id, `agile_coordinator.2.ixjz03…`).
pub fn truncate_name(s: &str, cells: usize) -> String {
    match s.rsplit_once('.') {
        Some((head, id))
            if id.len() == 25
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
                && head.contains('.') =>
        {
            if width(head) < cells {
                truncate(s, cells)
            } else {
                truncate_middle(head, cells)
            }
        }
        _ => truncate_middle(s, cells),
    }
}

/// Cut `s` to `cells` keeping its end: `…/agile-sim:0.2.0`.
pub fn keep_end(s: &str, cells: usize) -> String {
    if width(s) <= cells || cells == 0 {
        s.to_string()
    } else {
        format!("…{}", tail(s, cells - 1))
    }
}

/// `s` padded with spaces to `cells` (left-aligned, or right-aligned).
pub fn pad(s: &str, cells: usize, right: bool) -> String {
    let fill = " ".repeat(cells.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_what_tells_siblings_apart() {
        assert_eq!(
            truncate_name("agile-agent-development-dev-006", 24),
            "agile-agent-…ent-dev-006"
        );
        let task = "agile_development-team.1.gpee2xh2ded533obwq7d8k1zp";
        assert_eq!(
            truncate_name(task, 36),
            "agile_development-team.1.gpee2xh2de…"
        );
        // Not even the service and slot fit: those, cut in the middle.
        assert_eq!(truncate_name(task, 16), "agile_de…-team.1");
        assert_eq!(truncate_name("short", 24), "short");
    }

    #[test]
    fn wide_characters_count_two_cells() {
        assert_eq!(width("agent"), 5);
        assert_eq!(width("データ"), 6);
        assert_eq!(width("🚀x"), 3);
        assert_eq!(truncate("データベース", 7), "データ…");
        assert_eq!(
            width(&truncate("データベース", 6)),
            5,
            "no half of a wide char"
        );
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 0), "");
        assert_eq!(truncate_middle("agent-データ-006", 10), "agent…-006");
        assert_eq!(width(&truncate_middle("データデータデータ", 9)), 9);
        assert_eq!(keep_end("registry/agile-sim:0.2.0", 10), "…sim:0.2.0");
        assert_eq!(pad("デ", 4, false), "デ  ");
        assert_eq!(pad("デ", 4, true), "  デ");
    }
}
