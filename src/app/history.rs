//! The app's side of the flight recorder: looking at the past (`:at`,
//! `[` / `]`), what the recorder writes of the app's own (timeline lines,
//! operation results), and the conditions alerts are raised on.

use chrono::{DateTime, Duration, Utc};

use super::{App, Cmd};
use crate::alerting::{Condition, Kind};
use crate::events::{Line, Severity, Timeline};
use crate::fleet::Fleet;
use crate::history::{Event, Moment};

/// The fleet and timeline as recorded at a moment, shown instead of the
/// live ones (which go on being kept current underneath).
#[derive(Debug)]
pub struct Past {
    /// The moment asked for and the recorded frame shown (at or before).
    pub asked: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub fleet: Fleet,
    pub timeline: Timeline,
    /// The Prometheus columns as recorded: (row, metric) → value.
    pub metrics: std::collections::HashMap<(String, String), f64>,
    /// Replicas shown that no longer exist.
    pub gone: usize,
}

/// A row's recorded CPU over the last hour, for its detail chart.
#[derive(Debug, Default)]
pub struct Recorded {
    /// (kind, row) it is of, and when it was asked.
    pub key: Option<(&'static str, String)>,
    pub asked: Option<DateTime<Utc>>,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// How long a recorded chart serves before it is read again.
const RECORDED_FRESH: i64 = 15;

/// How far `[` and `]` step.
pub fn step() -> Duration {
    Duration::minutes(1)
}

pub(super) fn line_of(e: &Event) -> Line {
    Line {
        time: e.at,
        host: e.host.clone(),
        layer: e.layer.clone(),
        team: e.team.clone(),
        service: e.service.clone(),
        container: e.container.clone(),
        id: e.container_id.clone(),
        event: e.event.clone(),
        detail: e.detail.clone(),
        severity: match e.severity.as_str() {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            "ok" => Severity::Ok,
            _ => Severity::Info,
        },
    }
}

impl App {
    /// The fleet on screen: the past one while looking back.
    pub fn shown_fleet(&self) -> &Fleet {
        self.past.as_ref().map_or(&self.fleet, |p| &p.fleet)
    }

    /// The moment on screen: now, or the recorded one (charts end there).
    pub fn shown_now(&self) -> DateTime<Utc> {
        self.past.as_ref().map_or(self.now, |p| p.at)
    }

    /// The timeline on screen: the recorded one while looking back.
    pub fn shown_timeline(&self) -> &Timeline {
        self.past
            .as_ref()
            .map_or(&self.views.timeline, |p| &p.timeline)
    }

    /// `:at WHEN`: `-15m`, `03:12`, `03:12:05`, RFC 3339, or `now`.
    pub(super) fn at_command(&mut self, rest: &str, cmds: &mut Vec<Cmd>) {
        let rest = rest.trim();
        if rest.is_empty() {
            self.flash = Some("usage: :at -15m | 03:12 | 03:12:05 | now".into());
            return;
        }
        match crate::when::moment(rest, self.now, self.local_offset) {
            Ok(_) if rest == "now" => self.back_to_now(),
            Ok(at) if at >= self.now => self.back_to_now(),
            Ok(at) => cmds.push(Cmd::Travel(at)),
            Err(e) => self.flash = Some(e),
        }
    }

    /// `[` one step back (from now, or from the moment shown), `]` one
    /// forward (reaching now returns to the live fleet).
    pub(super) fn step_in_time(&mut self, forward: bool, cmds: &mut Vec<Cmd>) {
        let from = self.past.as_ref().map_or(self.now, |p| p.asked);
        let to = if forward {
            from + step()
        } else {
            from - step()
        };
        if to >= self.now {
            self.back_to_now();
        } else {
            cmds.push(Cmd::Travel(to));
        }
    }

    fn back_to_now(&mut self) {
        if self.past.take().is_some() {
            self.flash = Some("back to now".into());
        }
        self.clamp_selection();
    }

    /// The store's answer to `Cmd::Travel`.
    pub(super) fn on_moment(
        &mut self,
        asked: DateTime<Utc>,
        moment: Result<Option<Moment>, String>,
    ) {
        let m = match moment {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.flash = Some(format!(
                    "nothing was recorded by {}",
                    asked.with_timezone(&self.local_offset).format("%H:%M:%S")
                ));
                return;
            }
            Err(e) => {
                self.flash = Some(e);
                return;
            }
        };
        let hosts = &self.hosts;
        let fleet = m.fleet(self.fleet.topology.clone(), |name| {
            hosts.by_name(name).unwrap_or_default()
        });
        let mut timeline = Timeline::new(m.events.len().max(1));
        for e in &m.events {
            timeline.push(line_of(e));
        }
        let was_past = self.past.is_some();
        self.past = Some(Past {
            asked,
            at: m.at,
            fleet,
            timeline,
            metrics: m.metrics.clone(),
            gone: m.gone.len(),
        });
        if !was_past {
            self.clamp_selection();
        }
        self.flash = Some(format!(
            "history: {} replicas as recorded{}; changing actions are refused; :at now returns",
            m.replicas.len(),
            match m.gone.len() {
                0 => String::new(),
                n => format!(", {n} gone since"),
            }
        ));
    }

    /// The selected row as the store names it: (layer|team|service, name).
    pub fn recorded_key(&self) -> Option<(&'static str, String)> {
        use super::Level;
        let kind = match self.frame().level {
            Level::Groups => match self.pane.group_by() {
                crate::fleet::GroupBy::Layer => "layer",
                crate::fleet::GroupBy::Team => "team",
            },
            Level::Services { .. } => "service",
            _ => return None,
        };
        let row = self.rows().into_iter().nth(self.frame().selected)?;
        Some((kind, row.name))
    }

    /// Ask the store for the selected row's last hour when it is another
    /// row's, or older than 15 s (only with a store, only looking at now).
    pub(super) fn ask_recorded_chart(&mut self, cmds: &mut Vec<Cmd>) {
        if !self.history_store
            || self.past.is_some()
            || self.views.view != super::views::View::Fleet
        {
            return;
        }
        let Some(key) = self.recorded_key() else {
            return;
        };
        let r = &self.recorded;
        let fresh = r.key.as_ref() == Some(&key)
            && r.asked
                .is_some_and(|t| (self.now - t).num_seconds() < RECORDED_FRESH);
        if !fresh {
            self.recorded.key = Some(key.clone());
            self.recorded.asked = Some(self.now);
            cmds.push(Cmd::ReadSeries {
                kind: key.0,
                name: key.1,
            });
        }
    }

    /// The store's answer to `Cmd::ReadSeries`.
    pub(super) fn on_series(
        &mut self,
        kind: &'static str,
        name: String,
        points: Vec<(DateTime<Utc>, f64)>,
    ) {
        if self.recorded.key.as_ref() == Some(&(kind, name)) {
            self.recorded.points = points;
            self.dirty = true;
        }
    }

    /// The header's word while looking back.
    pub fn past_label(&self) -> Option<String> {
        self.past.as_ref().map(|p| {
            format!(
                "at {} (history)",
                p.at.with_timezone(&self.local_offset).format("%H:%M:%S")
            )
        })
    }

    /// Timeline lines inserted since `cursor` (moved on), as the recorder
    /// stores them.
    pub fn recorded_since(&self, cursor: &mut u64) -> Vec<Event> {
        let t = &self.views.timeline;
        let out = t
            .newer_than(*cursor)
            .map(|l| Event {
                at: l.time,
                source: if l.event == "restart loop" {
                    "alert"
                } else {
                    "docker"
                },
                severity: l.severity.word().to_string(),
                host: l.host.clone(),
                layer: l.layer.clone(),
                team: l.team.clone(),
                service: l.service.clone(),
                container: l.container.clone(),
                container_id: l.id.clone(),
                event: l.event.clone(),
                detail: l.detail.clone(),
            })
            .collect();
        *cursor = t.inserted;
        out
    }

    /// Journal lines as the recorder stores them: the results
    /// (operations and rollouts), not their steps, named as the fleet
    /// names things, so `host=` and `history export --target` find them.
    pub fn results_of(&self, entries: Vec<crate::journal::Entry>) -> Vec<Event> {
        entries
            .into_iter()
            .filter(|e| e.kind == "result")
            .map(|e| {
                let (layer, team, service, container) = placed(&e.target);
                Event {
                    at: DateTime::parse_from_rfc3339(&e.time)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or(self.now),
                    source: "operation",
                    severity: match e.outcome {
                        crate::journal::Outcome::Done => "ok",
                        _ => "warning",
                    }
                    .to_string(),
                    host: host_name(&e.host).to_string(),
                    layer,
                    team,
                    service,
                    container,
                    container_id: None,
                    event: e.operation.clone(),
                    detail: [e.outcome.to_string(), e.detail.clone(), e.error.clone()]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(": "),
                }
            })
            .collect()
    }

    /// The Prometheus columns' latest values, (row, metric, value), for
    /// the recorder.
    pub fn metric_values(&self) -> Vec<(String, String, f64)> {
        let Some(prom) = &self.prom else {
            return Vec::new();
        };
        let metrics = &self.fleet.topology.metrics;
        prom.store
            .cells
            .iter()
            .filter_map(|(key, reading)| match reading {
                Ok(crate::metrics::Reading::Value { value, .. }) if value.is_finite() => metrics
                    .get(key.metric)
                    .map(|m| (key.row.clone(), m.name.clone(), *value)),
                _ => None,
            })
            .collect()
    }

    /// A notice as recorded, placed where the fleet places its target (a
    /// service, a team or layer row, a replica) with the host it runs on
    /// when that is one; the host stays empty for a target over several.
    pub fn alert_event(&self, n: &crate::alerting::Notice, at: DateTime<Utc>) -> Event {
        let target = n.target.as_str();
        let of = |r: &&crate::model::Replica| {
            r.name == target
                || r.placement.service.name == target
                || r.placement.team.as_deref() == Some(target)
                || r.placement.layer.as_deref() == Some(target)
        };
        let hosts: std::collections::BTreeSet<_> = self
            .fleet
            .replicas
            .values()
            .filter(of)
            .map(|r| r.host)
            .collect();
        let host = match hosts.len() {
            1 => self.hosts.name(*hosts.first().expect("one")).to_string(),
            _ => String::new(),
        };
        let one = self.fleet.replicas.values().find(of);
        let (mut layer, mut team, mut service, mut container) =
            (String::new(), String::new(), String::new(), String::new());
        match one {
            Some(r) if r.name == target => container = target.to_string(),
            Some(r) if r.placement.service.name == target => {
                service = target.to_string();
                layer = r.placement.layer.clone().unwrap_or_default();
                team = r.placement.team.clone().unwrap_or_default();
            }
            Some(r) if r.placement.team.as_deref() == Some(target) => {
                team = target.to_string();
                layer = r.placement.layer.clone().unwrap_or_default();
            }
            Some(_) => layer = target.to_string(),
            // Gone from the fleet (the service was removed): as named.
            None => service = target.to_string(),
        }
        use crate::alerting::Status;
        Event {
            at,
            source: "alert",
            severity: match n.status {
                Status::Firing => n.severity,
                Status::Resolved => "ok",
            }
            .to_string(),
            host,
            layer,
            team,
            service,
            container,
            container_id: None,
            event: "alert".into(),
            detail: n.recorded_detail(),
        }
    }

    /// What is wrong now, for alerts: unhealthy replicas per service;
    /// OOM kills, exit 137 and restart loops raised within `quiet`; zone
    /// breaches; `[[metric]]` answers past their thresholds; services
    /// outside their scaling policy.
    pub fn alert_conditions(&self, quiet: Duration) -> Vec<Condition> {
        let mut out = Vec::new();
        let fleet = &self.fleet;
        let mut unhealthy: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for r in fleet.replicas.values() {
            if r.is_running() && r.health == crate::model::Health::Unhealthy {
                unhealthy
                    .entry(&r.placement.service.name)
                    .or_default()
                    .push(&r.name);
            }
        }
        for (service, names) in unhealthy {
            out.push(Condition {
                kind: Kind::Unhealthy,
                target: service.to_string(),
                severity: "critical",
                summary: format!("{} unhealthy: {}", names.len(), names.join(", ")),
                metric: None,
            });
        }
        let mut recent: std::collections::BTreeMap<(Kind, &str), (u32, DateTime<Utc>)> =
            Default::default();
        for (t, service, kind) in &self.views.timeline.raised {
            if *kind != Kind::Unhealthy && self.now - *t < quiet {
                let e = recent.entry((*kind, service)).or_insert((0, *t));
                e.0 += 1;
                e.1 = *t;
            }
        }
        for ((kind, service), (n, last)) in recent {
            out.push(Condition {
                kind,
                target: service.to_string(),
                severity: "critical",
                summary: format!(
                    "{n} in the last {} min (last at {})",
                    quiet.num_minutes().max(1),
                    last.with_timezone(&self.local_offset).format("%H:%M:%S")
                ),
                metric: None,
            });
        }
        for b in self.breaches() {
            out.push(Condition {
                kind: Kind::ZoneBreach,
                target: b.container.clone(),
                severity: "critical",
                summary: format!("on both zones' networks: {} ↔ {}", b.zones.0, b.zones.1),
                metric: None,
            });
        }
        if let Some(prom) = &self.prom {
            for (key, reading) in &prom.store.cells {
                let Ok(crate::metrics::Reading::Value { value, .. }) = reading else {
                    continue;
                };
                let Some(m) = fleet.topology.metrics.get(key.metric) else {
                    continue;
                };
                let (severity, limit) = match m.level(*value) {
                    crate::metrics::Level::Critical => ("critical", m.critical),
                    crate::metrics::Level::Warning => ("warning", m.warn),
                    crate::metrics::Level::Normal => continue,
                };
                out.push(Condition {
                    kind: Kind::Metric,
                    target: key.row.clone(),
                    severity,
                    summary: format!(
                        "{} = {} (threshold {})",
                        m.name,
                        m.format(*value),
                        limit.map(|l| m.format(l)).unwrap_or_default()
                    ),
                    metric: Some(m.name.clone()),
                });
            }
        }
        for by in [crate::fleet::GroupBy::Layer] {
            for row in fleet.group_rows(by) {
                for s in fleet.service_rows(by, &row.name) {
                    let Some(p) = fleet.topology.policy_for(&s.name) else {
                        continue;
                    };
                    let running = s.running as u64;
                    let (bad, why) = if running < p.min {
                        (
                            true,
                            format!(
                                "{running} running, the policy {:?} wants at least {}",
                                p.pattern, p.min
                            ),
                        )
                    } else if running > p.max {
                        (
                            true,
                            format!(
                                "{running} running, the policy {:?} allows at most {}",
                                p.pattern, p.max
                            ),
                        )
                    } else {
                        (false, String::new())
                    };
                    if bad {
                        out.push(Condition {
                            kind: Kind::Policy,
                            target: s.name.clone(),
                            severity: "warning",
                            summary: why,
                            metric: None,
                        });
                    }
                }
            }
        }
        out
    }
}

/// A journal's host, `local (unix:///var/run/docker.sock)`: its name.
fn host_name(host: &str) -> &str {
    host.split_once(" (").map_or(host, |(name, _)| name)
}

/// Where a journal's target goes among the events' columns (layer,
/// team, service, container): `service web` (or `service web (swarm)`)
/// is the service `web`, `replica NAME` the container; anything else (a
/// node, a pair) stays in `service` as the journal says it.
fn placed(target: &str) -> (String, String, String, String) {
    let (kind, name) = target.split_once(' ').unwrap_or(("", target));
    let name = name
        .strip_suffix(')')
        .and_then(|n| n.rsplit_once(" ("))
        .map_or(name, |(n, _)| n)
        .to_string();
    let none = String::new;
    match kind {
        "layer" => (name, none(), none(), none()),
        "team" => (none(), name, none(), none()),
        "service" => (none(), none(), name, none()),
        "replica" => (none(), none(), none(), name),
        _ => (none(), none(), target.to_string(), none()),
    }
}
