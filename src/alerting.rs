//! Alerts when nobody looks: conditions the app finds true now become
//! firing and resolved notices (`Tracker`: a notice per change, never one
//! per evaluation), delivered to a webhook (JSON POST with a
//! Slack-compatible `text`) and/or a command (the notice as JSON on its
//! stdin) by `Notifier`, off the recording path: rate-limited, each
//! failed delivery retried with backoff and logged.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// What is wrong, as the dashboard already raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Oom,
    Exit137,
    RestartLoop,
    Unhealthy,
    ZoneBreach,
    Metric,
    Policy,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Oom,
        Kind::Exit137,
        Kind::RestartLoop,
        Kind::Unhealthy,
        Kind::ZoneBreach,
        Kind::Metric,
        Kind::Policy,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Kind::Oom => "oom",
            Kind::Exit137 => "exit 137",
            Kind::RestartLoop => "restart loop",
            Kind::Unhealthy => "unhealthy",
            Kind::ZoneBreach => "zone breach",
            Kind::Metric => "metric",
            Kind::Policy => "scaling policy",
        }
    }
}

/// A condition true now: one per (kind, target, metric).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub kind: Kind,
    /// The service, row or network it is about.
    pub target: String,
    /// `critical` or `warning`.
    pub severity: &'static str,
    pub summary: String,
    /// For a metric: its name (so two metrics of a row are two alerts).
    pub metric: Option<String>,
}

impl Condition {
    fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.kind.word(),
            self.target,
            self.metric.as_deref().unwrap_or("")
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

/// One notice, as delivered (the webhook's body, the command's stdin).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
    pub status: Status,
    pub kind: Kind,
    pub target: String,
    pub severity: &'static str,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Where it was seen (the recording host's name for the deployment).
    pub source: String,
    /// Slack's (and Mattermost's, Teams' legacy hooks') message field.
    pub text: String,
}

/// Turns what is true at each evaluation into notices: a condition that
/// appears fires once, one that stays is not said again, one that goes
/// is resolved once. A condition that comes back within `flap` of its
/// resolution is taken up again silently (no new firing).
#[derive(Debug, Default)]
pub struct Tracker {
    firing: BTreeMap<String, (Condition, DateTime<Utc>)>,
    /// Just resolved, and when: a quick return is a flap.
    resolved: BTreeMap<String, DateTime<Utc>>,
    /// Resumed from a recording: nothing is resolved until this (set at
    /// the first evaluation), while the hosts are listed and Prometheus
    /// first answers; before, an alert still true would look gone.
    settling: Option<Settling>,
}

#[derive(Debug)]
enum Settling {
    Resumed,
    Until(DateTime<Utc>),
}

const FLAP: chrono::Duration = chrono::Duration::seconds(60);
/// How long a resumed tracker waits before it resolves what it does not
/// see (the hosts listed, Prometheus's first answers in).
const SETTLE: chrono::Duration = chrono::Duration::seconds(60);

