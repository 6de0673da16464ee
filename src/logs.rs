//! The logs pane's model: lines from several replicas merged in time
//! order, bounded (oldest dropped), with a regex filter, a search that
//! jumps, pause, scrollback and save. Docker sends bytes: each line is
//! decoded lossily for display and kept whole for saving.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use regex::Regex;

/// Most lines a pane keeps by default.
pub const DEFAULT_CAP: usize = 10_000;
/// Lines read back when a stream opens.
pub const TAIL: usize = 200;

/// One line of a replica's output.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// Index into `Logs::sources`.
    pub source: usize,
    pub stderr: bool,
    /// The whole line, lossily decoded (saved whole, shown truncated).
    pub text: String,
    /// A marker the pane adds (stream ended, replica joined), not output.
    pub marker: bool,
}

/// A replica being followed.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub id: String,
    /// Short name shown before each line.
    pub short: String,
    pub open: bool,
}

/// Split a Docker log chunk into lines: `timestamps=true` puts an
/// RFC 3339 time and a space before each line. `partial` carries an
/// unfinished line between chunks.
pub fn split_chunk(partial: &mut Vec<u8>, chunk: &[u8]) -> Vec<(DateTime<Utc>, String)> {
    partial.extend_from_slice(chunk);
    let mut out = Vec::new();
    while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = partial.drain(..=nl).collect();
        let line = &line[..line.len() - 1];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push(parse_line(line));
    }
    // A line longer than this without a newline is shown in pieces.
    if partial.len() > 64 * 1024 {
        let line: Vec<u8> = std::mem::take(partial);
        out.push(parse_line(&line));
    }
    out
}

fn parse_line(line: &[u8]) -> (DateTime<Utc>, String) {
    let text = String::from_utf8_lossy(line);
    if let Some((ts, rest)) = text.split_once(' ')
        && let Ok(t) = DateTime::parse_from_rfc3339(ts)
    {
        return (t.with_timezone(&Utc), rest.to_string());
    }
    (Utc::now(), text.into_owned())
}

/// The short name of a replica: what tells it apart from its siblings.
pub fn short_name(name: &str, service: &str) -> String {
    // agile-agent-{team}-{role}-{id} → {role}-{id}
    let parts: Vec<&str> = name.split('-').collect();
    let s = if name.starts_with("agile-agent-") && parts.len() >= 5 {
        parts[parts.len() - 2..].join("-")
    } else if let Some((_, rest)) = name.split_once(&format!("-{service}-")) {
        // <project>-<service>-<n> → <service>-<n>
        format!("{service}-{rest}")
    } else {
        name.to_string()
    };
    s.chars().take(20).collect()
}

#[derive(Debug)]
pub struct Logs {
    /// What is followed: "service web", "team product", "replica x".
    pub title: String,
    pub target: String,
    pub sources: Vec<Source>,
    pub lines: VecDeque<LogLine>,
    pub cap: usize,
    /// Lines dropped from the front so far (to keep a paused view still).
    pub dropped: u64,
    pub filter: Option<Regex>,
    pub search: Option<Regex>,
    pub timestamps: bool,
    pub wrap: bool,
    /// Paused: the view stays put while lines keep arriving.
    pub paused: bool,
    /// Lines from the bottom of the (filtered) view; 0 follows the tail.
    pub scroll: usize,
    /// The line a search jumped to (index into `lines`).
    pub found: Option<usize>,
}

impl Logs {
    pub fn new(title: String, target: String, cap: usize) -> Logs {
        Logs {
            title,
            target,
            sources: Vec::new(),
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
            filter: None,
            search: None,
            timestamps: false,
            wrap: false,
            paused: false,
            scroll: 0,
            found: None,
        }
    }

