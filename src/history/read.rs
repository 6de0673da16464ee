//! Reading the store back: the fleet at a moment, a row's series, events,
//! and the frames an export walks. Readers never wait for the writer
//! (WAL), and never write.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use color_eyre::eyre::{Result, WrapErr, eyre};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::frame::{self, Entry, Group, Identity};
use super::store::{COARSE, Event, FINE};
use crate::fleet::Fleet;
use crate::model::{HostId, Placement, Replica, ServiceId, ServiceKind, SwarmService, SwarmTask};
use crate::topology::Topology;

pub struct Reader {
    db: Connection,
}

/// CPU % over time per (host, container), oldest first.
pub type CpuByReplica = HashMap<(String, String), Vec<(DateTime<Utc>, f64)>>;

/// The fleet as recorded at a moment.
#[derive(Clone, Debug)]
pub struct Moment {
    /// The moment asked for, and the frame's own time (at or before it).
    pub asked: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// Seconds the frame stands for (5, or 60 past the fine retention).
    pub res: i64,
    pub replicas: Vec<(Identity, Entry)>,
    /// Replicas (host, container) not in the newest frame: gone since.
    pub gone: HashSet<(String, String)>,
    /// The events up to the moment, oldest first (at most 500).
    pub events: Vec<Event>,
    /// Each replica's CPU over the ten minutes before (fine frames), for
    /// its history: (host, container) → (time, CPU %), oldest first.
    pub cpu: CpuByReplica,
    /// The Prometheus columns as recorded then: (row, metric) → value.
    pub metrics: HashMap<(String, String), f64>,
    /// Each service's row as recorded then: how many it wanted and ran
    /// (for a Swarm service, across the swarm).
    pub services: Vec<Group>,
}

fn when(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap_or_default()
}

/// The `series` columns `group_of` reads, in its order.
const GROUP_COLUMNS: &str = "ts, name, running, wanted, healthy, unhealthy, sampled, cpu, mem, \
    mem_limit, net_rx, net_tx, blk_read, blk_write, pids";

fn group_kind(kind: &str) -> &'static str {
    match kind {
        "layer" => "layer",
        "team" => "team",
        _ => "service",
    }
}

/// One `series` row (`GROUP_COLUMNS`): its time and the row's sums.
fn group_of(kind: &'static str, r: &rusqlite::Row) -> rusqlite::Result<(DateTime<Utc>, Group)> {
    Ok((
        when(r.get(0)?),
        Group {
            kind,
            name: r.get(1)?,
            running: r.get::<_, i64>(2)? as usize,
            wanted: r.get::<_, i64>(3)? as usize,
            healthy: r.get::<_, i64>(4)? as usize,
            unhealthy: r.get::<_, i64>(5)? as usize,
            figures: crate::fleet::Figures {
                sampled: r.get::<_, i64>(6)? as usize,
                cpu_pct: r.get(7)?,
                mem_used: r.get::<_, i64>(8)? as u64,
                mem_limit: r.get::<_, i64>(9)? as u64,
                net_rx_rate: r.get(10)?,
                net_tx_rate: r.get(11)?,
                blk_read_rate: r.get(12)?,
                blk_write_rate: r.get(13)?,
                pids: r.get::<_, i64>(14)? as u64,
            },
        },
    ))
}

/// What the store holds, for `history info`.
#[derive(Debug, Default)]
pub struct Counts {
    pub fine: u64,
    pub coarse: u64,
    pub replicas: u64,
    pub events: u64,
}

