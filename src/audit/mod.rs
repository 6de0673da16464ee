//! The audit: the live deployment judged against the reference
//! architecture's rules (`rulebook.rs`), with what they hold it to from
//! the topology (`baseline.rs`, zones, flows, policies). `check.rs` judges
//! one object; `Audit` keeps the findings per object, so a change to one
//! container judges that container, its service and its networks again,
//! nothing else. The CLI (`agile-deck audit`) and the Audit view share it.

pub mod check;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::fleet::Fleet;
use crate::model::{DockerNetwork, HostId, Replica, SwarmNode, SwarmService};
use crate::rulebook::{Ignore, RuleSetting, Setting};
use crate::topology::Topology;
use crate::units::Resources;

pub use crate::rulebook::{RuleId, Severity};

/// What a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Object {
    Container { host: String, name: String },
    Service { name: String },
    Network { host: String, name: String },
    Node { name: String },
}

impl Object {
    pub fn name(&self) -> &str {
        match self {
            Object::Container { name, .. }
            | Object::Service { name }
            | Object::Network { name, .. }
            | Object::Node { name } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Object::Container { .. } => "container",
            Object::Service { .. } => "service",
            Object::Network { .. } => "network",
            Object::Node { .. } => "node",
        }
    }

    /// The host a container or network is on.
    pub fn host(&self) -> Option<&str> {
        match self {
            Object::Container { host, .. } | Object::Network { host, .. } => Some(host),
            _ => None,
        }
    }

    /// An `[[ignore]]`'s `object`: the name, or `host/name`.
    fn is(&self, named: &str) -> bool {
        named == self.name()
            || self.host().is_some_and(|h| {
                named.strip_prefix(h).and_then(|r| r.strip_prefix('/')) == Some(self.name())
            })
    }
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// What `f` on a finding plans, where agile-deck has the operation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "operation", rename_all = "lowercase")]
pub enum Remedy {
    /// `docker update` of one container.
    /// `docker update` of a container, or of a Swarm service's tasks
    /// (`target`: `replica:NAME` or `service:NAME`, as `:update` takes it).
    Resize { target: String, change: Resources },
    /// Scale a service to this many replicas.
    Scale { service: String, replicas: u64 },
    /// Take a container off a network.
    Disconnect { container: String, network: String },
    /// Give a container a restart policy.
    #[serde(rename = "restart-policy")]
    RestartPolicy {
        container: String,
        policy: bollard::models::RestartPolicyNameEnum,
    },
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remedy::Resize { target, change } => {
                let target = target.replacen(':', " ", 1);
                write!(f, "resize {target}: {}", change.cli_flags())
            }
            Remedy::Scale { service, replicas } => write!(f, "scale {service} to {replicas}"),
            Remedy::Disconnect { container, network } => {
                write!(f, "disconnect {container} from {network}")
            }
            Remedy::RestartPolicy { container, policy } => {
                write!(f, "restart policy of {container}: {policy}")
            }
        }
    }
}

/// One rule broken by one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: RuleId,
    /// The reference's sentence (or the hygiene rule) it comes from.
    pub source: &'static str,
    pub object: Object,
    /// Where the object belongs, for the scores.
    pub layer: Option<String>,
    pub team: Option<String>,
    /// What was seen (names and settings; never a variable's value).
    pub seen: String,
    pub fix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    /// Silenced by an `[[ignore]]`, with its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

impl Finding {
    /// Counts: not silenced.
    pub fn counts(&self) -> bool {
        self.ignored.is_none()
    }
}

/// The config's `[[rule]]` and `[[ignore]]` entries.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub rules: Vec<RuleSetting>,
    pub ignores: Vec<Ignore>,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            rules: config.audit_rules.clone(),
            ignores: config.ignores.iter().map(|i| i.get_ref().clone()).collect(),
        }
    }

    fn severity(&self, rule: RuleId) -> Option<Severity> {
        match self.rules.iter().rev().find(|s| s.id == rule) {
            Some(RuleSetting {
                severity: Setting::Off,
                ..
            }) => None,
            Some(RuleSetting {
                severity: Setting::Is(s),
                ..
            }) => Some(*s),
            None => Some(rule.default_severity()),
        }
    }

    fn ignored(&self, rule: RuleId, object: &Object) -> Option<String> {
        self.ignores
            .iter()
            .find(|i| i.rule == rule && object.is(&i.object))
            .map(|i| i.reason.clone())
    }
}

