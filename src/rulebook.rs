//! The audit's rule book: each rule's id, default severity, the kind of
//! object it judges, the sentence of the reference (or the hygiene rule)
//! it comes from, and the fix in words; and the config's `[[rule]]` and
//! `[[ignore]]` entries over it. What each rule holds the deployment to
//! (zones, profiles, naming, labels, policies) is the topology's data
//! (`baseline.rs`); how it is judged is `audit/check.rs`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::{AsRefStr, EnumIter, EnumString, IntoEnumIterator};

/// How bad a finding is; `--fail-on` and the header count by it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumString, AsRefStr, EnumIter,
)]
#[strum(serialize_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_ref())
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_ref())
    }
}

/// What a rule judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Container,
    Service,
    Network,
    Node,
}

macro_rules! rules {
    ($( $variant:ident $id:literal $sev:ident $scope:ident $source:literal $fix:literal; )*) => {
        /// Every rule the audit knows, by id (`security.root`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, EnumString, AsRefStr, EnumIter)]
        pub enum RuleId {
            $( #[strum(serialize = $id)] $variant, )*
        }

        impl RuleId {
            pub fn default_severity(self) -> Severity {
                match self { $( RuleId::$variant => Severity::$sev, )* }
            }
            pub fn scope(self) -> Scope {
                match self { $( RuleId::$variant => Scope::$scope, )* }
            }
            /// The reference's sentence (or the hygiene rule) it comes from.
            pub fn source(self) -> &'static str {
                match self { $( RuleId::$variant => $source, )* }
            }
            /// The fix, in general; a finding says it for its object.
            pub fn fix(self) -> &'static str {
                match self { $( RuleId::$variant => $fix, )* }
            }
        }
    };
}

