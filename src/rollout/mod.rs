//! Rollouts: a new image (or a forced restart) rolled over a service's
//! replicas in batches, health-gated, with pause, resume, abort and
//! rollback; metric-gated canaries; Swarm's own rolling update; and
//! blue-green switches (which are plain operations: see `ops::pair`).
//!
//! The rules live here as pure functions (batches, the failure decision,
//! canary stage sizes, option parsing); `driver::compose` and `driver::swarm` drive Docker
//! with them and report a `View` after every change.

pub mod config;

use crate::journal::Outcome;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::ServiceId;
pub use config::{Gate, Stage};

/// What kind of rollout a view is of. Journalled by its word, which an
/// agile-deck started later reads back (recovery).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    RollingUpdate,
    /// An interrupted rolling update taken over and finished.
    ResumedRollingUpdate,
    /// An interrupted rollout taken back to where it started.
    RecoveryRollBack,
    Canary,
    /// Swarm's own update, followed.
    SwarmUpdate,
    SwarmRollback,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::RollingUpdate,
        Kind::ResumedRollingUpdate,
        Kind::RecoveryRollBack,
        Kind::Canary,
        Kind::SwarmUpdate,
        Kind::SwarmRollback,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Kind::RollingUpdate => "rolling update",
            Kind::ResumedRollingUpdate => "resumed rolling update",
            Kind::RecoveryRollBack => "recovery roll back",
            Kind::Canary => "canary",
            Kind::SwarmUpdate => "swarm update",
            Kind::SwarmRollback => "swarm rollback",
        }
    }

    pub fn from_word(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.word() == word)
    }

    /// Swarm runs it (agile-deck follows): it cannot be paused or aborted
    /// on request, nor resumed after a crash.
    pub fn is_swarm(self) -> bool {
        matches!(self, Kind::SwarmUpdate | Kind::SwarmRollback)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Stop the old replica, then start the new one (capacity dips).
    StopFirst,
    /// Start the new replica next to the old one, then stop the old one.
    StartFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFailure {
    Pause,
    Continue,
    Rollback,
}

impl Order {
    pub fn word(self) -> &'static str {
        match self {
            Order::StopFirst => "stop-first",
            Order::StartFirst => "start-first",
        }
    }
}

impl OnFailure {
    pub fn word(self) -> &'static str {
        match self {
            OnFailure::Pause => "pause",
            OnFailure::Continue => "continue",
            OnFailure::Rollback => "rollback",
        }
    }
}

