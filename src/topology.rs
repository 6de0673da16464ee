//! The topology file: which containers belong to which layer, team and
//! service. The default (assets/topology.toml) describes the reference
//! architecture and is compiled in; `--topology FILE` replaces it.
//!
//! Precedence, per the reference's "Labels and Metadata": the labels
//! `layer` and `team` on a container win; then the rules, by source: Compose
//! service name, then Swarm service name, then the container name. Within a
//! source the first matching rule counts; layer, team and service are each
//! taken from the first source that sets them.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::baseline::{Baseline, RawBaseline};
use crate::file_error::{FileError, FileKind, line_of};
use crate::metrics::{Metric, RawMetric};
use crate::model::{Placement, ServiceId, ServiceKind};
use crate::policy::{Policy, Profile, RawPolicy, RawProfile};
use crate::rollout;

pub const DEFAULT_TOPOLOGY: &str = include_str!("../assets/topology.toml");

pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
pub const SWARM_SERVICE: &str = "com.docker.swarm.service.name";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    layers: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default, rename = "metric")]
    metrics: Vec<Spanned<RawMetric>>,
    #[serde(default, rename = "profile")]
    profiles: Vec<Spanned<RawProfile>>,
    #[serde(default, rename = "policy")]
    policies: Vec<Spanned<RawPolicy>>,
    #[serde(default, rename = "zone")]
    zones: Vec<Spanned<Zone>>,
    #[serde(default, rename = "flow")]
    flows: Vec<Spanned<Flow>>,
    #[serde(default, rename = "rollout")]
    rollouts: Vec<Spanned<rollout::config::RawDefaults>>,
    #[serde(default, rename = "pair")]
    pairs: Vec<Spanned<rollout::config::PairDef>>,
    #[serde(default, rename = "canary")]
    canaries: Vec<Spanned<rollout::config::RawCanary>>,
    #[serde(default)]
    audit: Option<Spanned<RawBaseline>>,
}

/// A network that makes up a layer's zone.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub network: String,
    pub layer: String,
}

/// An allowed flow between two layers' zones (the reference's "Network
/// Security Rules").
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub ports: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    compose_service: Option<String>,
    swarm_service: Option<String>,
    name: Option<String>,
    layer: Option<String>,
    team: Option<String>,
    service: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    ComposeService,
    SwarmService,
    ContainerName,
}

/// A compiled rule: a pattern on one source and templates for the result.
#[derive(Debug)]
pub struct Rule {
    pub source: Source,
    pub pattern: String,
    regex: Regex,
    layer: Option<String>,
    team: Option<String>,
    service: Option<String>,
}

#[derive(Debug)]
pub struct Topology {
    /// Display order of the layers.
    pub layers: Vec<String>,
    /// Teams always shown, even when empty.
    pub teams: Vec<String>,
    pub rules: Vec<Rule>,
    /// Named PromQL queries shown as columns (`[[metric]]`).
    pub metrics: Vec<Metric>,
    /// Named sets of limits (`[[profile]]`).
    pub profiles: Vec<Profile>,
    /// Scaling policies (`[[policy]]`): the first that matches a row counts.
    pub policies: Vec<Policy>,
    /// Which network is which layer's zone, and the flows allowed between zones.
    pub zones: Vec<Zone>,
    pub flows: Vec<Flow>,
    /// Rolling-update defaults per service (`[[rollout]]`), blue-green
    /// pairs (`[[pair]]`) and canary stages (`[[canary]]`).
    pub rollouts: Vec<rollout::config::Defaults>,
    pub pairs: Vec<rollout::config::PairDef>,
    pub canaries: Vec<rollout::config::Canary>,
    /// What the audit holds the deployment to (`[audit]`).
    pub baseline: Baseline,
    /// Where it came from, for messages.
    pub origin: String,
}

/// Turn a pattern like `agile-agent-{team}-{role}-{id}` or `postgres*` into
/// an anchored regex: `{name}` captures one dash-free word, `*` anything.
fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '*' {
            re.push_str(".*");
            rest = &rest[1..];
        } else if c == '{' {
            let end = rest
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in pattern {pattern:?}"))?;
            let name = &rest[1..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad placeholder {{{name}}} in pattern {pattern:?}"));
            }
            re.push_str(&format!("(?P<{name}>[^-/.]+)"));
            rest = &rest[end + 1..];
        } else {
            re.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("pattern {pattern:?}: {e}"))
}

