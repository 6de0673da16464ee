//! The history store: one SQLite file in WAL mode (readers never wait for
//! the writer, and a killed writer leaves every committed frame intact),
//! its schema, the one-writer lock, writing with the minute roll-up, and
//! retention. The schema is the README's "The history store".

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use color_eyre::eyre::{Result, WrapErr, eyre};
use rusqlite::{Connection, OptionalExtension, params};

use super::frame::{self, Entry, Frame, Group, Identity};
use crate::stats::Sample;

/// The schema's version, in `meta`.
pub const SCHEMA_VERSION: i64 = 1;

/// The two resolutions frames and series are kept at, in seconds.
pub const FINE: i64 = 5;
pub const COARSE: i64 = 60;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS replicas (
  id INTEGER PRIMARY KEY,
  host TEXT NOT NULL, container TEXT NOT NULL,
  name TEXT NOT NULL, image TEXT NOT NULL,
  service TEXT NOT NULL, service_kind TEXT NOT NULL,
  layer TEXT, team TEXT,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  UNIQUE (host, container));
CREATE TABLE IF NOT EXISTS frames (
  res INTEGER NOT NULL, ts INTEGER NOT NULL, replicas BLOB NOT NULL,
  PRIMARY KEY (res, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
  kind TEXT NOT NULL, name TEXT NOT NULL, res INTEGER NOT NULL, ts INTEGER NOT NULL,
  running INTEGER NOT NULL, wanted INTEGER NOT NULL,
  healthy INTEGER NOT NULL, unhealthy INTEGER NOT NULL, sampled INTEGER NOT NULL,
  cpu REAL NOT NULL, mem INTEGER NOT NULL, mem_limit INTEGER NOT NULL,
  net_rx REAL NOT NULL, net_tx REAL NOT NULL,
  blk_read REAL NOT NULL, blk_write REAL NOT NULL, pids INTEGER NOT NULL,
  PRIMARY KEY (kind, name, res, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  ts INTEGER NOT NULL, source TEXT NOT NULL, severity TEXT NOT NULL,
  host TEXT NOT NULL, layer TEXT NOT NULL, team TEXT NOT NULL,
  service TEXT NOT NULL, container TEXT NOT NULL, container_id TEXT,
  event TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS metrics (
  res INTEGER NOT NULL, ts INTEGER NOT NULL,
  target TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY (target, metric, res, ts)) WITHOUT ROWID;
";

/// How long each resolution is kept, and the most the file may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub fine: Duration,
    pub coarse: Duration,
    /// Past this size the oldest coarse frames go first.
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            fine: Duration::hours(6),
            coarse: Duration::days(7),
            max_bytes: 1 << 30,
        }
    }
}

/// Where the store is by default: `$XDG_STATE_HOME/agile-deck/history.db`.
pub fn default_path() -> PathBuf {
    crate::dirs::state().join("history.db")
}

/// An event as recorded: a timeline line, an alert, an operation's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// `docker`, `alert` or `operation`.
    pub source: &'static str,
    pub severity: String,
    pub host: String,
    pub layer: String,
    pub team: String,
    pub service: String,
    pub container: String,
    pub container_id: Option<String>,
    pub event: String,
    pub detail: String,
}

impl Event {
    /// What it is about: the most specific of its columns that is set
    /// (an alert's target is put in the one that names it).
    pub fn subject(&self) -> &str {
        [&self.container, &self.service, &self.team, &self.layer]
            .into_iter()
            .find(|s| !s.is_empty())
            .map_or("", String::as_str)
    }
}

/// Holding the writer's lock: a second writer is told our pid. The lock
/// is `flock` on `<store>.lock`: the kernel drops it when the process
/// dies, however it dies, so a killed writer never leaves it stale.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    #[error("{path} is being recorded by agile-deck (pid {pid}); one writer per store")]
    Held { path: String, pid: u32 },
    #[error("cannot lock {path}: {error}")]
    Io { path: String, error: String },
}

impl Lock {
    pub fn take(store: &Path) -> std::result::Result<Lock, LockError> {
        Lock::take_at(store, true)
    }