rules! {
    ZoneBridge "zone.bridge" Critical Container
        "Network Security Rules: traffic between zones flows only along the table's pairs (Frontend → Control 8000, Control → Data 5432/6379, …)"
        "disconnect it from one of the two zones' networks";
    ZoneFrontendData "zone.frontend-data" Critical Container
        "Network Security Rules: no flow connects Frontend and Data; the data zone is reached only through the control, coordination and execution layers"
        "take it off the frontend or the data network";
    ZoneSharedNetwork "zone.shared-network" Critical Network
        "Network Security Rules: no flow connects Frontend and Data (a network shared by both lets them talk unless inter-container traffic is off)"
        "turn inter-container traffic off on it (com.docker.network.bridge.enable_icc=false), or keep frontend and data containers off it";
    ZoneNotInternal "zone.internal" Critical Network
        "Network Definitions: control-net, coordination-net, execution-net and data-net are `internal: true  # No external access`"
        "recreate the network with --internal";
    ZonePublishedPort "zone.published-port" Critical Container
        "Network Definitions: only the frontend zone (dmz) has external access; the others are internal"
        "publish nothing, or only on 127.0.0.1, outside the frontend zone";
    MemoryLimit "resources.memory-limit" Warning Container
        "Container Resource Profiles: every container type has a memory limit"
        "set a memory limit (the component's profile)";
    CpuLimit "resources.cpu-limit" Warning Container
        "Container Resource Profiles: every container type has a CPU limit"
        "set a CPU limit (the component's profile)";
    PidsLimit "resources.pids-limit" Warning Container
        "hygiene: a process limit keeps a fork bomb inside its container"
        "set a pids limit";
    Profile "resources.profile" Warning Container
        "Container Resource Profiles: CPU and memory limits per container type (Control Layer 2.0 / 4G … Cache 2.0 / 4G)"
        "set the limits within the component's profile";
    Reservation "resources.reservation" Warning Container
        "Resource Tiers: critical guarantees 100% of the request, standard 75% of its memory, elastic 50%"
        "reserve what the component's tier guarantees";
    ServiceReservation "resources.service-reservation" Warning Service
        "Resource Tiers: critical guarantees 100% of the request (CPU and memory), standard 50% / 75%, elastic 20% / 50%"
        "set the service's reservations to what its tier guarantees";
    PolicyMinimum "scale.policy-min" Warning Service
        "Horizontal Scaling: scaling_policies set min_replicas (agent teams 2, coordinators 2)"
        "scale it to the policy's minimum";
    SingleReplica "lifecycle.single-replica" Warning Service
        "Production Environment: the reference runs several replicas of it (nginx ×2, control ×3, coordinator ×2)"
        "scale it to the replicas the reference runs";
    NoHealthCheck "health.no-check" Warning Container
        "Health Checks: control, coordinator and agents each have a healthcheck (test, interval, timeout, retries)"
        "give it a health check";
    NoRestartPolicy "lifecycle.restart" Warning Container
        "Execution Layer Containers: `restart: unless-stopped`; Production Environment: restart_policy on-failure"
        "set a restart policy (unless-stopped)";
    SwarmRestart "lifecycle.swarm-restart" Warning Service
        "Production Environment: x-deploy-policy restart_policy condition on-failure, delay 5s, max_attempts 3"
        "docker service update --restart-condition on-failure";
    UpdateConfig "lifecycle.update-config" Warning Service
        "Production Environment: update_config parallelism 1, delay 10s, failure_action: rollback"
        "docker service update --update-failure-action rollback (and a rollback config)";
    Naming "identity.naming" Info Container
        "Naming Rules: {prefix}-{layer}-{component}-{instance} (agile-control-{component}, agile-agent-{team}-{role}-{id}, agile-db-{type}-{role}, …)"
        "rename it after its component's pattern";
    Labels "identity.labels" Warning Container
        "Labels and Metadata: app, layer, component, team (TEAM_ID) and environment on every container"
        "add the missing labels";
    ImageTag "identity.image-tag" Warning Container
        "hygiene: images are deployed by version (agile-ai/control:${VERSION}), never `latest` or untagged"
        "deploy a versioned tag";
    Root "security.root" Critical Container
        "Container Security: `USER agile` (Non-root user, uid 1000)"
        "run it as a non-root user (--user 1000:1000, or USER in the image)";
    Privileged "security.privileged" Critical Container
        "Container Security: a hardened container, capabilities dropped (security.caps_drop=ALL)"
        "run it without --privileged";
    Capabilities "security.capabilities" Warning Container
        "Container Security: security.caps_drop=\"ALL\": no capability beyond Docker's default set"
        "drop the added capabilities (--cap-add)";
    DockerSocket "security.docker-socket" Critical Container
        "Container Security: a hardened container; whoever holds the Docker socket is root on the host"
        "do not mount the Docker socket";
    HostPath "security.host-path" Critical Container
        "Container Security: a hardened container sees no sensitive host path"
        "mount a volume or a narrower path instead";
    HostNetwork "security.host-network" Critical Container
        "Network Topology: every container sits in its zone's network; the host network bypasses every zone"
        "attach it to its zone's network instead of --network host";
    HostPid "security.host-pid" Critical Container
        "Container Security: a hardened container sees only its own processes"
        "run it without --pid host";
    WritableRoot "security.writable-root" Warning Container
        "Container Security: `# Read-only root filesystem`"
        "run it with --read-only (and a tmpfs where it must write)";
    SecretEnv "security.secret-env" Critical Container
        "Secrets Management: use Docker secrets for sensitive data (DB_PASSWORD_FILE: /run/secrets/db_password)"
        "pass it as a Docker secret and name the file in a *_FILE variable";
    ManagerWorkload "swarm.manager-workload" Warning Node
        "Production Environment: only the control cluster is constrained to managers (node.role == manager)"
        "drain the manager, or constrain the workload to workers";
    UnknownNodeLabel "swarm.node-label" Critical Service
        "Production Environment: placement constraints name node labels the nodes carry (node.labels.db == primary)"
        "label a node as the constraint says, or fix the constraint";
    OneNode "swarm.one-node" Warning Service
        "Production Environment: replicas spread over nodes (preferences: spread: node.id)"
        "spread it: --placement-pref spread=node.id, and enough active nodes";
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_ref())
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_ref())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        word.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown rule {word:?}; the rules are {}",
                all_ids()
            ))
        })
    }
}

/// A `[[rule]]` entry's severity: one of the three, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    Off,
    Is(Severity),
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let word = String::deserialize(d)?;
        match word.as_str() {
            "off" => Ok(Setting::Off),
            w => w.parse().map(Setting::Is).map_err(|_| {
                serde::de::Error::custom(format!(
                    "severity {word:?}: use critical, warning, info or off"
                ))
            }),
        }
    }
}

/// `[[rule]]` in the config: another severity for a rule, or `off`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSetting {
    pub id: RuleId,
    pub severity: Setting,
}

/// `[[ignore]]` in the config: one finding silenced for one object (a
/// container, service, network or node, by name; `host/name` for one
/// host's), with the reason the Audit view shows.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    pub rule: RuleId,
    pub object: String,
    pub reason: String,
}

/// Every rule id, for messages.
pub fn all_ids() -> String {
    RuleId::iter()
        .map(|r| r.as_ref().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
