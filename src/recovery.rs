//! What an earlier agile-deck left unfinished: operations and rollouts
//! with steps in the journal and no result line (it was killed, crashed or
//! lost its terminal mid-way). Found at start, shown, and — for a
//! Compose-style rollout, whose plan the journal's `params` carry — resumed
//! or rolled back by a driver that looks at the containers as they are now
//! (`rollout::compose`), never at what the journal remembers of them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::journal::Entry;

/// One unfinished operation or rollout, as the journal tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Interrupted {
    pub run: String,
    pub op: u64,
    /// "rollout", "scale", "resize"…
    pub operation: String,
    pub target: String,
    pub host: String,
    pub user: String,
    pub params: Value,
    /// The steps it journalled: (number, what, outcome), in order.
    pub steps: Vec<(usize, String, crate::journal::Outcome)>,
    pub last_time: String,
    /// Why it cannot be acted on, if it cannot: another host's, a record
    /// whose first steps are not in this file (rotated), or a process that
    /// still runs.
    pub refused: Option<String>,
}

impl Interrupted {
    fn str_param(&self, key: &str) -> &str {
        self.params[key].as_str().unwrap_or_default()
    }

    pub fn from(&self) -> &str {
        self.str_param("from")
    }

    pub fn to(&self) -> &str {
        self.str_param("to")
    }

    /// The service's name (`target` is "service NAME").
    pub fn service(&self) -> &str {
        self.target.strip_prefix("service ").unwrap_or(&self.target)
    }

    /// The replicas the rollout covers, by name (journalled with every
    /// step since this version).
    pub fn replicas(&self) -> Vec<String> {
        self.params["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }

    /// A Compose-style rollout this version can take over: an image
    /// change, with its replicas and both images recorded.
    pub fn resumable(&self) -> Result<(), String> {
        if let Some(why) = &self.refused {
            return Err(why.clone());
        }
        if self.operation != "rollout" {
            return Err(format!(
                "an interrupted {}: its steps are listed; check the service and run it again",
                self.operation
            ));
        }
        if self.kind().is_some_and(crate::rollout::Kind::is_swarm) {
            return Err(format!(
                "a {}: Swarm keeps its own state (look at the service)",
                self.str_param("what")
            ));
        }
        if self.replicas().is_empty() || self.from().is_empty() || self.to().is_empty() {
            return Err(
                "the journal does not record its replicas (written by an older agile-deck)".into(),
            );
        }
        Ok(())
    }

    /// The kind of rollout it was, as journalled.
    fn kind(&self) -> Option<crate::rollout::Kind> {
        crate::rollout::Kind::from_word(self.str_param("what"))
    }

    /// It was itself rolling an earlier interrupted rollout back: going
    /// on means going on back.
    pub fn was_rolling_back(&self) -> bool {
        self.kind() == Some(crate::rollout::Kind::RecoveryRollBack)
    }

    /// "3 steps: 2 done, 1 failed; last at 14:02:11".
    pub fn summary(&self) -> String {
        let done = self.steps.iter().filter(|s| s.2 == "done").count();
        let failed = self
            .steps
            .iter()
            .filter(|s| s.2 == crate::journal::Outcome::Failed)
            .count();
        let time = self
            .last_time
            .get(11..19)
            .unwrap_or(self.last_time.as_str());
        format!(
            "{} step{}: {done} done{}; last at {time} UTC",
            self.steps.len(),
            if self.steps.len() == 1 { "" } else { "s" },
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        )
    }
}

/// The process id a run was started by (`run` is "START-pPID").
fn pid_of(run: &str) -> Option<u32> {
    run.rsplit_once("-p").and_then(|(_, p)| p.parse().ok())
}

/// Whether an agile-deck with this pid still runs.
fn still_running(pid: u32) -> bool {
    pid != std::process::id()
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("agile-deck"))
}

/// Every operation with steps and no result, oldest first. `host` is the
/// daemon this agile-deck talks to: another's entries are listed, refused.
pub fn find(entries: impl IntoIterator<Item = Entry>, hosts: &[String]) -> Vec<Interrupted> {
    let mut open: BTreeMap<(String, u64), Interrupted> = BTreeMap::new();
    let mut order: Vec<(String, u64)> = Vec::new();
    for e in entries {
        let key = (e.run.clone(), e.op);
        if e.kind == "result" {
            open.remove(&key);
            continue;
        }
        let i = open.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Interrupted {
                run: e.run.clone(),
                op: e.op,
                operation: e.operation.clone(),
                target: e.target.clone(),
                host: e.host.clone(),
                user: e.user.clone(),
                params: e.params.clone(),
                steps: Vec::new(),
                last_time: String::new(),
                refused: None,
            }
        });
        i.steps
            .push((e.step.unwrap_or(0), e.what.clone(), e.outcome.clone()));
        i.params = e.params;
        i.last_time = e.time;
    }
    // Newest first: the latest is the one an operator just lived through.
    order
        .into_iter()
        .rev()
        .filter_map(|k| open.remove(&k))
        .map(|mut i| {
            i.refused = if !hosts.contains(&i.host) {
                Some(format!(
                    "journalled against {}, not a host watched now ({}): not acted on",
                    i.host,
                    hosts.join(", ")
                ))
            } else if i.steps.first().is_some_and(|s| s.0 > 1) {
                Some(format!(
                    "its record starts at step {} (the journal was rotated?): not acted on",
                    i.steps[0].0
                ))
            } else {
                pid_of(&i.run)
                    .filter(|p| still_running(*p))
                    .map(|p| format!("still running in agile-deck pid {p}"))
            };
            i
        })
        .collect()
}

