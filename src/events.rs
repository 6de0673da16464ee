//! The incident timeline: Docker's events as lines an on-call engineer
//! reads (time, where, what, why), their severity, and the alerts they
//! raise per service (OOM kills, exit 137, restart loops, unhealthy
//! replicas) until someone acknowledges them. Bounded: the oldest lines go.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::model::Replica;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Ok,
    Warning,
    Critical,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Severity::Info => "·",
            Severity::Ok => "●",
            Severity::Warning => "!",
            Severity::Critical => "✖",
        }
    }
}

/// A Docker event as it came: for the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct RawEvent {
    /// container, service or node.
    pub kind: String,
    pub id: String,
    pub action: String,
    pub time: DateTime<Utc>,
    /// The actor's attributes: name, image, exitCode, signal, labels.
    pub attrs: BTreeMap<String, String>,
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub time: DateTime<Utc>,
    pub host: String,
    pub layer: String,
    pub team: String,
    pub service: String,
    pub container: String,
    /// The replica, to jump to (None for Swarm service and node events).
    pub id: Option<String>,
    pub event: String,
    pub detail: String,
    pub severity: Severity,
}

/// The CONTAINER column of a line about something else (a Swarm service
/// or node): `web (service)`, so it says which even where the SERVICE
/// column is not shown.
pub fn not_a_container(kind: &str, name: &str) -> String {
    match name {
        "" => format!("({kind})"),
        name => format!("{name} ({kind})"),
    }
}

/// What a Docker event means for the operator: the word, the detail and
/// how bad it is. `attrs` are the event's actor attributes.
pub fn classify(action: &str, attrs: &BTreeMap<String, String>) -> (String, String, Severity) {
    let attr = |k: &str| attrs.get(k).cloned().unwrap_or_default();
    if let Some(status) = action.strip_prefix("health_status: ") {
        let status = status.trim();
        let severity = match status {
            "healthy" => Severity::Ok,
            "unhealthy" => Severity::Critical,
            _ => Severity::Info,
        };
        return (status.to_string(), "health check".into(), severity);
    }
    match action {
        "die" => {
            let code: i64 = attr("exitCode").parse().unwrap_or(0);
            let (detail, severity) = match code {
                0 => ("exit 0".to_string(), Severity::Info),
                137 => (
                    "exit 137: killed (SIGKILL, or out of memory)".to_string(),
                    Severity::Critical,
                ),
                143 => ("exit 143: stopped (SIGTERM)".to_string(), Severity::Info),
                c => (format!("exit {c}"), Severity::Warning),
            };
            ("die".into(), detail, severity)
        }
        "oom" => (
            "oom".into(),
            "out of memory: the kernel killed a process at the memory limit".into(),
            Severity::Critical,
        ),
        "kill" => (
            "kill".into(),
            format!("signal {}", attr("signal")),
            Severity::Info,
        ),
        "update" | "service update" => ("update".into(), String::new(), Severity::Info),
        other => (other.to_string(), String::new(), Severity::Info),
    }
}

/// Alerts of one service, raised until acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Alerts {
    pub oom: u32,
    pub exit_137: u32,
    pub restart_loops: u32,
    pub unhealthy: u32,
}

impl Alerts {
    pub fn total(&self) -> u32 {
        // Zone breaches are not the timeline's: the Networks view finds
        // them in the networks (`App::alert_total` adds them).
        self.oom + self.exit_137 + self.restart_loops + self.unhealthy
    }
}

/// Raised alerts kept for the recorder's rules.
const RAISED: usize = 1000;

/// How many deaths in how long make a restart loop.
pub const LOOP_DEATHS: usize = 3;
pub fn loop_window() -> Duration {
    Duration::minutes(5)
}