/// How a rolling update proceeds. Defaults are Swarm's.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub parallelism: usize,
    pub delay: Duration,
    /// Swarm's `--update-monitor`: after a new replica is up (healthy, or
    /// running without a health check), how long it is watched; dying or
    /// turning unhealthy within it counts as a failure.
    pub monitor: Duration,
    /// How long a new replica may take to become healthy (never less than
    /// one health-check cycle). Compose-style rollouts only: Swarm waits
    /// for health by its own rules.
    pub healthy_within: Duration,
    pub on_failure: OnFailure,
    /// Failures tolerated, as a share of the replicas (0: none).
    pub max_ratio: f64,
    pub order: Order,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            parallelism: 1,
            delay: Duration::ZERO,
            monitor: Duration::from_secs(5),
            healthy_within: Duration::from_secs(60),
            on_failure: OnFailure::Pause,
            max_ratio: 0.0,
            order: Order::StopFirst,
        }
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: a duration is like 500ms, 5s, 2m or 1h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: the units are ms, s, m and h")),
    };
    if !secs.is_finite() || secs > 7.0 * 86400.0 {
        return Err(format!("{s:?}: at most a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `90s` rather than `90.000s`, `1.5s`, `250ms`, `2m`.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Spec {
    /// Apply one `key=value` option of `:rollout`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "parallelism" => {
                self.parallelism = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| format!("parallelism={value}: give a number from 1"))?
            }
            "delay" => self.delay = parse_duration(value)?,
            "monitor" => self.monitor = parse_duration(value)?,
            "healthy-within" | "healthy_within" => self.healthy_within = parse_duration(value)?,
            "failure" | "failure_action" => {
                self.on_failure = match value {
                    "pause" => OnFailure::Pause,
                    "continue" => OnFailure::Continue,
                    "rollback" => OnFailure::Rollback,
                    _ => return Err(format!("failure={value}: pause, continue or rollback")),
                }
            }
            "ratio" | "max_failure_ratio" => {
                self.max_ratio = value
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .ok_or_else(|| format!("ratio={value}: a share from 0 to 1"))?
            }
            "order" => {
                self.order = match value {
                    "stop-first" => Order::StopFirst,
                    "start-first" => Order::StartFirst,
                    _ => return Err(format!("order={value}: stop-first or start-first")),
                }
            }
            _ => {
                return Err(format!(
                    "unknown option {key}: parallelism, delay, monitor, healthy-within, failure, ratio, order"
                ));
            }
        }
        Ok(())
    }

    /// "parallelism 2 · delay 0s · healthy within 1m · monitor 5s · on
    /// failure pause (ratio 0) · stop-first".
    pub fn summary(&self) -> String {
        format!(
            "parallelism {} · delay {} · healthy within {} · monitor {} · on failure {} (ratio {}) · {}",
            self.parallelism,
            duration_text(self.delay),
            duration_text(self.healthy_within),
            duration_text(self.monitor),
            self.on_failure.word(),
            self.max_ratio,
            self.order.word()
        )
    }
}

/// What a rollout changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Every replica onto this image.
    Image(String),
    /// Same image, new containers (Swarm's `--force`).
    Restart,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Batches of `parallelism` until every replica is replaced.
    Rolling,
    /// Stages of a growing share of new replicas, gated by Prometheus.
    Canary(Vec<Stage>),
    /// Swarm rolls back to the previous spec.
    SwarmRollback,
}

/// A confirmed rollout, as handed to a driver.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub service: ServiceId,
    /// Swarm's service id; None for Compose-style services.
    pub swarm_id: Option<String>,
    pub change: Change,
    pub mode: Mode,
    pub spec: Spec,
    /// Replica container ids in the order they are replaced.
    pub replicas: Vec<String>,
    /// Taking over a rollout an earlier agile-deck left unfinished.
    pub resume: Option<Resume>,
}

/// A rollout found unfinished in the journal (`recovery`), to finish or
/// to roll back. Its replicas are found by name, as they are now.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The interrupted rollout's journal identity.
    pub run: String,
    pub op: u64,
    pub names: Vec<String>,
    pub from: String,
    pub to: String,
    /// Roll back to `from` instead of going on to `to`.
    pub back: bool,
}

/// What the user can tell a running rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Rollback,
    Abort,
}

impl Control {
    pub fn word(self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Rollback => "rollback",
            Control::Abort => "abort",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Rolling,
    /// Waiting for the user (resume, rollback or abort), and why.
    Paused(String),
    RollingBack,
    Done,
    RolledBack,
    Aborted,
    Failed(String),
}

impl Phase {
    pub fn finished(&self) -> bool {
        matches!(
            self,
            Phase::Done | Phase::RolledBack | Phase::Aborted | Phase::Failed(_)
        )
    }

    /// One word for tables: rolling, paused, rolling back, done…
    pub fn short(&self) -> &'static str {
        match self {
            Phase::Rolling => "rolling",
            Phase::Paused(_) => "paused",
            Phase::RollingBack => "rolling back",
            Phase::Done => "done",
            Phase::RolledBack => "rolled back",
            Phase::Aborted => "aborted",
            Phase::Failed(_) => "failed",
        }
    }