/// The journal file's entries (lines that do not parse are passed over:
/// a torn last line after a crash).
pub fn read(path: &Path) -> Vec<Entry> {
    crate::journal::Journal::tail(path, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(run: &str, op: u64, kind: &str, step: usize, host: &str) -> Entry {
        Entry {
            time: format!("2026-11-29T14:02:1{step}.000Z"),
            run: run.into(),
            op,
            kind: kind.into(),
            user: "ops".into(),
            host: host.into(),
            operation: "rollout".into(),
            target: "service web".into(),
            params: json!({"what": "rolling update", "from": "a:1", "to": "a:2",
                           "replicas": ["web-1", "web-2"]}),
            step: (kind == "step").then_some(step),
            what: format!("step {step}"),
            before: Value::Null,
            after: Value::Null,
            cli: String::new(),
            outcome: crate::journal::Outcome::Done,
            detail: String::new(),
            error: String::new(),
        }
    }

    #[test]
    fn steps_without_a_result_are_interrupted() {
        let h = "local";
        let found = find(
            [
                entry("r1", 1, "step", 1, h),
                entry("r1", 1, "result", 0, h),
                entry("r1", 2, "step", 1, h),
                entry("r1", 2, "step", 2, h),
                entry("r2", 1, "step", 1, "tcp://prod:2376"),
                entry("r3", 1, "step", 3, h),
            ],
            &[h.to_string()],
        );
        assert_eq!(found.len(), 3);
        // Newest first.
        let ours = &found[2];
        assert_eq!((ours.run.as_str(), ours.op), ("r1", 2));
        assert_eq!(ours.steps.len(), 2);
        assert_eq!(ours.replicas(), ["web-1", "web-2"]);
        assert_eq!(ours.service(), "web");
        assert!(ours.resumable().is_ok());
        assert_eq!(ours.summary(), "2 steps: 2 done; last at 14:02:12 UTC");
        assert!(
            found[1]
                .resumable()
                .unwrap_err()
                .contains("not a host watched now (local)")
        );
        assert!(found[0].resumable().unwrap_err().contains("rotated"));
    }

    #[test]
    fn a_run_that_still_runs_is_not_taken_over() {
        // Our own pid is "us", not another agile-deck: taken over.
        let run = format!("r-p{}", std::process::id());
        let found = find([entry(&run, 1, "step", 1, "h")], &["h".into()]);
        assert_eq!(found[0].refused, None);
        assert_eq!(pid_of("20261129T140211.000Z-p4242"), Some(4242));
        assert_eq!(pid_of("20261129T140211.000Z"), None);
    }
}