impl Tracker {
    pub fn update(
        &mut self,
        now: DateTime<Utc>,
        conditions: Vec<Condition>,
        source: &str,
    ) -> Vec<Notice> {
        let mut out = Vec::new();
        let mut seen = BTreeMap::new();
        for c in conditions {
            seen.insert(c.key(), c);
        }
        let settling = match self.settling {
            Some(Settling::Resumed) => {
                self.settling = Some(Settling::Until(now + SETTLE));
                true
            }
            Some(Settling::Until(t)) if now < t => true,
            _ => {
                self.settling = None;
                false
            }
        };
        let gone: Vec<String> = self
            .firing
            .keys()
            .filter(|k| !settling && !seen.contains_key(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some((c, since)) = self.firing.remove(&k) {
                self.resolved.insert(k, now);
                out.push(notice(Status::Resolved, &c, since, Some(now), source));
            }
        }
        self.resolved.retain(|_, t| now - *t < FLAP);
        for (k, c) in seen {
            match self.firing.get_mut(&k) {
                // The summary may change (3 → 4 unhealthy): not a new alert.
                Some(kept) => kept.0 = c,
                None => {
                    if self.resolved.remove(&k).is_none() {
                        out.push(notice(Status::Firing, &c, now, None, source));
                    } else {
                        log::info!("alert {k} is back within a minute: not sent again");
                    }
                    self.firing.insert(k, (c, now));
                }
            }
        }
        out
    }

    pub fn firing(&self) -> usize {
        self.firing.len()
    }

    /// A tracker that goes on from the notices a recorder wrote before
    /// (oldest first, as `recorded` reads them): an alert whose last
    /// notice was firing is firing still, since then. So a recorder that
    /// starts again does not send it twice, and resolves it when it goes.
    pub fn resume(
        recorded: impl IntoIterator<Item = (DateTime<Utc>, Status, Condition)>,
    ) -> Tracker {
        let mut t = Tracker {
            settling: Some(Settling::Resumed),
            ..Tracker::default()
        };
        for (at, status, c) in recorded {
            match status {
                Status::Firing => {
                    t.firing.insert(c.key(), (c, at));
                }
                Status::Resolved => {
                    t.firing.remove(&c.key());
                }
            }
        }
        t
    }
}

impl Notice {
    /// The notice as the recorder keeps it (an event's detail):
    /// `firing oom: 2 in the last 5 min`; `recorded` reads it back.
    pub fn recorded_detail(&self) -> String {
        let status = match self.status {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        };
        format!("{status} {}: {}", self.kind.word(), self.summary)
    }
}

/// A notice about `target` as the recorder kept it (`recorded_detail`):
/// whether it fired or resolved, and its condition. None for a detail
/// that is not one.
pub fn recorded(target: &str, severity: &str, detail: &str) -> Option<(Status, Condition)> {
    let (status, rest) = if let Some(rest) = detail.strip_prefix("firing ") {
        (Status::Firing, rest)
    } else {
        (Status::Resolved, detail.strip_prefix("resolved ")?)
    };
    let (kind, summary) = Kind::ALL.iter().find_map(|k| {
        rest.strip_prefix(k.word())
            .and_then(|s| s.strip_prefix(": "))
            .map(|s| (*k, s))
    })?;
    Some((
        status,
        Condition {
            kind,
            target: target.to_string(),
            severity: if severity == "critical" {
                "critical"
            } else {
                "warning"
            },
            // A metric's summary starts with its name (`P99 = 1.2s …`).
            metric: (kind == Kind::Metric)
                .then(|| summary.split(" = ").next().unwrap_or_default().to_string()),
            summary: summary.to_string(),
        },
    ))
}

fn notice(
    status: Status,
    c: &Condition,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    source: &str,
) -> Notice {
    let word = match status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    Notice {
        status,
        kind: c.kind,
        target: c.target.clone(),
        severity: c.severity,
        summary: c.summary.clone(),
        metric: c.metric.clone(),
        started_at,
        ended_at,
        source: source.to_string(),
        text: format!(
            "[{word}] {} {} on {}: {} (agile-deck, {source})",
            c.severity,
            c.kind.word(),
            c.target,
            c.summary
        ),
    }
}

/// Where and how alerts go: the config's `[alerts]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sinks {
    /// POSTed the notice as JSON.
    pub webhook: Option<String>,
    /// Run with `sh -c`, the notice as JSON on its stdin.
    pub command: Option<String>,
    /// At most this many notices a minute; more wait their turn.
    #[serde(default = "per_minute")]
    pub per_minute: u32,
    /// Tries of one delivery before it is given up (logged).
    #[serde(default = "attempts")]
    pub attempts: u32,
    /// Seconds before the first retry; doubled each time, up to 5 min.
    #[serde(default = "backoff")]
    pub backoff: f64,
}

fn per_minute() -> u32 {
    20
}
fn attempts() -> u32 {
    6
}
fn backoff() -> f64 {
    2.0
}

