//! What the topology file says about rollouts: per-service update defaults
//! (`[[rollout]]`), blue-green pairs (`[[pair]]`) and canary stages
//! (`[[canary]]`).

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use super::{Spec, parse_duration};

/// `[[rollout]]`: defaults for the services the pattern matches, written
/// as `:rollout` options (parallelism = 2, delay = "30s", failure = …).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub service: String,
    pub parallelism: Option<usize>,
    pub delay: Option<String>,
    pub monitor: Option<String>,
    pub healthy_within: Option<String>,
    pub failure: Option<String>,
    pub ratio: Option<f64>,
    pub order: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Defaults {
    pub pattern: String,
    regex: Regex,
    pub spec: Spec,
}

impl PartialEq for Defaults {
    fn eq(&self, other: &Defaults) -> bool {
        self.pattern == other.pattern && self.spec == other.spec
    }
}

impl Defaults {
    pub fn from_raw(
        raw: RawDefaults,
        compile: impl Fn(&str) -> Result<Regex, String>,
    ) -> Result<Defaults, String> {
        let mut spec = Spec::default();
        let options = [
            ("parallelism", raw.parallelism.map(|p| p.to_string())),
            ("delay", raw.delay),
            ("monitor", raw.monitor),
            ("healthy_within", raw.healthy_within),
            ("failure", raw.failure),
            ("ratio", raw.ratio.map(|r| r.to_string())),
            ("order", raw.order),
        ];
        for (k, v) in options {
            if let Some(v) = v {
                spec.set(k, &v)
                    .map_err(|e| format!("rollout {}: {e}", raw.service))?;
            }
        }
        Ok(Defaults {
            regex: compile(&raw.service)?,
            pattern: raw.service,
            spec,
        })
    }

    pub fn applies_to(&self, service: &str) -> bool {
        self.regex.is_match(service)
    }
}

/// The update settings for a service: the first matching `[[rollout]]`,
/// else Swarm's defaults.
pub fn spec_for(defaults: &[Defaults], service: &str) -> Spec {
    defaults
        .iter()
        .find(|d| d.applies_to(service))
        .map(|d| d.spec.clone())
        .unwrap_or_default()
}

/// `[[pair]]`: a blue-green pair. Only `service` is required.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PairDef {
    /// The service whose replicas make up both colours.
    pub service: String,
    /// The label telling the colours apart (values `blue` and `green`).
    #[serde(default = "default_label")]
    pub label: String,
    /// The stable name clients resolve; the service's name by default.
    pub alias: Option<String>,
    /// Where the alias lives; by default the network it is found on.
    pub network: Option<String>,
}

fn default_label() -> String {
    "environment".into()
}

/// One gate: a replica-scope `[[metric]]` that must stay below a value on
/// every new replica.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub metric: String,
    pub below: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub weight: f64,
    pub duration: String,
    #[serde(default)]
    pub gates: Vec<Gate>,
}

/// A canary stage: run `weight` of the replicas on the new version for
/// `duration`, then check the gates.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub weight: f64,
    pub duration: Duration,
    pub gates: Vec<Gate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCanary {
    pub service: String,
    #[serde(rename = "stage")]
    pub stages: Vec<RawStage>,
}

#[derive(Clone, Debug)]
pub struct Canary {
    pub pattern: String,
    regex: Regex,
    pub stages: Vec<Stage>,
}

impl PartialEq for Canary {
    fn eq(&self, other: &Canary) -> bool {
        self.pattern == other.pattern && self.stages == other.stages
    }
}

impl Canary {
    /// Checked against the metrics: a gate names a replica-scope metric.
    pub fn from_raw(
        raw: RawCanary,
        compile: impl Fn(&str) -> Result<Regex, String>,
        replica_metrics: &[&str],
    ) -> Result<Canary, String> {
        if raw.stages.is_empty() {
            return Err(format!(
                "canary {}: give at least one [[canary.stage]]",
                raw.service
            ));
        }
        let mut stages = Vec::new();
        let mut last = 0.0;
        for s in raw.stages {
            if !(s.weight > last && s.weight <= 1.0) {
                return Err(format!(
                    "canary {}: stage weights grow from above 0 to at most 1 ({} after {last})",
                    raw.service, s.weight
                ));
            }
            last = s.weight;
            for g in &s.gates {
                if !replica_metrics.contains(&g.metric.as_str()) {
                    return Err(format!(
                        "canary {}: gate {:?} is not a replica-scope [[metric]] ({})",
                        raw.service,
                        g.metric,
                        replica_metrics.join(", ")
                    ));
                }
            }
            stages.push(Stage {
                weight: s.weight,
                duration: parse_duration(&s.duration)
                    .map_err(|e| format!("canary {}: {e}", raw.service))?,
                gates: s.gates,
            });
        }
        if last < 1.0 {
            // The last stage finishes the rollout.
            stages.push(Stage {
                weight: 1.0,
                duration: Duration::ZERO,
                gates: Vec::new(),
            });
        }
        Ok(Canary {
            regex: compile(&raw.service)?,
            pattern: raw.service,
            stages,
        })
    }

    pub fn applies_to(&self, service: &str) -> bool {
        self.regex.is_match(service)
    }
}