    /// The source index of a replica, added if new.
    pub fn source(&mut self, id: &str, short: &str) -> usize {
        if let Some(i) = self.sources.iter().position(|s| s.id == id) {
            self.sources[i].open = true;
            return i;
        }
        self.sources.push(Source {
            id: id.to_string(),
            short: short.to_string(),
            open: true,
        });
        self.sources.len() - 1
    }

    /// Add lines in time order (each source's come in order; sources
    /// interleave, so a line goes after the last one not later than it).
    pub fn push(&mut self, line: LogLine) {
        let pos = self
            .lines
            .iter()
            .rposition(|l| l.at <= line.at)
            .map(|p| p + 1)
            .unwrap_or(0);
        let at_end = pos == self.lines.len();
        self.lines.insert(pos, line);
        if !at_end
            && let Some(f) = self.found.as_mut()
            && *f >= pos
        {
            *f += 1;
        }
        // A paused or scrolled-back view keeps showing the same lines.
        if (self.paused || self.scroll > 0) && self.visible(self.lines.len() - 1) {
            self.scroll += 1;
        }
        while self.lines.len() > self.cap {
            self.lines.pop_front();
            self.dropped += 1;
            self.found = self.found.and_then(|f| f.checked_sub(1));
        }
    }

    /// The stream of a source ended (the replica stopped): say so in line.
    pub fn ended(&mut self, source: usize, at: DateTime<Utc>, why: &str) {
        if let Some(s) = self.sources.get_mut(source) {
            s.open = false;
        }
        self.push(LogLine {
            at,
            source,
            stderr: false,
            text: format!("── {why} ──"),
            marker: true,
        });
    }

    fn visible(&self, i: usize) -> bool {
        let l = &self.lines[i];
        l.marker || self.filter.as_ref().is_none_or(|re| re.is_match(&l.text))
    }

    /// Indices of the lines the filter lets through.
    pub fn shown(&self) -> Vec<usize> {
        (0..self.lines.len()).filter(|i| self.visible(*i)).collect()
    }

    pub fn set_filter(&mut self, pattern: &str) -> Result<(), String> {
        self.filter = if pattern.is_empty() {
            None
        } else {
            Some(Regex::new(pattern).map_err(|e| format!("filter {pattern:?}: {e}"))?)
        };
        self.scroll = 0;
        Ok(())
    }

    /// Search: highlight matches and jump to the last one before the view.
    pub fn set_search(&mut self, pattern: &str) -> Result<(), String> {
        self.search = if pattern.is_empty() {
            None
        } else {
            Some(Regex::new(pattern).map_err(|e| format!("search {pattern:?}: {e}"))?)
        };
        self.found = None;
        self.jump(false);
        Ok(())
    }

    /// n (older) / N (newer): the next match, scrolled into view.
    pub fn jump(&mut self, newer: bool) {
        let Some(re) = &self.search else { return };
        let shown = self.shown();
        let current = self
            .found
            .and_then(|f| shown.iter().position(|i| *i == f))
            .unwrap_or(shown.len());
        let hit = if newer {
            shown
                .iter()
                .enumerate()
                .skip(current + 1)
                .find(|(_, i)| re.is_match(&self.lines[**i].text))
        } else {
            shown
                .iter()
                .enumerate()
                .take(current)
                .rev()
                .find(|(_, i)| re.is_match(&self.lines[**i].text))
        };
        if let Some((pos, i)) = hit {
            self.found = Some(*i);
            self.scroll = shown.len() - 1 - pos;
            self.paused = true;
        }
    }

    /// Save what the pane holds (after the filter), whole lines.
    /// The lines shown, as a file holds them (one per line: time, source,
    /// `!` for stderr, text), and how many.
    pub fn shown_text(&self) -> (String, usize) {
        let mut out = String::new();
        let shown = self.shown();
        for i in &shown {
            let l = &self.lines[*i];
            let name = self
                .sources
                .get(l.source)
                .map(|s| s.short.as_str())
                .unwrap_or("?");
            out += &format!(
                "{} {name}{} {}\n",
                l.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                if l.stderr { " !" } else { "" },
                l.text
            );
        }
        (out, shown.len())
    }