impl Reader {
    pub fn counts(&self) -> Result<Counts> {
        let n = |q: &str| -> Result<u64> {
            Ok(self.db.query_row(q, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(Counts {
            fine: n(&format!("SELECT count(*) FROM frames WHERE res = {FINE}"))?,
            coarse: n(&format!("SELECT count(*) FROM frames WHERE res = {COARSE}"))?,
            replicas: n("SELECT count(*) FROM replicas")?,
            events: n("SELECT count(*) FROM events")?,
        })
    }

    pub fn open(path: &Path) -> Result<Reader> {
        if !path.exists() {
            return Err(eyre!(
                "no history at {}: `agile-deck record` (or the dashboard) records it",
                path.display()
            ));
        }
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .wrap_err_with(|| format!("history {}: cannot open", path.display()))?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: Option<String> = db
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .wrap_err_with(|| format!("history {}: not a history store", path.display()))?;
        if version.as_deref() != Some(&super::store::SCHEMA_VERSION.to_string()) {
            return Err(eyre!(
                "history {}: schema {}, this agile-deck reads {}",
                path.display(),
                version.unwrap_or_else(|| "none".into()),
                super::store::SCHEMA_VERSION
            ));
        }
        Ok(Reader { db })
    }

    /// SQLite's own check of every page and index: "ok", or what is wrong.
    pub fn integrity(&self) -> Result<String> {
        Ok(self
            .db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }

    /// The first and last recorded moments.
    pub fn span(&self) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>> {
        let (a, b): (Option<i64>, Option<i64>) =
            self.db
                .query_row("SELECT min(ts), max(ts) FROM frames", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        Ok(a.zip(b).map(|(a, b)| (when(a), when(b))))
    }

    fn identities(&self) -> Result<HashMap<i64, Identity>> {
        let mut q = self.db.prepare_cached(
            "SELECT id, host, container, name, image, service, service_kind, layer, team FROM replicas",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                r.get(0)?,
                Identity {
                    host: r.get(1)?,
                    container: r.get(2)?,
                    name: r.get(3)?,
                    image: r.get(4)?,
                    service: r.get(5)?,
                    service_kind: r.get(6)?,
                    layer: r.get(7)?,
                    team: r.get(8)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest frame at or before `ts`: a fine one when it is at most
    /// 10 s older, else the coarse minute that holds it.
    fn frame_at(&self, ts: i64) -> Result<Option<(i64, i64, Vec<u8>)>> {
        let q =
            "SELECT ts, replicas FROM frames WHERE res = ?1 AND ts <= ?2 ORDER BY ts DESC LIMIT 1";
        let fine: Option<(i64, Vec<u8>)> = self
            .db
            .query_row(q, params![FINE, ts], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((t, b)) = &fine
            && ts - t <= 2 * FINE
        {
            return Ok(Some((*t, FINE, b.clone())));
        }
        let coarse: Option<(i64, Vec<u8>)> = self
            .db
            .query_row(q, params![COARSE, ts], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match (fine, coarse) {
            (Some((f, fb)), Some((c, cb))) => Some(if f >= c {
                (f, FINE, fb)
            } else {
                (c, COARSE, cb)
            }),
            (Some((f, fb)), None) => Some((f, FINE, fb)),
            (None, Some((c, cb))) => Some((c, COARSE, cb)),
            (None, None) => None,
        })
    }

    /// The fleet as it was at `at`; None if nothing was recorded by then.
    pub fn moment(&self, asked: DateTime<Utc>) -> Result<Option<Moment>> {
        let Some((ts, res, blob)) = self.frame_at(asked.timestamp())? else {
            return Ok(None);
        };
        let who = self.identities()?;
        let decode = |blob: &[u8]| -> Result<Vec<(i64, Entry)>> {
            frame::entries(blob).ok_or_else(|| eyre!("history: a frame is cut"))
        };
        let entries = decode(&blob)?;
        let newest: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT replicas FROM frames WHERE res = ?1 ORDER BY ts DESC LIMIT 1",
                [FINE],
                |r| r.get(0),
            )
            .optional()?;
        let now: HashSet<i64> = match newest {
            Some(b) => decode(&b)?.into_iter().map(|(id, _)| id).collect(),
            None => HashSet::new(),
        };
        let mut gone = HashSet::new();
        let mut replicas = Vec::with_capacity(entries.len());
        for (id, e) in entries {
            let Some(i) = who.get(&id) else { continue };
            if !now.contains(&id) {
                gone.insert((i.host.clone(), i.container.clone()));
            }
            replicas.push((i.clone(), e));
        }
        let at = when(ts);
        let events = self.events(at - Duration::days(1), asked, 500)?;
        let cpu = self.cpu_before(at, &who)?;
        let mut metrics = HashMap::new();
        {
            let mut q = self.db.prepare_cached(
                "SELECT target, metric, value FROM metrics WHERE res = ?1 AND ts =
                   (SELECT max(ts) FROM metrics WHERE res = ?1 AND ts <= ?2 AND ts > ?2 - ?3)",
            )?;
            // The answers of the frame's own resolution: those recorded
            // with a 5 s frame (the latest within 30 s), or the minute's
            // mean.
            let window = if res == FINE { 30 } else { COARSE };
            let rows = q.query_map(params![res, ts, window], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    r.get::<_, f64>(2)?,
                ))
            })?;
            for row in rows {
                let (k, v) = row?;
                metrics.insert(k, v);
            }
        }
        // The services' rows at that frame, one key lookup each: with the
        // name left open, `kind = 'service' AND res AND ts` scans every
        // service row of the week (:at took 36 ms at 500 replicas, 24 h).
        let mut services = Vec::new();
        {
            let mut row = self.db.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM series
                 WHERE kind = 'service' AND name = ?1 AND res = ?2 AND ts = ?3"
            ))?;
            for name in self.service_names()? {
                if let Some((_, g)) = row
                    .query_row(params![name, res, ts], |r| group_of("service", r))
                    .optional()?
                {
                    services.push(g);
                }
            }
        }
        Ok(Some(Moment {
            asked,
            at,
            res,
            replicas,
            gone,
            events,
            cpu,
            metrics,
            services,
        }))
    }

    /// Each replica's CPU over the live history's span (ten minutes of
    /// fine frames) up to `at`: (host, container) → (time, CPU %).
    pub fn recent_cpu(&self, at: DateTime<Utc>) -> Result<CpuByReplica> {
        self.cpu_before(at, &self.identities()?)
    }

    fn cpu_before(&self, at: DateTime<Utc>, who: &HashMap<i64, Identity>) -> Result<CpuByReplica> {
        let mut cpu: CpuByReplica = HashMap::new();
        let span = crate::stats::HISTORY_SLOTS as i64 * crate::stats::SLOT_SECS;
        let mut q = self.db.prepare_cached(
            "SELECT ts, replicas FROM frames WHERE res = ?1 AND ts > ?2 AND ts <= ?3 ORDER BY ts",
        )?;
        let ts = at.timestamp();
        let mut rows = q.query(params![FINE, ts - span, ts])?;
        while let Some(row) = rows.next()? {
            let t = when(row.get(0)?);
            let blob: Vec<u8> = row.get(1)?;
            for (id, e) in frame::entries(&blob).ok_or_else(|| eyre!("history: a frame is cut"))? {
                if let (Some(i), Some(f)) = (who.get(&id), e.figures) {
                    cpu.entry((i.host.clone(), i.container.clone()))
                        .or_default()
                        .push((t, f.cpu_pct));
                }
            }
        }
        Ok(cpu)
    }

    /// Events in [from, to], oldest first; the newest `limit` of them.
    pub fn events(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let mut q = self.db.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE ts >= ?1 AND ts <= ?2
             ORDER BY ts DESC, rowid DESC LIMIT ?3"
        ))?;
        let rows = q.query_map(
            params![
                from.timestamp_millis(),
                to.timestamp_millis() + 999,
                limit as i64
            ],
            event_of,
        )?;
        let mut out: Vec<Event> = rows.collect::<rusqlite::Result<_>>()?;
        out.reverse();
        Ok(out)
    }

    /// Every service name the series hold, walked along the key (a seek
    /// per name, not a scan of their rows).
    fn service_names(&self) -> Result<Vec<String>> {
        let mut next = self
            .db
            .prepare_cached("SELECT min(name) FROM series WHERE kind = 'service' AND name > ?1")?;
        let mut names: Vec<String> = Vec::new();
        while let Some(name) = next.query_row([names.last().map_or("", String::as_str)], |r| {
            r.get::<_, Option<String>>(0)
        })? {
            names.push(name);
        }
        Ok(names)
    }

    /// The alert notices recorded, oldest first: a recorder that starts
    /// again goes on from where the last one left its alerts.
    pub fn alerts(&self) -> Result<Vec<Event>> {
        let mut q = self.db.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE source = 'alert' ORDER BY ts, rowid"
        ))?;
        let rows = q.query_map([], event_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A row's figures over [from, to]: the fine series while it is
    /// kept, else the minutes.
    pub fn series(
        &self,
        kind: &str,
        name: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Group)>> {
        let kind = group_kind(kind);
        let read = |res: i64| -> Result<Vec<(DateTime<Utc>, Group)>> {
            let mut q = self.db.prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM series
                 WHERE kind = ?1 AND name = ?2 AND res = ?3 AND ts >= ?4 AND ts <= ?5 ORDER BY ts"
            ))?;
            let rows = q.query_map(
                params![kind, name, res, from.timestamp(), to.timestamp()],
                |r| group_of(kind, r),
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let fine = read(FINE)?;
        // The fine series covers the window when it reaches its start.
        if fine
            .first()
            .is_some_and(|(t, _)| (*t - from).num_seconds() <= 2 * FINE)
        {
            return Ok(fine);
        }
        let mut coarse = read(COARSE)?;
        let after = coarse.last().map(|(t, _)| *t + Duration::seconds(COARSE));
        coarse.extend(
            fine.into_iter()
                .filter(|(t, _)| after.is_none_or(|a| *t >= a)),
        );
        Ok(coarse)
    }

    /// Every replica's entries in [from, to] at the finest resolution
    /// kept, in time order: what `history export` writes.
    pub fn frames(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut each: impl FnMut(DateTime<Utc>, &Identity, &Entry),
    ) -> Result<()> {
        let who = self.identities()?;
        let split = self.fine_from(Table::Frames, from)?;
        let mut q = self.db.prepare(
            "SELECT ts, replicas FROM frames
             WHERE (res = ?1 AND ts >= ?2 AND ts < ?3 AND ts <= ?5) OR (res = ?4 AND ts >= ?3 AND ts <= ?5) ORDER BY ts",
        )?;
        let mut rows = q.query(params![
            COARSE,
            from.timestamp(),
            split,
            FINE,
            to.timestamp()
        ])?;
        while let Some(row) = rows.next()? {
            let ts: i64 = row.get(0)?;
            let blob: Vec<u8> = row.get(1)?;
            for (id, e) in frame::entries(&blob).ok_or_else(|| eyre!("history: a frame is cut"))? {
                if let Some(i) = who.get(&id) {
                    each(when(ts), i, &e);
                }
            }
        }
        Ok(())
    }

    /// Where a span read from `table` turns from minutes to 5 s rows: the
    /// first 5 s row still kept, or `from` if that is later.
    fn fine_from(&self, table: Table, from: DateTime<Utc>) -> Result<i64> {
        let q = match table {
            Table::Frames => "SELECT min(ts) FROM frames WHERE res = ?1",
            Table::Metrics => "SELECT min(ts) FROM metrics WHERE res = ?1",
        };
        let first: Option<i64> = self.db.query_row(q, [FINE], |r| r.get(0))?;
        Ok(first.unwrap_or(i64::MAX).max(from.timestamp()))
    }

    /// The Prometheus answers recorded in a span, oldest first: the
    /// minutes' means until the 5 s answers begin, then those.
    pub fn metric_values(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Metric>> {
        let split = self.fine_from(Table::Metrics, from)?;
        let mut q = self.db.prepare(
            "SELECT ts, target, metric, value FROM metrics
             WHERE (res = ?1 AND ts >= ?2 AND ts < ?3 AND ts <= ?5) OR (res = ?4 AND ts >= ?3 AND ts <= ?5)
             ORDER BY ts, target, metric",
        )?;
        let rows = q.query_map(
            params![COARSE, from.timestamp(), split, FINE, to.timestamp()],
            |r| {
                Ok(Metric {
                    at: when(r.get(0)?),
                    target: r.get(1)?,
                    metric: r.get(2)?,
                    value: r.get(3)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The tables kept at both resolutions that spans are read from.
#[derive(Clone, Copy)]
enum Table {
    Frames,
    Metrics,
}

/// One recorded Prometheus answer: a `[[metric]]` on a row.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub at: DateTime<Utc>,
    /// The row it was asked for, by name.
    pub target: String,
    pub metric: String,
    pub value: f64,
}

impl Moment {
    /// The Swarm services as recorded: what each wanted and ran (its
    /// row's sums), and Swarm's reason for tasks that did not run (its
    /// last `pending` event). Without them a past Swarm row would count
    /// only the task containers that existed, and a service none of whose
    /// tasks ran would not be there at all.
    fn swarm_services(&self) -> Vec<SwarmService> {
        // One pass each over the replicas and the events, not one per
        // service; events are oldest first, so a service's newest
        // `pending` is the one kept.
        let tasks: HashMap<&str, &Identity> = self
            .replicas
            .iter()
            .map(|(who, _)| who)
            .filter(|who| who.service_kind == "swarm")
            .map(|who| (who.service.as_str(), who))
            .collect();
        let pending: HashMap<&str, &Event> = self
            .events
            .iter()
            .filter(|e| e.event == "pending")
            .map(|e| (e.service.as_str(), e))
            .collect();
        self.services
            .iter()
            .filter_map(|g| {
                let last_pending = pending.get(g.name.as_str()).copied();
                let reason = last_pending.filter(|_| g.running < g.wanted);
                let (layer, team, image) = match (tasks.get(g.name.as_str()), last_pending) {
                    (Some(w), _) => (w.layer.clone(), w.team.clone(), w.image.clone()),
                    (None, Some(e)) => (
                        Some(e.layer.clone()).filter(|l| !l.is_empty()),
                        Some(e.team.clone()).filter(|t| !t.is_empty()),
                        String::new(),
                    ),
                    (None, None) => return None,
                };
                Some(SwarmService {
                    id: g.name.clone(),
                    name: g.name.clone(),
                    image,
                    replicas: Some(g.wanted as u64),
                    running_tasks: g.running as u64,
                    desired_tasks: g.wanted as u64,
                    pending: reason.map(|e| e.detail.clone()),
                    // The row shows a waiting task's error: the `why` of
                    // the event's "N not running: why".
                    tasks: reason
                        .map(|e| SwarmTask {
                            desired: "running".into(),
                            state: "pending".into(),
                            error: e
                                .detail
                                .split_once(": ")
                                .map_or(e.detail.clone(), |(_, why)| why.to_string()),
                            ..SwarmTask::default()
                        })
                        .into_iter()
                        .collect(),
                    rules: Default::default(),
                    lifecycle: Default::default(),
                    labels: Default::default(),
                    placement: Placement {
                        layer,
                        team,
                        service: ServiceId {
                            kind: ServiceKind::Swarm,
                            name: g.name.clone(),
                        },
                    },
                })
            })
            .collect()
    }

    /// The fleet as it was, placed as it was recorded (not as the
    /// topology would place it today), each replica on its host (`host`
    /// finds it by name). A replica gone since is named `NAME (gone)`.
    pub fn fleet(
        &self,
        topology: std::sync::Arc<Topology>,
        host: impl Fn(&str) -> HostId,
    ) -> Fleet {
        let mut fleet = Fleet::sharing(topology);
        let mut replicas = Vec::with_capacity(self.replicas.len());
        for (who, e) in &self.replicas {
            let gone = self
                .gone
                .contains(&(who.host.clone(), who.container.clone()));
            let name = if gone {
                format!("{} (gone)", who.name)
            } else {
                who.name.clone()
            };
            let kind = match who.service_kind.as_str() {
                "swarm" => ServiceKind::Swarm,
                "compose" => ServiceKind::Compose {
                    project: String::new(),
                },
                _ => ServiceKind::Named,
            };
            let placement = Placement {
                layer: who.layer.clone(),
                team: who.team.clone(),
                service: ServiceId {
                    kind,
                    name: who.service.clone(),
                },
            };
            let r = Replica::builder(who.container.clone(), name)
                .host(host(&who.host))
                .image(&who.image)
                .state(e.state.clone())
                .health(e.health)
                .with(|r| {
                    r.restart_count = e.restarts as i64;
                    r.exit_code = e.exit_code;
                    r.oom_killed = e.oom_killed;
                    r.mem_limit = e.figures.map(|f| f.mem_limit);
                })
                .placed_by(|_, _| placement);
            replicas.push(r);
        }
        // Services first: placing the replicas then indexes once.
        fleet.set_swarm_services(self.swarm_services());
        fleet.apply(&[], replicas);
        for (who, e) in &self.replicas {
            let Some(f) = &e.figures else { continue };
            for (t, cpu) in self
                .cpu
                .get(&(who.host.clone(), who.container.clone()))
                .into_iter()
                .flatten()
            {
                let mut s = frame::sample_at(f, *t);
                s.cpu_pct = *cpu;
                fleet.record(&who.container, s, *t);
            }
            fleet.record(&who.container, frame::sample_at(f, self.at), self.at);
        }
        fleet
    }
}

const EVENT_COLUMNS: &str =
    "ts, source, severity, host, layer, team, service, container, container_id, event, detail";

/// An `events` row read with `EVENT_COLUMNS`.
fn event_of(r: &rusqlite::Row) -> rusqlite::Result<Event> {
    let source: String = r.get(1)?;
    Ok(Event {
        at: Utc
            .timestamp_millis_opt(r.get(0)?)
            .single()
            .unwrap_or_default(),
        source: match source.as_str() {
            "alert" => "alert",
            "operation" => "operation",
            "log" => "log",
            _ => "docker",
        },
        severity: r.get(2)?,
        host: r.get(3)?,
        layer: r.get(4)?,
        team: r.get(5)?,
        service: r.get(6)?,
        container: r.get(7)?,
        container_id: r.get(8)?,
        event: r.get(9)?,
        detail: r.get(10)?,
    })
}