    /// The journal's word for it, and the error to record with it.
    pub fn outcome(&self) -> (Outcome, String) {
        match self {
            Phase::Done => (Outcome::Done, String::new()),
            Phase::RolledBack => (Outcome::RolledBack, String::new()),
            Phase::Aborted => (Outcome::Aborted, String::new()),
            Phase::Failed(why) => (Outcome::Failed, why.clone()),
            other => (Outcome::Other(other.word()), String::new()),
        }
    }

    pub fn word(&self) -> String {
        match self {
            Phase::Rolling => "rolling".into(),
            Phase::Paused(why) => format!("paused: {why}"),
            Phase::RollingBack => "rolling back".into(),
            Phase::Done => "done".into(),
            Phase::RolledBack => "rolled back".into(),
            Phase::Aborted => "aborted".into(),
            Phase::Failed(why) => format!("failed: {why}"),
        }
    }
}

/// Where one replica is in a rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    Waiting,
    Replacing,
    /// On the new image and healthy.
    Replaced,
    /// The new replica did not become healthy; the old one is kept or will
    /// be restored.
    Failed,
    Restoring,
    /// Back on the old image.
    Restored,
}

impl SlotState {
    pub fn symbol(&self) -> &'static str {
        match self {
            SlotState::Waiting => "·",
            SlotState::Replacing | SlotState::Restoring => "▶",
            SlotState::Replaced => "✔",
            SlotState::Failed => "✖",
            SlotState::Restored => "↺",
        }
    }
}

/// One replica's line in the Rollouts pane.
#[derive(Clone, Debug, PartialEq)]
pub struct SlotView {
    pub name: String,
    pub from: String,
    pub to: String,
    pub state: SlotState,
    /// Health of the replica it now runs: healthy, starting, unhealthy…
    pub health: String,
    /// Seconds the last replacement took.
    pub took: Option<f64>,
    pub note: String,
}

/// A rollout as the app shows it; the driver sends a new one per change.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub id: u64,
    pub service: ServiceId,
    pub what: Kind,
    pub from: String,
    pub to: String,
    pub spec: Spec,
    pub phase: Phase,
    pub slots: Vec<SlotView>,
    pub failures: usize,
    /// Canary: the stage under way (1-based) and how many there are.
    pub stage: Option<(usize, usize)>,
    /// The latest thing that happened, in words.
    pub message: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
}

/// The replicas (indexes) of each batch, in order.
pub fn batches(n: usize, parallelism: usize) -> Vec<std::ops::Range<usize>> {
    let p = parallelism.max(1);
    (0..n.div_ceil(p))
        .map(|b| b * p..((b + 1) * p).min(n))
        .collect()
}

/// After a batch: go on, or the failure action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Go,
    Pause,
    Continue,
    Rollback,
}

/// Swarm's rule: the failure action applies once failures exceed
/// `max_ratio` of the replicas (with ratio 0, at the first failure).
pub fn decide(failures: usize, replicas: usize, spec: &Spec) -> Decision {
    if failures == 0 || (failures as f64) <= spec.max_ratio * replicas as f64 {
        return Decision::Go;
    }
    match spec.on_failure {
        OnFailure::Pause => Decision::Pause,
        OnFailure::Continue => Decision::Continue,
        OnFailure::Rollback => Decision::Rollback,
    }
}

/// How many of `n` replicas run the new version at a canary stage of
/// `weight`: at least one, rounded up, at most all.
pub fn canary_count(n: usize, weight: f64) -> usize {
    ((n as f64 * weight).ceil() as usize).clamp(1, n.max(1))
}

/// The longest a new replica may take to become healthy: `healthy_within`,
/// but never less than one health-check cycle (interval + timeout + 1 s),
/// so a good image is not failed before it was checked.
pub fn health_deadline(healthy_within: Duration, check: Option<(Duration, Duration)>) -> Duration {
    match check {
        Some((interval, timeout)) => {
            healthy_within.max(interval + timeout + Duration::from_secs(1))
        }
        None => healthy_within,
    }
}