    pub fn save(&self, path: &std::path::Path) -> Result<usize, String> {
        let (text, n) = self.shown_text();
        write_file(path, &text)?;
        Ok(n)
    }
}

/// Write `text` to `path`, making its folder; the error names the file.
pub fn write_file(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn line(source: usize, s: i64, text: &str) -> LogLine {
        LogLine {
            at: t(s),
            source,
            stderr: false,
            text: text.into(),
            marker: false,
        }
    }

    #[test]
    fn chunks_become_lines_with_their_time() {
        let mut partial = Vec::new();
        let out = split_chunk(
            &mut partial,
            b"2026-11-27T14:02:11.123456789Z hello\n2026-11-27T14:02:12Z wor",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, "hello");
        assert_eq!(out[0].0.timestamp_subsec_millis(), 123);
        let out = split_chunk(&mut partial, b"ld\r\n");
        assert_eq!(out[0].1, "world");
        // Not UTF-8: shown, not broken.
        let out = split_chunk(&mut partial, b"2026-11-27T14:02:13Z bad \xff\xfe bytes\n");
        assert_eq!(out[0].1, "bad \u{fffd}\u{fffd} bytes");
        // No timestamp (a TTY replica's raw output): still a line.
        let out = split_chunk(&mut partial, b"plain\n");
        assert_eq!(out[0].1, "plain");
        // A very long line without a newline comes out in pieces.
        let out = split_chunk(&mut partial, &vec![b'x'; 70_000]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.len(), 70_000);
    }

    #[test]
    fn merged_in_time_order_and_bounded() {
        let mut l = Logs::new("t".into(), "service web".into(), 5);
        l.push(line(0, 1, "a1"));
        l.push(line(0, 3, "a3"));
        l.push(line(1, 2, "b2"));
        l.push(line(1, 4, "b4"));
        let texts: Vec<&str> = l.lines.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(texts, ["a1", "b2", "a3", "b4"]);
        for s in 5..10 {
            l.push(line(0, s, "more"));
        }
        assert_eq!(l.lines.len(), 5);
        assert_eq!(l.dropped, 4);
    }

    #[test]
    fn filter_search_pause_and_save() {
        let mut l = Logs::new("t".into(), "service web".into(), 100);
        for s in 0..10 {
            l.push(line(
                (s % 2) as usize,
                s,
                &format!("line {s} {}", if s % 3 == 0 { "ERROR" } else { "ok" }),
            ));
        }
        l.set_filter("ERROR").unwrap();
        assert_eq!(l.shown().len(), 4);
        assert!(l.set_filter("(").is_err());
        l.set_filter("").unwrap();
        l.set_search("line [0-9] ERROR").unwrap();
        assert_eq!(l.found, Some(9));
        l.jump(false);
        assert_eq!(l.found, Some(6));
        l.jump(true);
        assert_eq!(l.found, Some(9));
        assert!(l.paused);
        // Paused: new lines arrive, the view stays on the same lines.
        let before = l.scroll;
        l.push(line(0, 20, "late"));
        assert_eq!(l.scroll, before + 1);
        assert_eq!(l.lines.back().unwrap().text, "late");
        // Ended streams are marked.
        l.ended(1, t(21), "web-2 stopped");
        assert!(l.lines.back().unwrap().marker);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.log");
        assert_eq!(l.save(&p).unwrap(), 12);
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("line 3 ERROR")
        );
    }

    #[test]
    fn short_names_tell_siblings_apart() {
        assert_eq!(
            short_name("agile-agent-development-dev-006", "development-team"),
            "dev-006"
        );
        assert_eq!(short_name("shop-web-3", "web"), "web-3");
        assert_eq!(short_name("postgres", "postgres"), "postgres");
    }
}
