//! From the topology file: resource profiles (named sets of limits, like
//! the reference's peak / off-peak scripts) and scaling policies (the
//! reference's min/max replicas, target CPU and memory, rates, cooldown),
//! and the autoscale advice computed from them.

use serde::Deserialize;

use crate::units;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "set")]
    pub sets: Vec<RawSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSet {
    /// `service:coordinator`, `team:development`, `layer:data`,
    /// `replica:agile-db-postgres-primary`, or a bare name.
    pub target: String,
    pub cpus: Option<String>,
    pub memory: Option<String>,
    pub swap: Option<String>,
    pub reservation: Option<String>,
    pub pids: Option<String>,
}

/// A named set of limits for several targets, applied in one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Target and its limits as `name=value` words (checked at load,
    /// checked again against the host when applied).
    pub sets: Vec<(String, Vec<String>)>,
}

impl Profile {
    pub fn from_raw(raw: RawProfile) -> Result<Profile, String> {
        if raw.sets.is_empty() {
            return Err(format!(
                "profile {:?} sets nothing: add [[profile.set]] tables",
                raw.name
            ));
        }
        let mut sets = Vec::new();
        for s in raw.sets {
            let words: Vec<String> = [
                ("cpus", s.cpus),
                ("memory", s.memory),
                ("swap", s.swap),
                ("reservation", s.reservation),
                ("pids", s.pids),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
            .collect();
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            // Units and rules now; the host's size when applied.
            units::parse_change(&refs, 0, 0)
                .map_err(|e| format!("profile {:?}, target {}: {e}", raw.name, s.target))?;
            sets.push((s.target, words));
        }
        Ok(Profile {
            name: raw.name,
            description: raw.description,
            sets,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Which rows: a pattern on the service (or team) name, `*` for all.
    #[serde(rename = "match")]
    pub pattern: String,
    pub min_replicas: u64,
    pub max_replicas: u64,
    #[serde(default = "default_cpu")]
    pub target_cpu: f64,
    #[serde(default = "default_memory")]
    pub target_memory: f64,
    #[serde(default = "default_up")]
    pub scale_up_rate: f64,
    #[serde(default = "default_down")]
    pub scale_down_rate: f64,
    /// Seconds after a scale before advising another.
    #[serde(default = "default_cooldown")]
    pub cooldown: u64,
    /// Seconds a condition must hold before it is advice.
    #[serde(default = "default_window")]
    pub window: u64,
    /// Scale down below this share of the targets.
    #[serde(default = "default_low")]
    pub scale_down_below: f64,
}

fn default_cpu() -> f64 {
    70.0
}
fn default_memory() -> f64 {
    80.0
}
fn default_up() -> f64 {
    2.0
}
fn default_down() -> f64 {
    0.5
}
fn default_cooldown() -> u64 {
    300
}
fn default_window() -> u64 {
    120
}
fn default_low() -> f64 {
    0.4
}

/// A scaling policy (the reference's `scaling_policies`).
#[derive(Clone, Debug)]
pub struct Policy {
    pub pattern: String,
    regex: regex::Regex,
    pub min: u64,
    pub max: u64,
    pub target_cpu: f64,
    pub target_memory: f64,
    pub up: f64,
    pub down: f64,
    pub cooldown: u64,
    pub window: u64,
    pub low: f64,
}

impl Policy {
    pub fn from_raw(
        raw: RawPolicy,
        compile: impl Fn(&str) -> Result<regex::Regex, String>,
    ) -> Result<Policy, String> {
        if raw.min_replicas > raw.max_replicas {
            return Err(format!(
                "policy {:?}: min_replicas {} is above max_replicas {}",
                raw.pattern, raw.min_replicas, raw.max_replicas
            ));
        }
        if raw.scale_up_rate <= 1.0 || !(0.0..1.0).contains(&raw.scale_down_rate) {
            return Err(format!(
                "policy {:?}: scale_up_rate must be above 1 and scale_down_rate between 0 and 1",
                raw.pattern
            ));
        }
        if !(0.0..=100.0).contains(&raw.target_cpu) || !(0.0..=100.0).contains(&raw.target_memory) {
            return Err(format!(
                "policy {:?}: targets are percents (0-100)",
                raw.pattern
            ));
        }
        Ok(Policy {
            regex: compile(&raw.pattern)?,
            pattern: raw.pattern,
            min: raw.min_replicas,
            max: raw.max_replicas,
            target_cpu: raw.target_cpu,
            target_memory: raw.target_memory,
            up: raw.scale_up_rate,
            down: raw.scale_down_rate,
            cooldown: raw.cooldown,
            window: raw.window,
            low: raw.scale_down_below,
        })
    }

    pub fn applies_to(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

/// What a service is doing, for advice.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub replicas: u64,
    /// CPU use in percent of the limit, one value per history slot, oldest
    /// first, covering at least the policy's window (else: not enough).
    pub cpu: Vec<f64>,
    /// Memory in use, percent of the limit, now.
    pub memory: f64,
    /// What last changed its replicas (its newest replica's start).
    pub last_change: Option<LastChange>,
}

/// Why a service's newest replica is new.
#[derive(Clone, Debug, PartialEq)]
pub enum LastChange {
    /// The replica count changed (or agile-deck cannot tell otherwise):
    /// the policy's cooldown applies.
    Scaled { secs: u64 },
    /// A rollout, canary or restart replaced replicas: the count did not
    /// change, so no cooldown; but the CPU window restarts with the new
    /// replicas' history. `by` names it ("rollout #3").
    Replaced { secs: u64, by: String },
}

/// The advice for a row: a replica count to go to (None: stay), and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Advice {
    pub to: Option<u64>,
    pub why: String,
}

/// The reference's rules: above the target CPU (or memory) for the whole
/// window → ×scale_up_rate; below `low`×target for the window →
/// ×scale_down_rate; within [min, max]; nothing during the cooldown.
pub fn advise(p: &Policy, load: &Load, slot_secs: u64) -> Advice {
    let n = load.replicas;
    let clamp = |v: u64| v.clamp(p.min, p.max);
    let stay = |why: String| Advice { to: None, why };
    if n < p.min || n > p.max {
        let to = clamp(n);
        return Advice {
            to: Some(to),
            why: format!(
                "{n} replicas is outside [{}, {}] → {n} → {to}",
                p.min, p.max
            ),
        };
    }
    if let Some(LastChange::Scaled { secs }) = load.last_change
        && secs < p.cooldown
    {
        return stay(format!(
            "cooldown: scaled {secs} s ago (wait {} s)",
            p.cooldown - secs
        ));
    }
    let slots = (p.window / slot_secs.max(1)).max(1) as usize;
    if load.cpu.len() < slots {
        return stay(match &load.last_change {
            Some(LastChange::Replaced { secs, by }) => format!(
                "{by} replaced its replicas {secs} s ago: their history needs {} s",
                p.window
            ),
            _ => format!("not enough history yet ({} s needed)", p.window),
        });
    }
    let window = &load.cpu[load.cpu.len() - slots..];
    let low = window.iter().copied().fold(f64::INFINITY, f64::min);
    let high = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if p.window >= 120 {
        format!("{} min", p.window / 60)
    } else {
        format!("{} s", p.window)
    };
    if low > p.target_cpu || load.memory > p.target_memory {
        let to = clamp(((n as f64) * p.up).ceil() as u64);
        let cause = if low > p.target_cpu {
            format!("CPU {low:.0} % > {:.0} % for {span}", p.target_cpu)
        } else {
            format!("memory {:.0} % > {:.0} %", load.memory, p.target_memory)
        };
        return if to > n {
            Advice {
                to: Some(to),
                why: format!("{cause} → {n} → {to}"),
            }
        } else {
            stay(format!("{cause}, but {n} is the most allowed"))
        };
    }
    if high < p.target_cpu * p.low && load.memory < p.target_memory * p.low {
        let to = clamp(((n as f64) * p.down).floor() as u64);
        return if to < n {
            Advice {
                to: Some(to),
                why: format!(
                    "CPU ≤ {high:.0} % < {:.0} % for {span} → {n} → {to}",
                    p.target_cpu * p.low
                ),
            }
        } else {
            stay(format!("quiet, but {n} is the fewest allowed"))
        };
    }
    stay(format!("CPU {low:.0}–{high:.0} % within the targets"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_raw(
            RawPolicy {
                pattern: "*".into(),
                min_replicas: 2,
                max_replicas: 20,
                target_cpu: 70.0,
                target_memory: 80.0,
                scale_up_rate: 2.0,
                scale_down_rate: 0.5,
                cooldown: 300,
                window: 120,
                scale_down_below: 0.4,
            },
            |p| {
                regex::Regex::new(&format!("^{}$", p.replace('*', ".*"))).map_err(|e| e.to_string())
            },
        )
        .unwrap()
    }

    fn load(replicas: u64, cpu: &[f64], memory: f64, since: Option<u64>) -> Load {
        Load {
            replicas,
            cpu: cpu.to_vec(),
            memory,
            last_change: since.map(|secs| LastChange::Scaled { secs }),
        }
    }

    #[test]
    fn hot_for_the_whole_window_doubles() {
        let a = advise(&policy(), &load(5, &[86.0; 24], 40.0, None), 5);
        assert_eq!(a.to, Some(10));
        assert_eq!(a.why, "CPU 86 % > 70 % for 2 min → 5 → 10");
        // Never past max.
        let a = advise(&policy(), &load(15, &[90.0; 24], 40.0, None), 5);
        assert_eq!(a.to, Some(20));
        let a = advise(&policy(), &load(20, &[90.0; 24], 40.0, None), 5);
        assert_eq!(a.to, None);
        // One cool slot in the window: not sustained.
        let mut cpu = vec![86.0; 24];
        cpu[10] = 50.0;
        assert_eq!(advise(&policy(), &load(5, &cpu, 40.0, None), 5).to, None);
        // Memory alone is enough.
        assert_eq!(
            advise(&policy(), &load(4, &[30.0; 24], 85.0, None), 5).to,
            Some(8)
        );
    }

    #[test]
    fn quiet_halves_but_not_below_min() {
        let a = advise(&policy(), &load(8, &[10.0; 24], 20.0, None), 5);
        assert_eq!(a.to, Some(4));
        assert!(
            a.why.starts_with("CPU ≤ 10 % < 28 % for 2 min"),
            "{}",
            a.why
        );
        assert_eq!(
            advise(&policy(), &load(3, &[10.0; 24], 20.0, None), 5).to,
            Some(2)
        );
        assert_eq!(
            advise(&policy(), &load(2, &[10.0; 24], 20.0, None), 5).to,
            None
        );
    }

    #[test]
    fn cooldown_history_and_bounds() {
        let a = advise(&policy(), &load(5, &[90.0; 24], 40.0, Some(60)), 5);
        assert_eq!(a.to, None);
        assert_eq!(a.why, "cooldown: scaled 60 s ago (wait 240 s)");
        let a = advise(&policy(), &load(5, &[90.0; 10], 40.0, None), 5);
        assert!(a.why.starts_with("not enough history"));
        // Outside the bounds: back inside, whatever the load.
        assert_eq!(
            advise(&policy(), &load(1, &[], 0.0, Some(10)), 5).to,
            Some(2)
        );
        assert_eq!(advise(&policy(), &load(30, &[], 0.0, None), 5).to, Some(20));
    }

    /// Issue 21, point 8: replicas replaced by a rollout are not a scale.
    #[test]
    fn a_rollout_is_no_scale_but_restarts_the_window() {
        let replaced = |cpu: &[f64]| Load {
            last_change: Some(LastChange::Replaced {
                secs: 59,
                by: "rollout #2".into(),
            }),
            ..load(5, cpu, 40.0, None)
        };
        let a = advise(&policy(), &replaced(&[90.0; 10]), 5);
        assert_eq!(a.to, None);
        assert_eq!(
            a.why,
            "rollout #2 replaced its replicas 59 s ago: their history needs 120 s"
        );
        assert!(!a.why.contains("scaled"));
        // A full window of the new replicas' figures: advice as usual, no
        // cooldown.
        assert_eq!(advise(&policy(), &replaced(&[90.0; 24]), 5).to, Some(10));
    }

    #[test]
    fn bad_policies_and_profiles_are_refused() {
        let raw = |min, max| RawPolicy {
            pattern: "*".into(),
            min_replicas: min,
            max_replicas: max,
            target_cpu: 70.0,
            target_memory: 80.0,
            scale_up_rate: 2.0,
            scale_down_rate: 0.5,
            cooldown: 300,
            window: 120,
            scale_down_below: 0.4,
        };
        let compile = |p: &str| regex::Regex::new(p).map_err(|e| e.to_string());
        assert!(Policy::from_raw(raw(5, 2), compile).is_err());
        let e = Profile::from_raw(RawProfile {
            name: "peak".into(),
            description: String::new(),
            sets: vec![RawSet {
                target: "service:coordinator".into(),
                cpus: Some("lots".into()),
                memory: None,
                swap: None,
                reservation: None,
                pids: None,
            }],
        })
        .unwrap_err();
        assert!(
            e.contains("profile \"peak\", target service:coordinator: cpus"),
            "{e}"
        );
    }
}