/// Placeholders a template uses.
fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        match rest[start..].find('}') {
            Some(end) => {
                out.push(&rest[start + 1..start + end]);
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    out
}

fn expand(template: &str, caps: &regex::Captures) -> String {
    let mut out = template.to_string();
    for name in placeholders(template) {
        let value = caps.name(name).map(|m| m.as_str()).unwrap_or("");
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Teams are labelled `team-product` in the reference's TEAM_ID and
/// `product` elsewhere: both mean the same row.
pub fn normalize_team(team: &str) -> String {
    team.strip_prefix("team-").unwrap_or(team).to_string()
}

impl crate::model::ReplicaBuilder {
    /// The replica, placed by `topology` from its name and labels.
    pub fn placed(self, topology: &Topology) -> crate::model::Replica {
        self.placed_by(|name, labels| topology.place(name, labels))
    }
}

impl Topology {
    pub fn default_topology() -> Topology {
        Topology::parse(DEFAULT_TOPOLOGY, "(built-in default)")
            .expect("the built-in topology is valid (tested)")
    }

    pub fn load(path: &Path) -> Result<Topology, FileError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            kind: FileKind::Topology,
            origin: origin.clone(),
            line: 0,
            reason: format!("cannot read it: {e}"),
        })?;
        Topology::parse(&text, &origin)
    }

    pub fn parse(text: &str, origin: &str) -> Result<Topology, FileError> {
        let err = |line: usize, reason: String| FileError {
            kind: FileKind::Topology,
            origin: origin.to_string(),
            line,
            reason,
        };
        let raw: RawTopology = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            err(line, e.message().to_string())
        })?;
        if raw.layers.is_empty() {
            return Err(err(1, "`layers` must name at least one layer".into()));
        }
        let mut rules = Vec::new();
        for spanned in raw.rules {
            let line = line_of(text, spanned.span().start);
            let r = spanned.into_inner();
            let sources: Vec<(Source, String)> = [
                (Source::ComposeService, r.compose_service),
                (Source::SwarmService, r.swarm_service),
                (Source::ContainerName, r.name),
            ]
            .into_iter()
            .filter_map(|(s, p)| p.map(|p| (s, p)))
            .collect();
            let (source, pattern) = match sources.len() {
                1 => sources.into_iter().next().unwrap(),
                0 => {
                    return Err(err(
                        line,
                        "a rule needs one of compose_service, swarm_service or name".into(),
                    ));
                }
                _ => {
                    return Err(err(
                        line,
                        "a rule matches one source: use only one of compose_service, swarm_service, name"
                            .into(),
                    ));
                }
            };
            let regex = compile_pattern(&pattern).map_err(|e| err(line, e))?;
            if r.layer.is_none() && r.team.is_none() && r.service.is_none() {
                return Err(err(line, "a rule must set layer, team or service".into()));
            }
            let captures: Vec<&str> = regex.capture_names().flatten().collect();
            for template in [&r.layer, &r.team, &r.service].into_iter().flatten() {
                for name in placeholders(template) {
                    if !captures.contains(&name) {
                        return Err(err(
                            line,
                            format!(
                                "{{{name}}} is used but pattern {pattern:?} does not capture it"
                            ),
                        ));
                    }
                }
            }
            if let Some(layer) = &r.layer
                && placeholders(layer).is_empty()
                && !raw.layers.contains(layer)
            {
                return Err(err(
                    line,
                    format!(
                        "unknown layer {layer:?}; the layers are {}",
                        raw.layers.join(", ")
                    ),
                ));
            }
            rules.push(Rule {
                source,
                pattern,
                regex,
                layer: r.layer,
                team: r.team,
                service: r.service,
            });
        }
        let mut metrics = Vec::new();
        for spanned in raw.metrics {
            let line = line_of(text, spanned.span().start);
            metrics.push(
                Metric::from_raw(spanned.into_inner(), compile_pattern)
                    .map_err(|e| err(line, e))?,
            );
        }
        let mut profiles: Vec<Profile> = Vec::new();
        for spanned in raw.profiles {
            let line = line_of(text, spanned.span().start);
            let p = Profile::from_raw(spanned.into_inner()).map_err(|e| err(line, e))?;
            if profiles.iter().any(|q| q.name == p.name) {
                return Err(err(
                    line,
                    format!("a second profile is called {:?}", p.name),
                ));
            }
            profiles.push(p);
        }
        let mut policies = Vec::new();
        for spanned in raw.policies {
            let line = line_of(text, spanned.span().start);
            policies.push(
                Policy::from_raw(spanned.into_inner(), compile_pattern)
                    .map_err(|e| err(line, e))?,
            );
        }
        for spanned in &raw.zones {
            let line = line_of(text, spanned.span().start);
            let z = spanned.get_ref();
            if !raw.layers.contains(&z.layer) {
                return Err(err(
                    line,
                    format!("zone {}: unknown layer {:?}", z.network, z.layer),
                ));
            }
        }
        for spanned in &raw.flows {
            let line = line_of(text, spanned.span().start);
            let f = spanned.get_ref();
            for l in [&f.from, &f.to] {
                if !raw.layers.contains(l) {
                    return Err(err(
                        line,
                        format!("flow {} → {}: unknown layer {l:?}", f.from, f.to),
                    ));
                }
            }
        }
        let mut rollouts = Vec::new();
        for spanned in raw.rollouts {
            let line = line_of(text, spanned.span().start);
            rollouts.push(
                rollout::config::Defaults::from_raw(spanned.into_inner(), compile_pattern)
                    .map_err(|e| err(line, e))?,
            );
        }
        let replica_metrics: Vec<&str> = metrics
            .iter()
            .filter(|m: &&Metric| m.scope == crate::metrics::Scope::Replica)
            .map(|m| m.name.as_str())
            .collect();
        let mut canaries = Vec::new();
        for spanned in raw.canaries {
            let line = line_of(text, spanned.span().start);
            canaries.push(
                rollout::config::Canary::from_raw(
                    spanned.into_inner(),
                    compile_pattern,
                    &replica_metrics,
                )
                .map_err(|e| err(line, e))?,
            );
        }
        let baseline = match raw.audit {
            None => Baseline::default(),
            Some(spanned) => {
                let line = line_of(text, spanned.span().start);
                Baseline::from_raw(spanned.into_inner(), compile_pattern)
                    .map_err(|e| err(line, format!("[audit]: {e}")))?
            }
        };
        Ok(Topology {
            baseline,
            rollouts,
            canaries,
            pairs: raw.pairs.into_iter().map(Spanned::into_inner).collect(),
            layers: raw.layers,
            metrics,
            profiles,
            policies,
            zones: raw.zones.into_iter().map(Spanned::into_inner).collect(),
            flows: raw.flows.into_iter().map(Spanned::into_inner).collect(),
            teams: raw.teams.iter().map(|t| normalize_team(t)).collect(),
            rules,
            origin: origin.to_string(),
        })
    }

    /// The scaling policy of a service: the first whose `match` fits.
    pub fn policy_for(&self, service: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.applies_to(service))
    }

    /// The layer whose zone a network is.
    pub fn zone_of(&self, network: &str) -> Option<&str> {
        self.zones
            .iter()
            .find(|z| z.network == network)
            .map(|z| z.layer.as_str())
    }

    /// A `[[flow]]` connects the two layers' zones (either way).
    pub fn flow_allowed(&self, a: &str, b: &str) -> bool {
        self.flows
            .iter()
            .any(|f| (f.from == a && f.to == b) || (f.from == b && f.to == a))
    }

    /// Decide where a container belongs from its name and labels.
    pub fn place(&self, name: &str, labels: &BTreeMap<String, String>) -> Placement {
        let label = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
        let swarm = label(SWARM_SERVICE);
        let compose = label(COMPOSE_SERVICE);
        let mut layer = label("layer");
        let mut team = label("team").map(|t| normalize_team(&t));
        let mut service_template: Option<String> = None;

        let inputs = [
            (Source::ComposeService, compose.clone()),
            (Source::SwarmService, swarm.clone()),
            (Source::ContainerName, Some(name.to_string())),
        ];
        for (source, value) in inputs {
            let Some(value) = value else { continue };
            if layer.is_some() && team.is_some() && service_template.is_some() {
                break;
            }
            for rule in self.rules.iter().filter(|r| r.source == source) {
                let Some(caps) = rule.regex.captures(&value) else {
                    continue;
                };
                if layer.is_none() {
                    layer = rule.layer.as_ref().map(|t| expand(t, &caps));
                }
                if team.is_none() {
                    team = rule
                        .team
                        .as_ref()
                        .map(|t| normalize_team(&expand(t, &caps)));
                }
                if service_template.is_none() {
                    service_template = rule.service.as_ref().map(|t| expand(t, &caps));
                }
                // First matching rule of a source decides for that source.
                break;
            }
        }

        let service = if let Some(s) = swarm {
            ServiceId {
                kind: ServiceKind::Swarm,
                name: s,
            }
        } else if let Some(s) = compose {
            ServiceId {
                kind: ServiceKind::Compose {
                    project: label(COMPOSE_PROJECT).unwrap_or_default(),
                },
                name: s,
            }
        } else {
            let name = service_template
                .or_else(|| label("component"))
                .unwrap_or_else(|| strip_instance(name));
            ServiceId {
                kind: ServiceKind::Named,
                name,
            }
        };
        Placement {
            layer: layer.filter(|l| !l.is_empty()),
            team: team.filter(|t| !t.is_empty()),
            service,
        }
    }
}