/// The options of `:rollout SERVICE image=REF|restart [key=value…]` on top
/// of `spec` (the service's defaults); the change asked.
pub fn parse_args(args: &[&str], spec: &mut Spec) -> Result<Change, String> {
    let mut change = None;
    for a in args {
        if *a == "restart" {
            change = Some(Change::Restart);
            continue;
        }
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("{a:?}: options are key=value (image=REF, parallelism=N …)"))?;
        if k == "image" {
            if v.is_empty() {
                return Err("image= needs an image reference".into());
            }
            change = Some(Change::Image(v.to_string()));
        } else {
            spec.set(k, v)?;
        }
    }
    change.ok_or_else(|| "say what to roll out: image=REF, or restart".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_swarms() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("9999h").is_err());
        assert_eq!(duration_text(Duration::from_millis(500)), "500ms");
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
        assert_eq!(duration_text(Duration::from_secs(30)), "30s");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn options_parse_over_the_defaults() {
        let mut spec = Spec::default();
        let change = parse_args(
            &[
                "image=agile-sim:v2",
                "parallelism=2",
                "delay=500ms",
                "monitor=2m",
                "healthy-within=90s",
                "failure=rollback",
                "ratio=0.25",
                "order=start-first",
            ],
            &mut spec,
        )
        .unwrap();
        assert_eq!(change, Change::Image("agile-sim:v2".into()));
        assert_eq!(
            spec,
            Spec {
                parallelism: 2,
                delay: Duration::from_millis(500),
                monitor: Duration::from_secs(120),
                healthy_within: Duration::from_secs(90),
                on_failure: OnFailure::Rollback,
                max_ratio: 0.25,
                order: Order::StartFirst,
            }
        );
        assert_eq!(
            parse_args(&["restart"], &mut Spec::default()).unwrap(),
            Change::Restart
        );
        for bad in [
            &["parallelism=0", "restart"][..],
            &["failure=explode", "restart"],
            &["ratio=2", "restart"],
            &["order=sideways", "restart"],
            &["colour=blue", "restart"],
            &["image="],
            &["parallelism=2"],
            &["agile-sim:v2"],
        ] {
            assert!(parse_args(bad, &mut Spec::default()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn batches_cover_every_replica_once() {
        assert_eq!(batches(6, 2), vec![0..2, 2..4, 4..6]);
        assert_eq!(batches(5, 2), vec![0..2, 2..4, 4..5]);
        assert_eq!(batches(3, 1), vec![0..1, 1..2, 2..3]);
        assert_eq!(batches(2, 10), vec![0..2]);
        assert_eq!(batches(0, 1), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn the_failure_action_waits_for_the_ratio() {
        let mut spec = Spec::default();
        assert_eq!(decide(0, 6, &spec), Decision::Go);
        assert_eq!(decide(1, 6, &spec), Decision::Pause);
        spec.on_failure = OnFailure::Rollback;
        spec.max_ratio = 0.25;
        // 1 of 6 is under a quarter, 2 of 6 is over.
        assert_eq!(decide(1, 6, &spec), Decision::Go);
        assert_eq!(decide(2, 6, &spec), Decision::Rollback);
        spec.on_failure = OnFailure::Continue;
        assert_eq!(decide(2, 6, &spec), Decision::Continue);
    }

    #[test]
    fn canary_stages_round_up_and_keep_one() {
        assert_eq!(canary_count(6, 0.1), 1);
        assert_eq!(canary_count(6, 0.34), 3);
        assert_eq!(canary_count(6, 0.5), 3);
        assert_eq!(canary_count(6, 1.0), 6);
        assert_eq!(canary_count(1, 0.1), 1);
    }

    #[test]
    fn a_good_image_gets_one_health_check_cycle() {
        let s = Duration::from_secs;
        assert_eq!(health_deadline(s(5), None), s(5));
        assert_eq!(health_deadline(s(5), Some((s(5), s(2)))), s(8));
        assert_eq!(health_deadline(s(60), Some((s(5), s(2)))), s(60));
    }
}