#[derive(Debug)]
pub struct Timeline {
    pub lines: VecDeque<Line>,
    pub max: usize,
    /// By service name.
    pub alerts: BTreeMap<String, Alerts>,
    /// Recent deaths per service, for restart loops.
    deaths: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// Services already counted as looping (until they calm down).
    looping: HashMap<String, DateTime<Utc>>,
    /// Containers someone sent a signal (`docker stop`, a rollout): their
    /// next death is deliberate, not a crash.
    killed: HashMap<String, DateTime<Utc>>,
    /// Alerts raised (never acknowledged away), newest last, for the
    /// recorder's alert rules: (when, service, what).
    pub raised: VecDeque<(DateTime<Utc>, String, crate::alerting::Kind)>,
    /// Lines inserted since the start: the recorder's cursor.
    pub inserted: u64,
    /// The newest line put in from the recording (`earlier`), if any.
    pub recorded_until: Option<DateTime<Utc>>,
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline::new(5000)
    }
}

impl Timeline {
    pub fn new(max: usize) -> Timeline {
        Timeline {
            lines: VecDeque::new(),
            max: max.max(1),
            alerts: BTreeMap::new(),
            deaths: HashMap::new(),
            looping: HashMap::new(),
            killed: HashMap::new(),
            raised: VecDeque::new(),
            inserted: 0,
            recorded_until: None,
        }
    }

    /// Lines recorded before this session (oldest first), put before the
    /// ones it saw: only those older than every line held, and only into
    /// the room left. They raise no alert (they are history, and were
    /// alerted on when they happened) and are not the recorder's to write
    /// again (`inserted` does not move).
    pub fn earlier(&mut self, recorded: impl DoubleEndedIterator<Item = Line>) {
        let oldest = self.lines.front().map(|l| l.time);
        let room = self.max - self.lines.len();
        let mut put = 0;
        for line in recorded
            .rev()
            .filter(|l| oldest.is_none_or(|t| l.time < t))
            .take(room)
        {
            self.recorded_until = self.recorded_until.max(Some(line.time));
            self.lines.push_front(line);
            put += 1;
        }
        if put > 0 {
            log::info!("events: {put} from the recording put before this session's");
        }
    }

    /// How many lines held came from the recording.
    pub fn from_recording(&self) -> usize {
        self.recorded_until
            .map_or(0, |t| self.lines.iter().take_while(|l| l.time <= t).count())
    }

    /// Lines inserted after the first `seen` (those still kept).
    pub fn newer_than(&self, seen: u64) -> impl Iterator<Item = &Line> {
        let n = (self.inserted.saturating_sub(seen) as usize).min(self.lines.len());
        self.lines.iter().skip(self.lines.len() - n)
    }

    fn raise(&mut self, time: DateTime<Utc>, service: &str, kind: crate::alerting::Kind) {
        if self.raised.len() == RAISED {
            self.raised.pop_front();
        }
        self.raised.push_back((time, service.to_string(), kind));
    }

    pub fn alert_total(&self) -> u32 {
        self.alerts.values().map(Alerts::total).sum()
    }

    pub fn acknowledge(&mut self) {
        self.alerts.clear();
    }

    /// Add a line and raise what it means.
    pub fn push(&mut self, line: Line) {
        let id = line.id.clone().unwrap_or_default();
        if line.event == "kill" {
            self.killed
                .retain(|_, t| line.time - *t < Duration::minutes(1));
            self.killed.insert(id.clone(), line.time);
        }
        // A death within a minute of a signal sent to it was asked for
        // (a stop, a restart, a rollout replacing it): no alert, no loop.
        let deliberate = line.event == "die"
            && self
                .killed
                .remove(&id)
                .is_some_and(|t| line.time - t < Duration::minutes(1));
        use crate::alerting::Kind;
        let kind = match (line.event.as_str(), line.detail.as_str()) {
            ("oom", _) => Some(Kind::Oom),
            ("die", d) if d.starts_with("exit 137") && !deliberate => Some(Kind::Exit137),
            ("unhealthy", _) => Some(Kind::Unhealthy),
            _ => None,
        };
        if let Some(kind) = kind {
            self.raise(line.time, &line.service, kind);
        }
        let a = self.alerts.entry(line.service.clone()).or_default();
        match kind {
            Some(Kind::Oom) => a.oom += 1,
            Some(Kind::Exit137) => a.exit_137 += 1,
            Some(Kind::Unhealthy) => a.unhealthy += 1,
            _ => {}
        }
        if line.event == "die" && !deliberate {
            let deaths = self.deaths.entry(line.service.clone()).or_default();
            deaths.push_back(line.time);
            while deaths
                .front()
                .is_some_and(|t| line.time - *t > loop_window())
            {
                deaths.pop_front();
            }
            let calm = self
                .looping
                .get(&line.service)
                .is_none_or(|since| line.time - *since > loop_window());
            if deaths.len() >= LOOP_DEATHS && calm {
                self.looping.insert(line.service.clone(), line.time);
                a.restart_loops += 1;
                let looped = Line {
                    event: "restart loop".into(),
                    detail: format!("{} deaths in 5 minutes", deaths.len()),
                    severity: Severity::Critical,
                    ..line.clone()
                };
                self.raise(line.time, &line.service, Kind::RestartLoop);
                self.insert(line);
                self.insert(looped);
                return;
            }
        }
        if a.total() == 0 {
            self.alerts.remove(&line.service);
        }
        self.insert(line);
    }