impl Sinks {
    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && self.command.is_none()
    }

    /// A webhook that is not an http(s) URL, or no way to deliver at all,
    /// is the config's mistake: said before anything starts.
    pub fn check(&self) -> Result<(), String> {
        if self.is_empty() {
            return Err("[alerts] needs a webhook or a command".into());
        }
        if let Some(url) = &self.webhook {
            let parsed =
                reqwest::Url::parse(url).map_err(|e| format!("[alerts] webhook {url:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("[alerts] webhook {url:?}: use http:// or https://"));
            }
        }
        if self.attempts == 0 || self.per_minute == 0 {
            return Err("[alerts] attempts and per_minute must be at least 1".into());
        }
        Ok(())
    }
}

/// What became of deliveries, for the log, the engine line and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub dropped: u64,
}

/// The delivering task: `send` never waits.
pub struct Notifier {
    tx: mpsc::Sender<Notice>,
    pub delivered: std::sync::Arc<std::sync::Mutex<Delivered>>,
}

/// Notices waiting for delivery before new ones are dropped (counted).
const QUEUE: usize = 256;

impl Notifier {
    pub fn start(sinks: Sinks) -> Notifier {
        let (tx, mut rx) = mpsc::channel::<Notice>(QUEUE);
        let delivered = std::sync::Arc::new(std::sync::Mutex::new(Delivered::default()));
        let counts = delivered.clone();
        // As the Prometheus client: ring, which bollard's TLS brings.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .user_agent(concat!("agile-deck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| log::error!("alerts: cannot build the HTTP client, webhook off: {e}"))
            .ok();
        tokio::spawn(async move {
            let every = StdDuration::from_secs_f64(60.0 / f64::from(sinks.per_minute.max(1)));
            let mut pace = tokio::time::interval(every);
            pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while let Some(n) = rx.recv().await {
                pace.tick().await;
                let body = serde_json::to_vec(&n).expect("a notice is JSON");
                // Each delivery retries on its own: a dead endpoint holds
                // up neither the next notice nor the other sink.
                if let (Some(url), Some(client)) = (sinks.webhook.clone(), client.clone()) {
                    let (client, body, counts, sinks) =
                        (client.clone(), body.clone(), counts.clone(), sinks.clone());
                    tokio::spawn(async move {
                        deliver(&sinks, &counts, &format!("webhook {url}"), || {
                            let req = client
                                .post(&url)
                                .header("content-type", "application/json")
                                .body(body.clone());
                            async move {
                                let r = req.send().await.map_err(|e| e.to_string())?;
                                if r.status().is_success() {
                                    Ok(())
                                } else {
                                    Err(format!("HTTP {}", r.status()))
                                }
                            }
                        })
                        .await;
                    });
                }
                if let Some(cmd) = sinks.command.clone() {
                    // One JSON line: `cat >> file` keeps a readable log.
                    let mut body = body.clone();
                    body.push(b'\n');
                    let (counts, sinks) = (counts.clone(), sinks.clone());
                    tokio::spawn(async move {
                        deliver(&sinks, &counts, &format!("command {cmd}"), || {
                            run_command(cmd.clone(), body.clone())
                        })
                        .await;
                    });
                }
            }
        });
        Notifier { tx, delivered }
    }

    pub fn send(&self, n: Notice) {
        if self.tx.try_send(n).is_err() {
            self.delivered.lock().expect("not poisoned").dropped += 1;
            log::warn!("alerts: the delivery queue is full; a notice was dropped");
        }
    }
}

async fn deliver<F, Fut>(
    sinks: &Sinks,
    counts: &std::sync::Mutex<Delivered>,
    what: &str,
    attempt: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut wait = StdDuration::from_secs_f64(sinks.backoff.max(0.01));
    for n in 1..=sinks.attempts.max(1) {
        match attempt().await {
            Ok(()) => {
                counts.lock().expect("not poisoned").sent += 1;
                return;
            }
            Err(e) if n < sinks.attempts => {
                log::warn!("alerts: {what} failed ({e}); try {} in {:.0?}", n + 1, wait);
                counts.lock().expect("not poisoned").retried += 1;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(StdDuration::from_secs(300));
            }
            Err(e) => {
                log::error!("alerts: {what} failed {n} times, given up: {e}");
                counts.lock().expect("not poisoned").failed += 1;
            }
        }
    }
}