/// `web-3` → `web`, `agile-control-main` stays: a trailing number is an instance.
fn strip_instance(name: &str) -> String {
    match name.rsplit_once(['-', '_', '.']) {
        Some((base, n)) if !base.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            base.to_string()
        }
        _ => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Scope;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_topology_parses() {
        let t = Topology::default_topology();
        assert_eq!(
            t.layers,
            ["frontend", "control", "coordination", "execution", "data"]
        );
        assert!(t.teams.contains(&"qa".to_string()));
        assert!(t.rules.len() > 10);
        // Request rate, error ratio and p99 for every kind of row.
        for scope in [Scope::Layer, Scope::Team, Scope::Service, Scope::Replica] {
            let names: Vec<&str> = t
                .metrics
                .iter()
                .filter(|m| m.scope == scope)
                .map(|m| m.name.as_str())
                .collect();
            assert!(
                names.starts_with(&["REQ/s", "ERR", "P99"]),
                "{scope:?}: {names:?}"
            );
        }
    }

    #[test]
    fn labels_take_precedence() {
        let t = Topology::default_topology();
        // The name says data, the labels say control / team qa: labels win.
        let p = t.place(
            "agile-db-postgres-primary",
            &labels(&[("layer", "control"), ("team", "team-qa")]),
        );
        assert_eq!(p.layer.as_deref(), Some("control"));
        assert_eq!(p.team.as_deref(), Some("qa"));
    }

    #[test]
    fn compose_service_then_name_convention() {
        let t = Topology::default_topology();
        let p = t.place(
            "agile-coordinator-1",
            &labels(&[(COMPOSE_PROJECT, "agile"), (COMPOSE_SERVICE, "coordinator")]),
        );
        assert_eq!(p.layer.as_deref(), Some("coordination"));
        assert_eq!(
            p.service,
            ServiceId {
                kind: ServiceKind::Compose {
                    project: "agile".into()
                },
                name: "coordinator".into()
            }
        );
        let p = t.place("agile-agent-product-pm-001", &BTreeMap::new());
        assert_eq!(p.layer.as_deref(), Some("execution"));
        assert_eq!(p.team.as_deref(), Some("product"));
        assert_eq!(p.service.name, "agent-product");
        assert_eq!(p.service.kind, ServiceKind::Named);
    }

    #[test]
    fn swarm_service_names() {
        let t = Topology::default_topology();
        let p = t.place(
            "agile_redis-master.1.abcdef",
            &labels(&[(SWARM_SERVICE, "agile_redis-master")]),
        );
        assert_eq!(p.layer.as_deref(), Some("data"));
        assert_eq!(p.service.kind, ServiceKind::Swarm);
        assert_eq!(p.service.name, "agile_redis-master");
    }

    #[test]
    fn unmatched_is_ungrouped_with_instance_stripped() {
        let t = Topology::default_topology();
        let p = t.place("something-else-3", &BTreeMap::new());
        assert_eq!(p.layer, None);
        assert_eq!(p.team, None);
        assert_eq!(p.service.name, "something-else");
    }

    #[test]
    fn team_from_compose_service_pattern() {
        let t = Topology::default_topology();
        let p = t.place(
            "agile-qa-team-2",
            &labels(&[(COMPOSE_PROJECT, "agile"), (COMPOSE_SERVICE, "qa-team")]),
        );
        assert_eq!(p.layer.as_deref(), Some("execution"));
        assert_eq!(p.team.as_deref(), Some("qa"));
    }

    #[test]
    fn broken_files_name_line_and_reason() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "layers = [\"a\"]\n[[rule]]\nname = \"x\"\nlayer = \"b\"\n",
                2,
                "unknown layer",
            ),
            (
                "layers = [\"a\"]\n\n[[rule]]\nlayer = \"a\"\n",
                3,
                "needs one of",
            ),
            (
                "layers = [\"a\"]\n[[rule]]\nname = \"x-{team\"\nlayer = \"a\"\n",
                2,
                "unclosed",
            ),
            (
                "layers = [\"a\"]\n[[rule]]\nname = \"x\"\nteam = \"{team}\"\n",
                2,
                "does not capture",
            ),
            ("layers = [\"a\"\nteams = 3\n", 2, ""),
            ("layers = [\"a\"]\ncolour = 1\n", 2, "unknown field"),
            ("layers = []\n", 1, "at least one"),
            (
                "layers = [\"a\"]\n[[rule]]\nname = \"x\"\ncompose_service = \"y\"\nlayer = \"a\"\n",
                2,
                "only one",
            ),
            (
                "layers = [\"a\"]\n\n[[metric]]\nname = \"R\"\nscope = \"team\"\nexpr = 'x{layer=\"$layer\"}'\n",
                3,
                "$layer is not known for Team rows",
            ),
            (
                "layers = [\"a\"]\n[[metric]]\nname = \"R\"\nscope = \"pod\"\nexpr = 'x'\n",
                4,
                "unknown variant",
            ),
            (
                "layers = [\"a\"]\n[[metric]]\nname = \"R\"\nscope = \"layer\"\nunit = \"ms\"\nexpr = 'x'\n",
                5,
                "unknown variant",
            ),
            (
                "layers = [\"a\"]\n[[metric]]\nname = \"R\"\nscope = \"layer\"\nwarn = 2.0\ncritical = 1.0\nexpr = 'x'\n",
                2,
                "above critical",
            ),
            (
                "layers = [\"a\"]\n\n[[rollout]]\nservice = \"*\"\nfailure = \"explode\"\n",
                3,
                "pause, continue or rollback",
            ),
            (
                "layers = [\"a\"]\n[[rollout]]\nservice = \"*\"\ndelay = \"soon\"\n",
                2,
                "a duration is like",
            ),
            (
                "layers = [\"a\"]\n[[canary]]\nservice = \"*\"\n[[canary.stage]]\nweight = 0.5\nduration = \"5s\"\ngates = [{ metric = \"ERR\", below = 0.1 }]\n",
                2,
                "not a replica-scope [[metric]]",
            ),
            (
                "layers = [\"a\"]\n[[canary]]\nservice = \"*\"\n[[canary.stage]]\nweight = 0.5\nduration = \"5s\"\n[[canary.stage]]\nweight = 0.2\nduration = \"5s\"\n",
                2,
                "weights grow",
            ),
            (
                "layers = [\"a\"]\n[[pair]]\nservice = \"agents\"\ncolour = \"teal\"\n",
                4,
                "unknown field",
            ),
        ];
        for (text, line, reason) in cases {
            let e = Topology::parse(text, "t.toml").expect_err(text);
            assert_eq!(e.line, *line, "{text}: {e}");
            assert!(e.reason.contains(reason), "{text}: {e}");
            assert!(e.to_string().starts_with("topology t.toml, line "));
        }
    }

    #[test]
    fn the_default_topology_sets_rollouts_canaries_and_the_demo_pair() {
        let t = Topology::default_topology();
        let team = crate::rollout::config::spec_for(&t.rollouts, "development-team");
        assert_eq!(team.parallelism, 2);
        assert_eq!(team.on_failure, crate::rollout::OnFailure::Rollback);
        assert_eq!(team.max_ratio, 0.25);
        // Other services get Swarm's defaults.
        assert_eq!(
            crate::rollout::config::spec_for(&t.rollouts, "postgres-primary"),
            crate::rollout::Spec::default()
        );
        let canary = t
            .canaries
            .iter()
            .find(|c| c.applies_to("api-gateway"))
            .unwrap();
        let weights: Vec<f64> = canary.stages.iter().map(|s| s.weight).collect();
        assert_eq!(
            weights,
            [0.25, 0.5, 1.0],
            "the last stage finishes the rollout"
        );
        assert_eq!(canary.stages[0].gates.len(), 2);
        assert_eq!(t.pairs[0].alias.as_deref(), Some("agents"));
    }

    #[test]
    fn instance_suffixes() {
        assert_eq!(strip_instance("web-3"), "web");
        assert_eq!(strip_instance("web_12"), "web");
        assert_eq!(strip_instance("agile-control-main"), "agile-control-main");
        assert_eq!(strip_instance("42"), "42");
    }
}
