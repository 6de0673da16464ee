//! The audit journal: one JSON line per operation step and one per result,
//! appended and fsync'd before the step is reported done, so after a crash
//! the file is intact up to the last step that took effect. Default
//! `$XDG_STATE_HOME/agile-deck/journal.jsonl`; `--journal PATH`.
//!
//! Nothing secret goes in: steps carry names, limits and replica counts,
//! never environment values (a cloned replica's env is not written out).

use color_eyre::eyre::{Result, WrapErr};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub time: String,
    /// Operation number within this run, and the run's start (op ids are
    /// unique per `run` + `op`).
    pub run: String,
    pub op: u64,
    /// "step" or "result".
    pub kind: String,
    pub user: String,
    pub host: String,
    pub operation: String,
    pub target: String,
    pub params: Value,
    /// Step number (1-based) and what it does; absent on results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub what: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub before: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub after: Value,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cli: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// How a step or a whole operation or rollout ended, in the journal's words.
#[derive(Clone, Debug, PartialEq, Eq, strum::EnumString, strum::AsRefStr)]
#[strum(serialize_all = "lowercase")]
pub enum Outcome {
    Done,
    Skipped,
    Failed,
    Cancelled,
    #[strum(serialize = "rolled back")]
    RolledBack,
    Aborted,
    /// An earlier agile-deck stopped mid-way.
    Interrupted,
    /// Still under way (a result written while it runs).
    Running,
    /// A word this version does not know (an older or newer journal).
    #[strum(default)]
    Other(String),
}

crate::words!(Outcome);

pub struct Journal {
    pub path: PathBuf,
    file: Mutex<File>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "journal {}", self.path.display())
    }
}

/// Where the journal goes by default.
pub fn default_path() -> PathBuf {
    crate::dirs::state().join("journal.jsonl")
}

impl Journal {
    pub fn open(path: &Path) -> Result<Journal> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).wrap_err_with(|| {
                format!("journal {}: cannot create its folder", path.display())
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .wrap_err_with(|| format!("journal {}: cannot open it for writing", path.display()))?;
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Append a line and fsync it: when this returns Ok the entry is on disk.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .wrap_err_with(|| format!("journal {}: cannot write", self.path.display()))
    }

    /// The last `n` entries (lines that do not parse are passed over).
    pub fn tail(path: &Path, n: usize) -> Vec<Entry> {
        let Ok(f) = File::open(path) else {
            return Vec::new();
        };
        let mut out: std::collections::VecDeque<Entry> = std::collections::VecDeque::new();
        for line in BufReader::new(f).lines().map_while(Result::ok) {
            if let Ok(e) = serde_json::from_str::<Entry>(&line) {
                if out.len() == n {
                    out.pop_front();
                }
                out.push_back(e);
            }
        }
        out.into()
    }
}

/// Lines appended to a journal since we last looked: the recorder keeps
/// the results of every agile-deck writing this journal (a dashboard's
/// operations while `record` runs, or its own), not only its own.
#[derive(Debug)]
pub struct Follower {
    path: std::path::PathBuf,
    offset: u64,
}

impl Follower {
    /// From the journal's end now: what was there before is not news.
    pub fn at_end(path: &Path) -> Follower {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Follower {
            path: path.to_path_buf(),
            offset,
        }
    }

    /// Whole lines appended since the last call (a line still being
    /// written waits for the next); a journal that shrank (rotated) is
    /// read from its start.
    pub fn appended(&mut self) -> Vec<Entry> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
        }
        let mut bytes = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut bytes).is_err() {
            return Vec::new();
        }
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.offset += whole as u64;
        String::from_utf8_lossy(&bytes[..whole])
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Who is operating: the OS user.
pub fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    // No variable (a service): the uid from /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| format!("uid {u}")))
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(op: u64, kind: &str) -> Entry {
        Entry {
            time: "2026-11-27T14:02:11Z".into(),
            run: "r".into(),
            op,
            kind: kind.into(),
            user: "ops".into(),
            host: "local".into(),
            operation: "scale".into(),
            target: "service web".into(),
            params: serde_json::json!({"replicas": 3}),
            step: Some(1),
            what: "create web-3".into(),
            before: Value::Null,
            after: serde_json::json!({"replicas": 3}),
            cli: "docker run …".into(),
            outcome: Outcome::Done,
            detail: String::new(),
            error: String::new(),
        }
    }

    #[test]
    fn a_follower_reads_whole_appended_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let line = |e: &Entry| format!("{}\n", serde_json::to_string(e).unwrap());
        std::fs::write(&path, line(&entry(1, "result"))).unwrap();
        // What was there at the start is not news.
        let mut f = Follower::at_end(&path);
        assert!(f.appended().is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        use std::io::Write;
        let two = line(&entry(2, "step"));
        file.write_all(two.as_bytes()).unwrap();
        // Half a line waits for the rest.
        let three = line(&entry(3, "result"));
        file.write_all(&three.as_bytes()[..10]).unwrap();
        let got = f.appended();
        assert_eq!(got.iter().map(|e| e.op).collect::<Vec<_>>(), vec![2]);
        file.write_all(&three.as_bytes()[10..]).unwrap();
        assert_eq!(f.appended()[0].op, 3);
        assert!(f.appended().is_empty());
        // Rotated (shorter than where we were): read from its start.
        std::fs::write(&path, line(&entry(4, "result"))).unwrap();
        assert_eq!(f.appended()[0].op, 4);
    }

    #[test]
    fn outcomes_are_their_words_and_keep_unknown_ones() {
        for word in ["done", "rolled back", "interrupted", "paused: journal full"] {
            let o = Outcome::from(word);
            assert_eq!(o.as_str(), word);
            assert_eq!(o.to_string(), word);
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{word}\""));
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
        assert_eq!(Outcome::from("rolled back"), Outcome::RolledBack);
        assert_eq!(Outcome::from("later"), Outcome::Other("later".into()));
        assert_eq!(format!("{:<8}|", Outcome::Done), "done    |");
    }

    #[test]
    fn lines_append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/journal.jsonl");
        let j = Journal::open(&path).unwrap();
        for op in 1..=5 {
            j.append(&entry(op, "step")).unwrap();
        }
        j.append(&entry(5, "result")).unwrap();
        // A torn last line (a crash mid-write) does not hide the rest.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"time\":\"2026")
            .unwrap();
        let tail = Journal::tail(&path, 3);
        assert_eq!(tail.len(), 3);
        assert_eq!(tail[2].kind, "result");
        assert_eq!(tail[0].op, 4);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().next().unwrap().starts_with("{\"time\":"));
        assert!(!text.contains("\"error\""), "empty fields are left out");
    }

    #[test]
    fn an_unwritable_place_says_so() {
        // The message, then its cause (the OS's words), as the operator reads it.
        let e = format!(
            "{:#}",
            Journal::open(Path::new("/proc/agile-deck/journal.jsonl")).unwrap_err()
        );
        assert!(e.contains("cannot create its folder"), "{e}");
        assert!(
            e.contains("cannot create its folder: ") && e.contains("os error"),
            "{e}"
        );
    }
}