async fn run_command(cmd: String, body: Vec<u8>) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body).await.map_err(|e| e.to_string())?;
    }
    let out = tokio::time::timeout(StdDuration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| "no end within 30 s".to_string())?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: Kind, target: &str, summary: &str) -> Condition {
        Condition {
            kind,
            target: target.into(),
            severity: "critical",
            summary: summary.into(),
            metric: None,
        }
    }

    #[test]
    fn a_condition_fires_once_and_resolves_once() {
        let mut t = Tracker::default();
        let t0 = Utc::now();
        let s = |n: i64| t0 + chrono::Duration::seconds(n);
        let fired = t.update(s(0), vec![c(Kind::Unhealthy, "api", "1 unhealthy")], "h");
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].status, Status::Firing);
        assert!(
            fired[0]
                .text
                .starts_with("[FIRING] critical unhealthy on api")
        );
        // Still true, summary changed: nothing new.
        assert!(
            t.update(s(5), vec![c(Kind::Unhealthy, "api", "2 unhealthy")], "h")
                .is_empty()
        );
        let resolved = t.update(s(10), vec![], "h");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(resolved[0].summary, "2 unhealthy");
        assert_eq!(resolved[0].ended_at, Some(s(10)));
        assert!(t.update(s(15), vec![], "h").is_empty());
        // Back within a minute: a flap, taken up silently; resolved again
        // it is said again.
        assert!(
            t.update(s(20), vec![c(Kind::Unhealthy, "api", "1")], "h")
                .is_empty()
        );
        assert_eq!(t.update(s(25), vec![], "h").len(), 1);
        // Back after the minute: a new alert.
        assert_eq!(
            t.update(s(200), vec![c(Kind::Unhealthy, "api", "1")], "h")
                .len(),
            1
        );
    }

    #[test]
    fn a_recorder_started_again_goes_on_from_the_notices_it_recorded() {
        let t0 = Utc::now();
        let s = |n: i64| t0 + chrono::Duration::seconds(n);
        // What the last recorder sent, as its events kept it.
        let mut before = Tracker::default();
        let mut notices = before.update(
            s(0),
            vec![
                c(Kind::Oom, "web", "1 in the last 5 min"),
                c(Kind::Unhealthy, "api", "1 unhealthy: api-1"),
                Condition {
                    metric: Some("P99".into()),
                    ..c(Kind::Metric, "execution", "P99 = 1.2s (threshold 1s)")
                },
            ],
            "h",
        );
        notices.extend(
            before
                .update(s(5), vec![], "h")
                .into_iter()
                .filter(|n| n.target == "api"),
        );
        let kept: Vec<_> = notices
            .iter()
            .map(|n| {
                let severity = match n.status {
                    Status::Firing => n.severity,
                    Status::Resolved => "ok",
                };
                let (status, c) = recorded(&n.target, severity, &n.recorded_detail()).unwrap();
                assert_eq!(
                    (status, &c.kind, c.metric.as_ref()),
                    (n.status, &n.kind, n.metric.as_ref())
                );
                (n.started_at, status, c)
            })
            .collect();
        assert_eq!(kept.len(), 4, "three fired, api resolved");
        assert!(recorded("x", "ok", "an operation's detail").is_none());

        let mut t = Tracker::resume(kept);
        assert_eq!(t.firing(), 2);
        // Still true: not sent again. Not seen yet (the hosts not listed,
        // Prometheus not answered): not resolved before a minute.
        let still = vec![c(Kind::Oom, "web", "1 in the last 5 min")];
        assert!(t.update(s(100), still.clone(), "h").is_empty());
        assert!(t.update(s(150), still.clone(), "h").is_empty());
        // Then what is gone is resolved, from when it fired.
        let resolved = t.update(s(161), still, "h");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, Status::Resolved);
        assert_eq!(resolved[0].metric.as_deref(), Some("P99"));
        assert_eq!(resolved[0].started_at, s(0));
    }
}
