//! What the dashboard knows about the daemon: replicas (containers), Swarm
//! services and the daemon itself. Plain data, filled by `sources`, owned by
//! `app::App`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Docker's health-check state of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    Healthy,
    Starting,
    Unhealthy,
    /// The image or container defines no health check.
    NoCheck,
}

impl Health {
    pub fn parse(s: &str) -> Health {
        match s {
            "healthy" => Health::Healthy,
            "starting" => Health::Starting,
            "unhealthy" => Health::Unhealthy,
            _ => Health::NoCheck,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Health::Healthy => "●",
            Health::Starting => "◐",
            Health::Unhealthy => "✖",
            Health::NoCheck => "○",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Starting => "starting",
            Health::Unhealthy => "unhealthy",
            Health::NoCheck => "no check",
        }
    }
}

/// How a service was recognised, which decides how it is operated later.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceKind {
    Swarm,
    Compose {
        project: String,
    },
    /// Recognised from labels or the naming convention only.
    Named,
}

/// A service: the unit replicas belong to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId {
    pub kind: ServiceKind,
    pub name: String,
}

impl ServiceId {
    pub fn kind_word(&self) -> &'static str {
        match self.kind {
            ServiceKind::Swarm => "swarm",
            ServiceKind::Compose { .. } => "compose",
            ServiceKind::Named => "named",
        }
    }
}

/// Where a replica belongs, as decided by the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub layer: Option<String>,
    pub team: Option<String>,
    pub service: ServiceId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: String,
    pub host_ip: String,
    pub host_port: String,
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host_port.is_empty() {
            write!(f, "{}", self.container_port)
        } else {
            let ip = if self.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &self.host_ip
            };
            write!(f, "{ip}:{}→{}", self.host_port, self.container_port)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkAttachment {
    pub network: String,
    pub ip: String,
    pub aliases: Vec<String>,
}

/// One health-check probe, from inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub start: Option<DateTime<Utc>>,
    pub exit_code: i64,
    pub output: String,
}

/// Which Docker host a replica, network or message comes from: its place
/// in the hosts given at start (`hosts::Hosts`). One host is `HostId(0)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u16);

impl HostId {
    /// Its place in the list of hosts (and in anything kept per host).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One container, as inspected.
#[derive(Clone, Debug, PartialEq)]
pub struct Replica {
    /// Set by the app from the host whose sources reported it.
    pub host: HostId,
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: State,
    pub health: Health,
    pub created: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restart_count: i64,
    pub exit_code: i64,
    pub oom_killed: bool,
    /// The last health-check probes (oldest first, at most 5).
    pub health_log: Vec<Probe>,
    /// The health check's start period, if it has one.
    pub start_period: Option<chrono::Duration>,
    /// Main process on the daemon's host (running replicas only): where
    /// the cgroup engine finds the container's network counters.
    pub pid: Option<u32>,
    /// CPU limit in cores (from NanoCpus, or CpuQuota / CpuPeriod); None: unlimited.
    pub cpu_limit: Option<f64>,
    /// Memory limit in bytes; None: unlimited.
    pub mem_limit: Option<u64>,
    /// The limits `docker update` changes, as set (0 unset, -1 unlimited).
    pub limits: crate::units::Resources,
    /// Seconds `docker stop` waits before killing (None: Docker's 10 s).
    pub stop_timeout: Option<i64>,
    pub networks: Vec<NetworkAttachment>,
    pub ports: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    pub placement: Placement,
    /// How it is run (user, privileges, mounts, …), from inspect; None
    /// while only `docker ps` has been seen, so the audit judges nothing
    /// it has not read.
    pub posture: Option<Posture>,
}

/// How a container is run, as far as the reference's security baseline
/// and lifecycle rules care (`audit`). Of the environment only the
/// variables' **names** are kept: a value is never read into agile-deck.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posture {
    /// `Config.User` (the image's USER merged in): empty means root.
    pub user: String,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub read_only_root: bool,
    /// `HostConfig.NetworkMode` (`host`, `bridge`, a network, `container:…`).
    pub network_mode: String,
    /// `HostConfig.PidMode` (`host` shares the host's processes).
    pub pid_mode: String,
    /// Host paths mounted into it (bind mounts).
    pub binds: Vec<Bind>,
    pub env_names: Vec<String>,
    /// `HostConfig.RestartPolicy.Name`: empty or `no` means none.
    pub restart: String,
}