/// What the audit reads: the fleet as the app (or the CLI) holds it.
pub struct World<'a> {
    pub topology: &'a Topology,
    pub replicas: Vec<&'a Replica>,
    pub services: &'a [SwarmService],
    pub networks: &'a [DockerNetwork],
    pub nodes: &'a [SwarmNode],
    /// Host names by `HostId`.
    pub hosts: &'a [String],
}

impl<'a> World<'a> {
    pub fn of(fleet: &'a Fleet, hosts: &'a [String]) -> World<'a> {
        World {
            topology: &fleet.topology,
            replicas: fleet.replicas.values().collect(),
            services: fleet.swarm_services(),
            networks: &fleet.networks,
            nodes: &fleet.nodes,
            hosts,
        }
    }

    pub fn host_name(&self, host: HostId) -> String {
        self.hosts
            .get(host.index())
            .cloned()
            .unwrap_or_else(|| format!("host {}", host.0))
    }

    /// Replicas the audit judges: those deployed now (a stopped or merely
    /// created container is not).
    fn live(&self) -> impl Iterator<Item = &'a Replica> + '_ {
        self.replicas.iter().copied().filter(|r| check::is_live(r))
    }
}

/// A layer's or team's score: how many of its objects pass every rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// `layer` or `team`.
    pub group: &'static str,
    pub name: String,
    pub objects: usize,
    pub passing: usize,
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

impl Score {
    /// Passing share, 0–100 (an empty corner passes).
    pub fn percent(&self) -> f64 {
        if self.objects == 0 {
            100.0
        } else {
            self.passing as f64 * 100.0 / self.objects as f64
        }
    }
}

/// The findings, per object judged (an object with none is kept too, so
/// the scores count it as passing).
#[derive(Clone, Debug, Default)]
pub struct Audit {
    settings: Settings,
    by_object: BTreeMap<Object, Judged>,
    /// Objects judged since it was made: a test reads that one change
    /// judges only what it touches.
    pub judged: u64,
    /// Findings that count, by severity (`Severity as usize`), tallied
    /// after each change: the header asks every frame.
    counts: [usize; 3],
}

#[derive(Clone, Debug, Default)]
struct Judged {
    layer: Option<String>,
    team: Option<String>,
    findings: Vec<Finding>,
}

impl Audit {
    pub fn new(settings: Settings) -> Audit {
        Audit {
            settings,
            ..Default::default()
        }
    }

    /// Judge everything again.
    pub fn full(&mut self, world: &World) {
        self.by_object.clear();
        for r in world.live() {
            self.judge_container(world, r);
        }
        for (name, _) in check::services(world) {
            self.judge_service(world, &name);
        }
        for n in world.networks {
            self.judge_network(world, n);
        }
        for n in world.nodes {
            self.judge_node(world, n);
        }
        self.tally();
    }

    fn tally(&mut self) {
        self.counts = [0; 3];
        for f in self.by_object.values().flat_map(|j| &j.findings) {
            if f.counts() {
                self.counts[f.severity as usize] += 1;
            }
        }
    }

    /// One container changed (or came, or went): judge it, its service
    /// and the networks it is on again.
    pub fn container_changed(&mut self, world: &World, before: Option<&Replica>, id: &str) {
        let now = world.replicas.iter().copied().find(|r| r.id == id);
        let mut services = BTreeSet::new();
        let mut networks = BTreeSet::new();
        for r in before.into_iter().chain(now) {
            self.by_object.remove(&check::container_object(world, r));
            services.insert(r.placement.service.name.clone());
            networks.extend(r.networks.iter().map(|n| (r.host, n.network.clone())));
        }
        if let Some(r) = now.filter(|r| check::is_live(r)) {
            self.judge_container(world, r);
        }
        // A service with no replica left (and not Swarm's) is gone.
        for s in services {
            self.by_object.remove(&Object::Service { name: s.clone() });
            self.judge_service(world, &s);
        }
        for (host, name) in networks {
            if let Some(n) = world
                .networks
                .iter()
                .find(|n| n.host == host && n.name == name)
            {
                self.judge_network(world, n);
            }
        }
        self.tally();
    }

    /// Networks, Swarm services or nodes were listed again.
    pub fn cluster_changed(&mut self, world: &World) {
        self.by_object
            .retain(|o, _| matches!(o, Object::Container { .. }));
        for (name, _) in check::services(world) {
            self.judge_service(world, &name);
        }
        for n in world.networks {
            self.judge_network(world, n);
        }
        for n in world.nodes {
            self.judge_node(world, n);
        }
        self.tally();
    }