    /// `mark`: write our pid (a mere look leaves the file as it is).
    fn take_at(store: &Path, mark: bool) -> std::result::Result<Lock, LockError> {
        let path = lock_path(store);
        let io = |e: std::io::Error| LockError::Io {
            path: path.display().to_string(),
            error: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(LockError::Held {
                path: store.display().to_string(),
                pid: pid.trim().parse().unwrap_or(0),
            });
        }
        if mark {
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            file.flush().map_err(io)?;
        }
        Ok(Lock { _file: file })
    }
}

/// The pid of the process recording into `store`, if one is.
pub fn holder(store: &Path) -> Option<u32> {
    match Lock::take_at(store, false) {
        Err(LockError::Held { pid, .. }) => Some(pid),
        _ => None,
    }
}

fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Open (creating it and its folder if need be) with the schema in place.
pub fn open(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .wrap_err_with(|| format!("history {}: cannot create its folder", path.display()))?;
    }
    let db = Connection::open(path)
        .wrap_err_with(|| format!("history {}: cannot open", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    // Only takes effect on a new file (before the first table): freed
    // pages go back to the file system after a prune.
    db.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    // WAL with NORMAL: a crash may lose the last commit, never corrupt.
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.execute_batch(SCHEMA)
        .wrap_err_with(|| format!("history {}: not a history store", path.display()))?;
    let version: Option<String> = db
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match version.as_deref() {
        None => {
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(v) if v == SCHEMA_VERSION.to_string() => {}
        Some(v) => {
            return Err(eyre!(
                "history {}: schema {v}, this agile-deck reads {SCHEMA_VERSION}",
                path.display()
            ));
        }
    }
    Ok(db)
}

/// Sums over a minute, for the coarse frame.
#[derive(Default)]
struct Acc {
    n: u32,
    sum: Sample,
    last: Option<Entry>,
}

impl Acc {
    fn add(&mut self, e: &Entry) {
        if let Some(f) = &e.figures {
            self.n += 1;
            let s = &mut self.sum;
            s.cpu_pct += f.cpu_pct;
            s.net_rx_rate += f.net_rx_rate;
            s.net_tx_rate += f.net_tx_rate;
            s.blk_read_rate += f.blk_read_rate;
            s.blk_write_rate += f.blk_write_rate;
            s.mem_used = s.mem_used.max(f.mem_used);
            s.mem_limit = f.mem_limit;
            s.pids = s.pids.max(f.pids);
        }
        // The worst health in the minute is what the minute shows.
        let worst = |a: &Entry| matches!(a.health, crate::model::Health::Unhealthy);
        let keep_health = self.last.as_ref().filter(|l| worst(l)).map(|l| l.health);
        let mut e = e.clone();
        if let Some(h) = keep_health {
            e.health = h;
        }
        self.last = Some(e);
    }

    /// The minute's entry: CPU and rates averaged, memory and pids at
    /// their peak, state as last seen.
    fn entry(&self) -> Option<Entry> {
        let mut e = self.last.clone()?;
        if self.n > 0 {
            let n = f64::from(self.n);
            let s = &self.sum;
            e.figures = Some(Sample {
                cpu_pct: s.cpu_pct / n,
                net_rx_rate: s.net_rx_rate / n,
                net_tx_rate: s.net_tx_rate / n,
                blk_read_rate: s.blk_read_rate / n,
                blk_write_rate: s.blk_write_rate / n,
                ..*s
            });
        }
        Some(e)
    }
}

/// What the writer has done, for the engine line and the closing log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Written {
    pub frames: u64,
    pub events: u64,
    pub bytes: u64,
    /// Microseconds spent writing, in all.
    pub busy_us: u64,
}

/// The store's one writer.
pub struct Writer {
    db: Connection,
    pub path: PathBuf,
    retention: Retention,
    /// Each recorded replica's number: host → container → id.
    ids: Ids,
    minute: Option<i64>,
    accs: HashMap<i64, Acc>,
    group_accs: HashMap<(&'static str, String), (u32, Group)>,
    pub written: Written,
    _lock: Lock,
}

impl Writer {
    /// Take the lock, then open. Refused if another process writes it.
    pub fn open(path: &Path, retention: Retention) -> Result<Writer> {
        let lock = Lock::take(path).map_err(|e| eyre!(e))?;
        let db = open(path)?;
        let ids = known_ids(&db)?;
        Ok(Writer {
            db,
            path: path.to_path_buf(),
            retention,
            ids,
            minute: None,
            accs: HashMap::new(),
            group_accs: HashMap::new(),
            written: Written::default(),
            _lock: lock,
        })
    }

    fn replica_id(&mut self, who: &Identity, ts: i64) -> Result<i64> {
        // Looked up by reference: this runs per replica per frame.
        if let Some(id) = self.ids.get(&who.host).and_then(|c| c.get(&who.container)) {
            return Ok(*id);
        }
        self.db.execute(
            "INSERT INTO replicas (host, container, name, image, service, service_kind, layer, team, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (host, container) DO UPDATE SET last_seen = ?9",
            params![who.host, who.container, who.name, who.image, who.service, who.service_kind, who.layer, who.team, ts],
        )?;
        let id = self.db.query_row(
            "SELECT id FROM replicas WHERE host = ?1 AND container = ?2",
            params![who.host, who.container],
            |r| r.get(0),
        )?;
        self.ids
            .entry(who.host.clone())
            .or_default()
            .insert(who.container.clone(), id);
        Ok(id)
    }

    /// Write one fine frame (one transaction), rolling the minute up
    /// when it turns, and applying retention then.
    pub fn frame(&mut self, f: &Frame) -> Result<()> {
        let started = std::time::Instant::now();
        let ts = f.at.timestamp();
        let minute = ts.div_euclid(COARSE) * COARSE;
        self.in_tx(|w| w.write_frame(f, ts, minute))?;
        self.written.frames += 1;
        self.written.busy_us += started.elapsed().as_micros() as u64;
        Ok(())
    }

    /// Run `f` in one transaction: all of it is committed, or none.
    fn in_tx<T>(&mut self, f: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        self.db.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(v) => {
                self.db.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn write_frame(&mut self, f: &Frame, ts: i64, minute: i64) -> Result<()> {
        if self.minute.is_some_and(|m| m != minute) {
            self.roll_up()?;
        }
        self.minute = Some(minute);
        let mut blob = Vec::with_capacity(f.replicas.len() * 16);
        for (who, e) in &f.replicas {
            let id = self.replica_id(who, ts)?;
            frame::put_entry(&mut blob, id, e);
            self.accs.entry(id).or_default().add(e);
        }
        self.db.execute(
            "INSERT OR REPLACE INTO frames (res, ts, replicas) VALUES (?1, ?2, ?3)",
            params![FINE, ts, blob],
        )?;
        self.written.bytes += blob.len() as u64;
        put_groups(&self.db, FINE, ts, f.groups.iter())?;
        for g in &f.groups {
            let acc = self
                .group_accs
                .entry((g.kind, g.name.clone()))
                .or_insert((0, Group { ..g.clone() }));
            if acc.0 > 0 {
                let a = &mut acc.1;
                a.figures.cpu_pct += g.figures.cpu_pct;
                a.figures.net_rx_rate += g.figures.net_rx_rate;
                a.figures.net_tx_rate += g.figures.net_tx_rate;
                a.figures.blk_read_rate += g.figures.blk_read_rate;
                a.figures.blk_write_rate += g.figures.blk_write_rate;
                a.figures.mem_used = a.figures.mem_used.max(g.figures.mem_used);
                a.figures.mem_limit = g.figures.mem_limit;
                a.figures.pids = a.figures.pids.max(g.figures.pids);
                a.running = g.running;
                a.wanted = g.wanted;
                a.healthy = g.healthy;
                a.unhealthy = a.unhealthy.max(g.unhealthy);
                a.figures.sampled = g.figures.sampled;
            }
            acc.0 += 1;
        }
        Ok(())
    }

    /// The minute's coarse frame and series, last-seen times, retention.
    fn roll_up(&mut self) -> Result<()> {
        let Some(minute) = self.minute else {
            return Ok(());
        };
        let mut blob = Vec::new();
        let mut ids: Vec<i64> = self.accs.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids {
            if let Some(e) = self.accs[id].entry() {
                frame::put_entry(&mut blob, *id, &e);
            }
        }
        self.db.execute(
            "INSERT OR REPLACE INTO frames (res, ts, replicas) VALUES (?1, ?2, ?3)",
            params![COARSE, minute, blob],
        )?;
        self.written.bytes += blob.len() as u64;
        let groups: Vec<Group> = self
            .group_accs
            .drain()
            .map(|(_, (n, mut g))| {
                let n = f64::from(n.max(1));
                let f = &mut g.figures;
                f.cpu_pct /= n;
                f.net_rx_rate /= n;
                f.net_tx_rate /= n;
                f.blk_read_rate /= n;
                f.blk_write_rate /= n;
                g
            })
            .collect();
        put_groups(&self.db, COARSE, minute, groups.iter())?;
        // Prometheus answers are gauges and rates: the minute keeps their
        // mean, so they are there for as long as the minute frames.
        self.db.execute(
            "INSERT OR REPLACE INTO metrics (res, ts, target, metric, value)
             SELECT ?1, ?2, target, metric, avg(value) FROM metrics
             WHERE res = ?3 AND ts >= ?2 AND ts < ?2 + ?1 GROUP BY target, metric",
            params![COARSE, minute, FINE],
        )?;
        {
            let mut seen = self
                .db
                .prepare_cached("UPDATE replicas SET last_seen = ?1 WHERE id = ?2")?;
            for id in &ids {
                seen.execute(params![minute + COARSE - 1, id])?;
            }
        }
        self.accs.clear();
        self.prune(Utc.timestamp_opt(minute, 0).single().unwrap_or_default())?;
        Ok(())
    }

    /// Drop what retention no longer keeps, then keep the file under its
    /// cap by dropping the oldest coarse minutes.
    pub fn prune(&mut self, now: DateTime<Utc>) -> Result<()> {
        let fine = (now - self.retention.fine).timestamp();
        let coarse = (now - self.retention.coarse).timestamp();
        let db = &self.db;
        db.execute(
            "DELETE FROM frames WHERE res = ?1 AND ts < ?2",
            params![FINE, fine],
        )?;
        db.execute(
            "DELETE FROM series WHERE res = ?1 AND ts < ?2",
            params![FINE, fine],
        )?;
        db.execute(
            "DELETE FROM metrics WHERE res = ?1 AND ts < ?2",
            params![FINE, fine],
        )?;
        db.execute("DELETE FROM frames WHERE ts < ?1", [coarse])?;
        db.execute("DELETE FROM series WHERE ts < ?1", [coarse])?;
        db.execute("DELETE FROM metrics WHERE ts < ?1", [coarse])?;
        db.execute("DELETE FROM events WHERE ts < ?1", [coarse * 1000])?;
        let gone = db.execute("DELETE FROM replicas WHERE last_seen < ?1", [coarse])?;
        if gone > 0 {
            self.ids = known_ids(db)?;
        }
        while size_of(&self.db)? > self.retention.max_bytes {
            let oldest: Option<i64> = self
                .db
                .query_row("SELECT min(ts) FROM frames", [], |r| r.get(0))?;
            let Some(oldest) = oldest else { break };
            let until = oldest + 3600;
            self.db
                .execute("DELETE FROM frames WHERE ts < ?1", [until])?;
            self.db
                .execute("DELETE FROM series WHERE ts < ?1", [until])?;
            self.db
                .execute("DELETE FROM metrics WHERE ts < ?1", [until])?;
            self.db
                .execute("DELETE FROM events WHERE ts < ?1", [until * 1000])?;
            self.db.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        self.db.execute_batch("PRAGMA incremental_vacuum;")?;
        Ok(())
    }

    pub fn events(&mut self, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.in_tx(|w| w.write_events(events))?;
        self.written.events += events.len() as u64;
        Ok(())
    }

    fn write_events(&mut self, events: &[Event]) -> Result<()> {
        {
            let mut q = self.db.prepare_cached(
                "INSERT INTO events (ts, source, severity, host, layer, team, service, container, container_id, event, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for e in events {
                q.execute(params![
                    e.at.timestamp_millis(),
                    e.source,
                    e.severity,
                    e.host,
                    e.layer,
                    e.team,
                    e.service,
                    e.container,
                    e.container_id,
                    e.event,
                    e.detail
                ])?;
            }
        }
        Ok(())
    }

    /// Prometheus answers for rows (`target`), at the fine resolution.
    pub fn metrics(&mut self, at: DateTime<Utc>, values: &[(String, String, f64)]) -> Result<()> {
        self.in_tx(|w| {
            let mut q = w.db.prepare_cached(
                "INSERT OR REPLACE INTO metrics (res, ts, target, metric, value) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (target, metric, value) in values {
                q.execute(params![FINE, at.timestamp(), target, metric, value])?;
            }
            Ok(())
        })
    }

    /// The file's size now (the database and its write-ahead log).
    pub fn size(&self) -> u64 {
        file_size(&self.path)
    }

    /// Write the minute in progress (a clean stop keeps it).
    pub fn finish(&mut self) -> Result<()> {
        self.in_tx(Writer::roll_up)?;
        self.minute = None;
        Ok(())
    }
}

type Ids = HashMap<String, HashMap<String, i64>>;

/// The replicas the store knows, by host and container.
fn known_ids(db: &Connection) -> Result<Ids> {
    let mut ids: Ids = HashMap::new();
    let mut q = db.prepare("SELECT host, container, id FROM replicas")?;
    let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?;
    for row in rows {
        let (host, container, id) = row?;
        ids.entry(host).or_default().insert(container, id);
    }
    Ok(ids)
}

fn put_groups<'a>(
    db: &Connection,
    res: i64,
    ts: i64,
    groups: impl Iterator<Item = &'a Group>,
) -> Result<()> {
    let mut q = db.prepare_cached(
        "INSERT OR REPLACE INTO series (kind, name, res, ts, running, wanted, healthy, unhealthy, sampled,
           cpu, mem, mem_limit, net_rx, net_tx, blk_read, blk_write, pids)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    for g in groups {
        let f = &g.figures;
        q.execute(params![
            g.kind,
            g.name,
            res,
            ts,
            g.running as i64,
            g.wanted as i64,
            g.healthy as i64,
            g.unhealthy as i64,
            g.figures.sampled as i64,
            (f.cpu_pct * 100.0).round() / 100.0,
            f.mem_used as i64,
            f.mem_limit as i64,
            f.net_rx_rate.round(),
            f.net_tx_rate.round(),
            f.blk_read_rate.round(),
            f.blk_write_rate.round(),
            f.pids as i64
        ])?;
    }
    Ok(())
}

fn size_of(db: &Connection) -> Result<u64> {
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = db.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = db.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// The store's bytes on disk: the file and its write-ahead log.
pub fn file_size(path: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    len(path) + len(Path::new(&wal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read::{Moment, Reader};
    use crate::model::{Health, State};

    fn who(name: &str) -> Identity {
        Identity {
            host: "local".into(),
            container: format!("id-{name}"),
            name: name.into(),
            image: "agile-sim:1".into(),
            service: "api".into(),
            service_kind: "compose".into(),
            layer: Some("control".into()),
            team: None,
        }
    }

    fn entry(cpu: f64, health: Health) -> Entry {
        Entry {
            state: State::Running,
            health,
            restarts: 0,
            exit_code: 0,
            oom_killed: false,
            figures: Some(Sample {
                cpu_pct: cpu,
                mem_used: 10 << 20,
                mem_limit: 64 << 20,
                ..Sample::default()
            }),
        }
    }

    fn frame(at: DateTime<Utc>, replicas: Vec<(Identity, Entry)>) -> Frame {
        let cpu = replicas
            .iter()
            .filter_map(|(_, e)| e.figures)
            .map(|f| f.cpu_pct)
            .sum();
        Frame {
            at,
            groups: vec![Group {
                kind: "layer",
                name: "control".into(),
                running: replicas.len(),
                wanted: replicas.len(),
                healthy: 0,
                unhealthy: 0,
                figures: crate::fleet::Figures {
                    cpu_pct: cpu,
                    sampled: replicas.len(),
                    ..Default::default()
                },
            }],
            replicas,
        }
    }

    #[test]
    fn frames_read_back_as_moments_rolled_up_and_dropped_by_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let retention = Retention {
            fine: Duration::minutes(10),
            coarse: Duration::minutes(30),
            max_bytes: 1 << 30,
        };
        let mut w = Writer::open(&path, retention).unwrap();
        // A second writer is refused with our pid.
        let err = Writer::open(&path, retention).err().unwrap().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap();
        let at = |s: i64| t0 + Duration::seconds(s);
        // 40 minutes: a healthy, then at 20 min unhealthy, gone at 30 min.
        for i in 0..(40 * 12) {
            let s = i * 5;
            let mut replicas = vec![(who("b"), entry(1.0, Health::Healthy))];
            if s < 30 * 60 {
                let h = if s >= 20 * 60 {
                    Health::Unhealthy
                } else {
                    Health::Healthy
                };
                replicas.push((who("a"), entry(50.0 + (i % 2) as f64, h)));
            }
            w.frame(&frame(at(s), replicas)).unwrap();
            // A Prometheus column on the layer: 10 and 20 in turn.
            let value = if i % 2 == 0 { 10.0 } else { 20.0 };
            let m = [("control".to_string(), "p95".to_string(), value)];
            w.metrics(at(s), &m).unwrap();
        }
        w.finish().unwrap();
        let r = Reader::open(&path).unwrap();
        // 5 s frames only for the last 10 minutes (retention), minutes for 30.
        let c = r.counts().unwrap();
        assert!(c.fine <= 10 * 12 + 12 && c.fine >= 10 * 12, "{c:?}");
        assert!(c.coarse <= 31 && c.coarse >= 29, "{c:?}");
        // Inside the fine window: the 5 s frame, exact figures.
        let m = r.moment(at(35 * 60 + 7)).unwrap().unwrap();
        assert_eq!((m.at, m.res), (at(35 * 60 + 5), FINE));
        assert_eq!(m.replicas.len(), 1);
        // Past the fine window: the minute, averaged; a gone, unhealthy.
        let m = r.moment(at(25 * 60 + 30)).unwrap().unwrap();
        assert_eq!((m.at, m.res), (at(25 * 60), COARSE));
        let (_, a) = m.replicas.iter().find(|(i, _)| i.name == "a").unwrap();
        assert_eq!(a.health, Health::Unhealthy);
        assert!((a.figures.unwrap().cpu_pct - 50.5).abs() < 0.01, "{a:?}");
        assert!(m.gone.contains(&("local".to_string(), "id-a".to_string())));
        let fleet = m.fleet(
            std::sync::Arc::new(crate::topology::Topology::default_topology()),
            |_| crate::model::HostId(0),
        );
        assert!(fleet.replicas["id-a"].name.ends_with("(gone)"));
        assert_eq!(fleet.live["id-a"].sample.mem_limit, 64 << 20);
        // The Prometheus column: the minute's mean there, the 5 s answer
        // in the fine window.
        let p95 = |m: &Moment| m.metrics[&("control".to_string(), "p95".to_string())];
        assert!((p95(&m) - 15.0).abs() < 1e-9, "{:?}", m.metrics);
        let fine = r.moment(at(35 * 60 + 5)).unwrap().unwrap();
        assert_eq!(p95(&fine), 20.0);
        // Exported: the minutes, then the 5 s answers; kept no longer
        // than the frames.
        let values = r.metric_values(at(0), at(40 * 60)).unwrap();
        assert!(
            values.first().unwrap().at >= at(9 * 60),
            "{:?}",
            values.first()
        );
        assert!(
            values
                .iter()
                .any(|v| v.at == at(25 * 60) && v.value == 15.0)
        );
        assert!(values.windows(2).all(|w| w[0].at < w[1].at));
        assert!(
            values
                .iter()
                .any(|v| v.at == at(35 * 60 + 5) && v.value == 20.0)
        );
        let csv =
            crate::history::export::export(&r, at(0), at(40 * 60), Some("control"), false).unwrap();
        assert!(
            csv.lines()
                .any(|l| l.starts_with("metric,") && l.ends_with(",p95,15")),
            "{csv}"
        );
        let columns = csv.lines().next().unwrap().split(',').count();
        assert!(csv.lines().all(|l| l.split(',').count() == columns));
        // Before anything kept: nothing.
        assert!(r.moment(at(-60)).unwrap().is_none());
        // A layer's series over the last 10 minutes: fine, 120 points.
        let s = r
            .series("layer", "control", at(30 * 60), at(40 * 60))
            .unwrap();
        assert!(s.len() >= 110, "{}", s.len());
        // Over 35 minutes: the minutes, then the fine frames.
        let s = r
            .series("layer", "control", at(5 * 60), at(40 * 60))
            .unwrap();
        assert!(s.first().unwrap().0 <= at(11 * 60), "{:?}", s.first());
        assert!(s.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn a_past_swarm_service_counts_what_it_wanted_and_says_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let mut w = Writer::open(&path, Retention::default()).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap();
        // web: 1 of 3 tasks runs; db: none of its 1 (no container at all).
        let task = Identity {
            service: "web".into(),
            service_kind: "swarm".into(),
            ..who("web.1")
        };
        let service = |name: &str, running, wanted| Group {
            kind: "service",
            name: name.into(),
            running,
            wanted,
            healthy: 0,
            unhealthy: 0,
            figures: crate::fleet::Figures::default(),
        };
        let pending = |service: &str, layer: &str, detail: &str| Event {
            at: t0,
            source: "docker",
            severity: "warning".into(),
            host: "local".into(),
            layer: layer.into(),
            team: String::new(),
            service: service.into(),
            container: "(service)".into(),
            container_id: None,
            event: "pending".into(),
            detail: detail.into(),
        };
        w.events(&[
            pending(
                "web",
                "control",
                "2 not running: no suitable node (max replicas per node)",
            ),
            pending(
                "db",
                "data",
                "1 not running: no suitable node (scheduling constraints)",
            ),
        ])
        .unwrap();
        let replicas = vec![
            (task, entry(2.0, Health::Healthy)),
            (who("api-1"), entry(1.0, Health::Healthy)),
        ];
        let mut f = frame(t0 + Duration::seconds(5), replicas);
        f.groups.push(service("web", 1, 3));
        f.groups.push(service("db", 0, 1));
        f.groups.push(service("api", 1, 1));
        w.frame(&f).unwrap();
        let m = Reader::open(&path)
            .unwrap()
            .moment(t0 + Duration::seconds(7))
            .unwrap()
            .unwrap();
        let fleet = m.fleet(
            std::sync::Arc::new(crate::topology::Topology::default_topology()),
            |_| crate::model::HostId(0),
        );
        let counts = |layer: &str, service: &str| {
            let row = fleet
                .service_rows(crate::fleet::GroupBy::Layer, layer)
                .into_iter()
                .find(|r| r.name == service)
                .unwrap();
            (row.running, row.wanted)
        };
        assert_eq!(counts("control", "web"), (1, 3));
        assert_eq!(counts("data", "db"), (0, 1));
        let stuck: Vec<_> = fleet
            .swarm_services()
            .iter()
            .map(|s| (s.name.as_str(), s.stuck(), s.pending.as_deref()))
            .collect();
        assert!(stuck.contains(&(
            "db",
            Some("no suitable node (scheduling constraints)"),
            Some("1 not running: no suitable node (scheduling constraints)")
        )));
        assert!(stuck.contains(&(
            "web",
            Some("no suitable node (max replicas per node)"),
            Some("2 not running: no suitable node (max replicas per node)")
        )));
        // A Compose service's row is left to what ran: no Swarm service.
        assert_eq!(fleet.swarm_services().len(), 2);
        assert_eq!(counts("control", "api"), (1, 1));
    }
}