/// A host path mounted into a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub writable: bool,
}

impl Posture {
    /// Root inside the container: no user, or user 0 / root (any group).
    pub fn runs_as_root(&self) -> bool {
        let user = self.user.split(':').next().unwrap_or("");
        user.is_empty() || user == "0" || user == "root"
    }
}

impl Replica {
    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }
}

/// A container's state, in Docker's words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, strum::EnumString, strum::AsRefStr)]
#[strum(serialize_all = "lowercase")]
pub enum State {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A word this version does not know.
    #[strum(default)]
    Other(String),
}

crate::words!(State);

/// What a daemon is in its Swarm, in Docker's words (`docker info`).
#[derive(Clone, Debug, Default, PartialEq, Eq, strum::EnumString, strum::AsRefStr)]
#[strum(serialize_all = "lowercase")]
pub enum SwarmRole {
    /// Not asked yet.
    #[default]
    #[strum(serialize = "")]
    Unknown,
    Inactive,
    Manager,
    Worker,
    Pending,
    Locked,
    Error,
    #[strum(default)]
    Other(String),
}

crate::words!(SwarmRole);

/// Where Swarm may put a service's tasks, and what each one holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskRules {
    /// Placement constraints, as written (`node.labels.db == primary`).
    pub constraints: Vec<String>,
    /// Reserved by each task: cores and bytes.
    pub cpus: f64,
    pub memory: u64,
    /// At most this many tasks on one node (0: no limit).
    pub max_per_node: u64,
}

/// A Swarm service as listed by the manager.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmService {
    pub id: String,
    pub name: String,
    pub image: String,
    /// None for global services.
    pub replicas: Option<u64>,
    /// Tasks running across the whole swarm (containers on other nodes
    /// are not in this daemon's container list).
    pub running_tasks: u64,
    /// Tasks Swarm wants running (desired state running): what a global
    /// service wants, where the spec has no replica count.
    pub desired_tasks: u64,
    /// Why tasks Swarm wants running do not run, in Swarm's words
    /// (`no suitable node (…)`), with how many: None when all run.
    pub pending: Option<String>,
    /// The tasks Swarm wants running, by slot: where each is and how it goes.
    pub tasks: Vec<SwarmTask>,
    /// Where its tasks may go and what each reserves.
    pub rules: TaskRules,
    /// What the spec says of updates, rollbacks and restarts (the audit's
    /// lifecycle rules): each None when the spec has none.
    pub lifecycle: SwarmLifecycle,
    pub labels: BTreeMap<String, String>,
    /// Where the service belongs, so it shows even with no task on this node.
    pub placement: Placement,
}

impl SwarmService {
    /// Swarm's reason a task it wants running cannot run (`no suitable
    /// node (…)`, an image it cannot find), if one says so; a task merely
    /// starting has none.
    pub fn stuck(&self) -> Option<&str> {
        self.tasks
            .iter()
            .find(|t| t.state != "running" && !t.error.is_empty())
            .map(|t| t.error.as_str())
    }
}

/// A Swarm service's update, rollback and restart settings, as its spec has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmLifecycle {
    /// `UpdateConfig.FailureAction` (`pause`, `continue`, `rollback`).
    pub update_failure_action: Option<String>,
    pub rollback_config: bool,
    /// `RestartPolicy.Condition` (`none`, `on-failure`, `any`); None: the
    /// spec has none, and Swarm restarts on `any`.
    pub restart_condition: Option<String>,
}

/// A Docker network, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerNetwork {
    pub host: HostId,
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
    /// No route outside: the reference's zones but the frontend are internal.
    pub internal: bool,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Containers on it may talk to each other (a bridge's
    /// `enable_icc`, true unless turned off).
    pub icc: bool,
}

/// One task of a Swarm service, as the manager lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmTask {
    /// Replicated services number their tasks; global ones do not.
    pub slot: Option<u64>,
    /// The node it is assigned to (empty while it waits for one).
    pub node_id: String,
    /// What Swarm wants of it (`running`, `shutdown`).
    pub desired: String,
    /// Where it is (`running`, `pending`, `rejected`, `failed`…).
    pub state: String,
    /// Swarm's error, when it failed or cannot be placed.
    pub error: String,
}