    fn keep(
        &mut self,
        object: Object,
        layer: Option<String>,
        team: Option<String>,
        seen: Vec<check::Seen>,
    ) {
        self.judged += 1;
        let findings = seen
            .into_iter()
            .filter_map(|s| {
                let severity = self.settings.severity(s.rule)?;
                Some(Finding {
                    severity,
                    rule: s.rule,
                    source: s.rule.source(),
                    ignored: self.settings.ignored(s.rule, &object),
                    object: object.clone(),
                    layer: layer.clone(),
                    team: team.clone(),
                    seen: s.seen,
                    fix: s.fix,
                    remedy: s.remedy,
                })
            })
            .collect();
        self.by_object.insert(
            object,
            Judged {
                layer,
                team,
                findings,
            },
        );
    }

    fn judge_container(&mut self, world: &World, r: &Replica) {
        let seen = check::container(world, r);
        self.keep(
            check::container_object(world, r),
            r.placement.layer.clone(),
            r.placement.team.clone(),
            seen,
        );
    }

    fn judge_service(&mut self, world: &World, name: &str) {
        let Some((placement, seen)) = check::service(world, name) else {
            return;
        };
        self.keep(
            Object::Service { name: name.into() },
            placement.layer,
            placement.team,
            seen,
        );
    }

    fn judge_network(&mut self, world: &World, n: &DockerNetwork) {
        let layer = world
            .topology
            .zones
            .iter()
            .find(|z| z.network == n.name)
            .map(|z| z.layer.clone());
        let seen = check::network(world, n);
        self.keep(
            Object::Network {
                host: world.host_name(n.host),
                name: n.name.clone(),
            },
            layer,
            None,
            seen,
        );
    }

    fn judge_node(&mut self, world: &World, n: &SwarmNode) {
        let seen = check::node(world, n);
        self.keep(
            Object::Node {
                name: n.hostname.clone(),
            },
            None,
            None,
            seen,
        );
    }

    /// Every finding, worst first, then by rule and object; silenced
    /// ones last.
    pub fn findings(&self) -> Vec<&Finding> {
        let mut all: Vec<&Finding> = self.by_object.values().flat_map(|j| &j.findings).collect();
        all.sort_by(|a, b| {
            (
                a.ignored.is_some(),
                std::cmp::Reverse(a.severity),
                a.rule,
                &a.object,
            )
                .cmp(&(
                    b.ignored.is_some(),
                    std::cmp::Reverse(b.severity),
                    b.rule,
                    &b.object,
                ))
        });
        all
    }

    /// Findings that count (not silenced) of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.counts[severity as usize]
    }

    /// Objects judged.
    pub fn objects(&self) -> usize {
        self.by_object.len()
    }

    /// Per layer (the topology's order) and per team: objects, passing.
    pub fn scores(&self, topology: &Topology) -> Vec<Score> {
        let mut out: Vec<Score> = Vec::new();
        let groups = topology
            .layers
            .iter()
            .map(|l| ("layer", l.clone()))
            .chain(topology.teams.iter().map(|t| ("team", t.clone())));
        let mut names: Vec<(&'static str, String)> = groups.collect();
        for j in self.by_object.values() {
            for key in [
                j.layer.clone().map(|l| ("layer", l)),
                j.team.clone().map(|t| ("team", t)),
            ]
            .into_iter()
            .flatten()
            {
                if !names.contains(&key) {
                    names.push(key);
                }
            }
        }
        for (group, name) in names {
            let key = name.clone();
            let mine = self.by_object.values().filter(|j| match group {
                "layer" => j.layer.as_deref() == Some(key.as_str()),
                _ => j.team.as_deref() == Some(key.as_str()),
            });
            let mut s = Score {
                group,
                name,
                objects: 0,
                passing: 0,
                critical: 0,
                warning: 0,
                info: 0,
            };
            for j in mine {
                s.objects += 1;
                let counting: Vec<&Finding> = j.findings.iter().filter(|f| f.counts()).collect();
                if counting.is_empty() {
                    s.passing += 1;
                }
                for f in counting {
                    match f.severity {
                        Severity::Critical => s.critical += 1,
                        Severity::Warning => s.warning += 1,
                        Severity::Info => s.info += 1,
                    }
                }
            }
            out.push(s);
        }
        out
    }
}