    fn insert(&mut self, line: Line) {
        self.inserted += 1;
        if self.lines.len() == self.max {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The failing probe's output, once inspect has it, onto the latest
    /// "unhealthy" line of that replica that does not carry it yet.
    pub fn probe_result(&mut self, id: &str, r: &Replica) {
        let Some(probe) = r.health_log.iter().rev().find(|p| p.exit_code != 0) else {
            return;
        };
        if let Some(line) = self
            .lines
            .iter_mut()
            .rev()
            .find(|l| l.id.as_deref() == Some(id) && l.event == "unhealthy")
            .filter(|l| l.detail == "health check")
        {
            line.detail = format!("probe exit {}: {}", probe.exit_code, probe.output.trim());
        }
    }

    /// Lines matching a filter, newest first. The filter's words are
    /// `layer=`, `team=`, `service=`, a severity (`warning` means warning
    /// or worse), or text found in the container, event or detail.
    pub fn filtered<'a>(&'a self, filter: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        let words: Vec<&str> = filter.split_whitespace().collect();
        self.lines.iter().rev().filter(move |l| {
            words.iter().all(|w| match w.split_once('=') {
                Some(("layer", v)) => l.layer == v,
                Some(("team", v)) => l.team == v,
                Some(("service", v)) => l.service == v,
                Some(("host", v)) => l.host == v,
                _ => match *w {
                    "info" => true,
                    "ok" => l.severity >= Severity::Ok,
                    "warning" => l.severity >= Severity::Warning,
                    "critical" => l.severity == Severity::Critical,
                    text => {
                        l.container.contains(text)
                            || l.event.contains(text)
                            || l.detail.contains(text)
                    }
                },
            })
        })
    }
}

/// A one-line diagnosis of a replica, after the reference's
/// troubleshooting table.
pub fn diagnose(r: &Replica, now: DateTime<Utc>) -> Option<String> {
    let limit = r
        .mem_limit
        .map(|m| crate::format::bytes(m as f64))
        .unwrap_or_else(|| "the host's memory".into());
    if r.oom_killed {
        return Some(format!(
            "out of memory: the {limit} limit was reached and the kernel killed it (exit {}); raise the memory limit",
            r.exit_code
        ));
    }
    if !r.is_running() && r.exit_code == 137 {
        return Some(
            "exit 137: killed with SIGKILL (out of memory, or a stop that timed out); check its memory limit"
                .into(),
        );
    }
    if r.restart_count >= LOOP_DEATHS as i64 && r.state == crate::model::State::Restarting {
        return Some(format!(
            "crash loop: restarted {} times, last exit {}; read its logs",
            r.restart_count, r.exit_code
        ));
    }
    if r.health == crate::model::Health::Unhealthy {
        let last = r
            .health_log
            .last()
            .map(|p| format!(": last probe exit {}, {}", p.exit_code, p.output.trim()))
            .unwrap_or_default();
        return Some(format!("unhealthy{last}"));
    }
    if r.health == crate::model::Health::Starting
        && let (Some(started), Some(period)) = (r.started_at, r.start_period)
        && now - started > period
    {
        return Some(format!(
            "slow start: still starting after {} s, beyond its {} s start period; raise the health check's start_period or look at its logs",
            (now - started).num_seconds(),
            period.num_seconds()
        ));
    }
    if !r.is_running() && r.exit_code != 0 {
        return Some(format!(
            "stopped with exit {}: read its last log lines",
            r.exit_code
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn line(service: &str, event: &str, detail: &str, t: i64) -> Line {
        Line {
            time: DateTime::from_timestamp(1_800_000_000 + t, 0).unwrap(),
            host: "local".into(),
            layer: "data".into(),
            team: String::new(),
            service: service.into(),
            container: format!("{service}-1"),
            id: Some("x".into()),
            event: event.into(),
            detail: detail.into(),
            severity: Severity::Info,
        }
    }

    #[test]
    fn events_read_as_what_went_wrong() {
        assert_eq!(
            classify("die", &attrs(&[("exitCode", "137")])).2,
            Severity::Critical
        );
        assert_eq!(classify("die", &attrs(&[("exitCode", "3")])).1, "exit 3");
        assert_eq!(
            classify("die", &attrs(&[("exitCode", "0")])).2,
            Severity::Info
        );
        assert_eq!(classify("oom", &attrs(&[])).2, Severity::Critical);
        assert_eq!(
            classify("health_status: unhealthy", &attrs(&[])),
            (
                "unhealthy".into(),
                "health check".into(),
                Severity::Critical
            )
        );
        assert_eq!(
            classify("health_status: healthy", &attrs(&[])).2,
            Severity::Ok
        );
        assert_eq!(classify("kill", &attrs(&[("signal", "15")])).1, "signal 15");
    }

    #[test]
    fn alerts_count_until_acknowledged_and_loops_are_found() {
        let mut t = Timeline::new(100);
        t.push(line("db", "oom", "", 0));
        t.push(line("db", "die", "exit 137: killed", 1));
        t.push(line("web", "unhealthy", "", 2));
        assert_eq!(t.alerts["db"].oom, 1);
        assert_eq!(t.alerts["db"].exit_137, 1);
        assert_eq!(t.alert_total(), 3);
        // Three deaths in five minutes: one restart loop (not one per death).
        for i in 0..5 {
            t.push(line("worker", "die", "exit 3", 10 + i * 30));
        }
        assert_eq!(t.alerts["worker"].restart_loops, 1);
        assert!(t.lines.iter().any(|l| l.event == "restart loop"));
        t.acknowledge();
        assert_eq!(t.alert_total(), 0);
        // Stopped on purpose (a signal first), even killed after the grace
        // period, replica after replica: no alert, no loop.
        for i in 0..8 {
            let mut kill = line("team", "kill", "signal 15", 100 + i * 5);
            let mut die = line("team", "die", "exit 137", 101 + i * 5);
            kill.id = Some(format!("r{i}"));
            die.id = kill.id.clone();
            t.push(kill);
            t.push(die);
        }
        assert_eq!(t.alert_total(), 0, "{:?}", t.alerts);
        // Bounded.
        let mut t = Timeline::new(10);
        for i in 0..50 {
            t.push(line("web", "start", "", i));
        }
        assert_eq!(t.lines.len(), 10);
        assert_eq!(t.lines.front().unwrap().time.timestamp(), 1_800_000_040);
    }

    #[test]
    fn filters_by_place_severity_and_text() {
        let mut t = Timeline::new(100);
        let mut a = line("db", "oom", "", 0);
        a.severity = Severity::Critical;
        t.push(a);
        let mut b = line("web", "die", "exit 3", 1);
        b.severity = Severity::Warning;
        b.layer = "frontend".into();
        t.push(b);
        let mut c = line("web", "start", "", 2);
        c.host = "n2".into();
        t.push(c);
        assert_eq!(t.filtered("").count(), 3);
        assert_eq!(t.filtered("host=n2").count(), 1);
        assert_eq!(t.filtered("warning").count(), 2);
        assert_eq!(t.filtered("critical").count(), 1);
        assert_eq!(t.filtered("layer=frontend").count(), 1);
        assert_eq!(t.filtered("service=web start").count(), 1);
        assert_eq!(
            t.filtered("").next().unwrap().event,
            "start",
            "newest first"
        );
    }
}