/// A node of the Swarm as its manager lists it, with what the tasks meant
/// to run there hold of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    /// Manager or worker.
    pub role: SwarmRole,
    pub leader: bool,
    /// A manager's reachability (`reachable`, `unreachable`); empty for workers.
    pub reachability: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// `ready`, `down`, `disconnected`, `unknown`.
    pub state: String,
    /// Why it is in that state, when Swarm says.
    pub message: String,
    pub addr: String,
    pub engine: String,
    pub labels: BTreeMap<String, String>,
    /// What it has: cores and bytes.
    pub cpus: f64,
    pub memory: u64,
    /// What its tasks reserve (those Swarm wants running there).
    pub reserved_cpus: f64,
    pub reserved_memory: u64,
    /// Tasks Swarm wants running there, and those that run.
    pub tasks_wanted: usize,
    pub tasks_running: usize,
}

/// What the daemon told us about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonInfo {
    pub name: String,
    pub server_version: String,
    pub api_version: String,
    pub swarm: SwarmRole,
    /// Its node's id in the Swarm (empty outside one).
    pub node_id: String,
    pub ncpu: u64,
    pub mem_total: u64,
    pub cgroup_version: String,
}

impl DaemonInfo {
    /// A Swarm manager: it can list services and tasks cluster-wide.
    pub fn is_swarm_manager(&self) -> bool {
        self.swarm == SwarmRole::Manager
    }
}

/// A replica made by hand, for the tests, the benchmarks and fixtures:
/// `Replica::builder(id, name)`, the setters that matter, then `placed`
/// by a topology. Everything not set is as `docker inspect` shows a plain
/// running container with no limits.
#[derive(Clone, Debug)]
pub struct ReplicaBuilder {
    r: Replica,
}

impl Replica {
    pub fn builder(id: impl Into<String>, name: impl Into<String>) -> ReplicaBuilder {
        let name: String = name.into();
        ReplicaBuilder {
            r: Replica {
                host: HostId::default(),
                id: id.into(),
                // Placed by `placed`; until then a service of its own name.
                placement: Placement {
                    layer: None,
                    team: None,
                    service: ServiceId {
                        kind: ServiceKind::Named,
                        name: name.clone(),
                    },
                },
                name,
                image: "agile-sim:test".into(),
                state: State::Running,
                health: Health::Healthy,
                created: None,
                started_at: None,
                finished_at: None,
                restart_count: 0,
                exit_code: 0,
                oom_killed: false,
                health_log: Vec::new(),
                start_period: None,
                pid: None,
                cpu_limit: None,
                mem_limit: None,
                limits: Default::default(),
                stop_timeout: None,
                networks: Vec::new(),
                ports: Vec::new(),
                labels: BTreeMap::new(),
                posture: None,
            },
        }
    }
}

impl ReplicaBuilder {
    pub fn host(mut self, host: HostId) -> Self {
        self.r.host = host;
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        self.r.image = image.into();
        self
    }

    pub fn state(mut self, state: impl Into<State>) -> Self {
        self.r.state = state.into();
        self
    }

    pub fn health(mut self, health: Health) -> Self {
        self.r.health = health;
        self
    }

    pub fn labels(mut self, labels: &[(&str, &str)]) -> Self {
        self.r
            .labels
            .extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// CPU limit in cores and memory limit in bytes.
    pub fn limits(mut self, cpus: Option<f64>, memory: Option<u64>) -> Self {
        (self.r.cpu_limit, self.r.mem_limit) = (cpus, memory);
        self
    }

    /// Created and started at these times.
    pub fn started(mut self, created: DateTime<Utc>, started: DateTime<Utc>) -> Self {
        (self.r.created, self.r.started_at) = (Some(created), Some(started));
        self
    }

    /// Anything else.
    pub fn with(mut self, f: impl FnOnce(&mut Replica)) -> Self {
        f(&mut self.r);
        self
    }

    /// The replica, placed by `place` from its name and labels (the
    /// topology's `place`: see `Topology::placed`).
    pub fn placed_by(
        mut self,
        place: impl FnOnce(&str, &BTreeMap<String, String>) -> Placement,
    ) -> Replica {
        self.r.placement = place(&self.r.name, &self.r.labels);
        self.r
    }
}

/// A running-or-not replica for unit tests, placed by `topology`.
#[cfg(test)]
pub(crate) fn test_replica(
    topology: &crate::topology::Topology,
    id: &str,
    name: &str,
    labels: &[(&str, &str)],
    state: &str,
) -> Replica {
    Replica::builder(id, name)
        .state(state)
        .labels(labels)
        .limits(Some(1.0), None)
        .placed(topology)
}
