//! What the demo deploys: its networks and containers, read from
//! `assets/demo.toml` (embedded at build time), and the container spec
//! and network endpoints each replica gets.

use std::collections::HashMap;
use std::sync::LazyLock;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};
use serde::Deserialize;

use super::{COMPOSE_PROJECT, DEMO_LABEL, DEMO_RECIPE, DEMO_RECIPE_LABEL};

/// The deployment as written in assets/demo.toml.
const DEMO_TOML: &str = include_str!("../../assets/demo.toml");

/// One network zone of the reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    pub subnet: String,
    pub internal: bool,
    /// The `zone` label's value.
    pub zone: String,
}

/// One single-replica service of assets/demo.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    container: String,
    service: String,
    layer: String,
    component: String,
    alias: Option<String>,
    networks: Vec<String>,
    cpus: f64,
    mem_mib: u64,
    /// The workload's CPU load (cores).
    cpu: String,
    /// Aliases it calls, along the reference's flows.
    #[serde(default)]
    calls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Team {
    name: String,
    service: String,
    roles: Vec<String>,
    /// One network, given as a list of one for `DemoReplica::networks`.
    #[serde(deserialize_with = "one_network")]
    network: Vec<String>,
    cpus: f64,
    mem_mib: u64,
    calls: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    service: String,
    colours: Vec<String>,
    #[serde(deserialize_with = "one_network")]
    network: Vec<String>,
    cpus: f64,
    mem_mib: u64,
}

fn one_network<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(vec![String::deserialize(d)?])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    monitoring: Zone,
    zone: Vec<Zone>,
    service: Vec<Service>,
    team: Vec<Team>,
    pair: Pair,
}

/// Parsed once; the demo's replicas borrow their words from it.
static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    // A unit test parses it, so a broken file fails the build's tests.
    toml::from_str(DEMO_TOML).expect("assets/demo.toml is valid")
});

/// The reference's `monitoring-net` (see assets/demo.toml).
pub fn monitoring() -> &'static Zone {
    &SPEC.monitoring
}

/// The five zone networks.
pub fn zones() -> &'static [Zone] {
    &SPEC.zone
}

/// One container of the demo.
#[derive(Clone, Debug)]
pub struct DemoReplica {
    pub name: String,
    /// Compose service it belongs to.
    pub service: &'static str,
    pub number: usize,
    pub layer: &'static str,
    pub component: &'static str,
    pub team: Option<&'static str>,
    /// The name the reference's `hostname:` gives it. It becomes a network
    /// alias where callers reach it (`alias_networks`), not the
    /// container's hostname: Docker registers a custom hostname as a name
    /// on every network, the monitoring one too, where inter-container
    /// traffic is off — so calls resolved there timed out.
    pub hostname: Option<&'static str>,
    pub networks: &'static [String],
    /// The reference's limits, scaled down so the demo fits in 2 GiB.
    pub cpus: f64,
    pub mem_mib: u64,
    /// Workload knobs.
    pub env: Vec<(&'static str, String)>,
    /// The `environment` label: `demo`, or a blue-green pair's colour.
    pub environment: &'static str,
}

/// The deployment: the services, the agent teams and the blue-green pair
/// of assets/demo.toml.
pub fn deployment() -> Vec<DemoReplica> {
    let spec = &*SPEC;
    let mut out: Vec<DemoReplica> = spec
        .service
        .iter()
        .map(|s| {
            let mut env = vec![
                ("CPU", s.cpu.clone()),
                ("LOAD_RPS", "5".into()),
                ("LATENCY_MS", "20".into()),
            ];
            if !s.calls.is_empty() {
                env.push(("CALL", call_urls(&s.calls)));
            }
            DemoReplica {
                name: s.container.clone(),
                service: &s.service,
                number: 1,
                layer: &s.layer,
                component: &s.component,
                team: None,
                hostname: s.alias.as_deref(),
                networks: &s.networks,
                cpus: s.cpus,
                mem_mib: s.mem_mib,
                env,
                environment: "demo",
            }
        })
        .collect();
    for team in &spec.team {
        for (i, role) in team.roles.iter().enumerate() {
            out.push(DemoReplica {
                name: format!("agile-agent-{}-{role}-{:03}", team.name, i + 1),
                service: &team.service,
                number: i + 1,
                layer: "execution",
                component: "agent",
                team: Some(&team.name),
                hostname: None,
                networks: &team.network,
                cpus: team.cpus,
                mem_mib: team.mem_mib,
                env: vec![
                    ("CPU", format!("0.0{}", 1 + i % 3)),
                    ("TEAM_ID", format!("team-{}", team.name)),
                    ("AGENT_PROFILE", role.to_string()),
                    ("BUSY_AGENTS", format!("{}", i % 4)),
                    ("LOAD_RPS", "2".into()),
                    ("LOG_RATE", "0.2".into()),
                    ("CALL", call_urls(&team.calls)),
                    ("CALL_RPS", "0.5".into()),
                ],
                environment: "demo",
            });
        }
    }
    let pair = &spec.pair;
    for (i, colour) in pair.colours.iter().enumerate() {
        out.push(DemoReplica {
            name: format!("agile-{}-{colour}-{}", pair.service, 1 + i % 2),
            service: &pair.service,
            number: i + 1,
            layer: "execution",
            component: "agent",
            team: None,
            hostname: None,
            networks: &pair.network,
            cpus: pair.cpus,
            mem_mib: pair.mem_mib,
            env: vec![
                ("CPU", "0.01".into()),
                ("LOAD_RPS", "2".into()),
                ("COLOUR", colour.clone()),
            ],
            environment: colour,
        });
    }
    out
}

fn call_urls(hosts: &[String]) -> String {
    hosts
        .iter()
        .map(|h| format!("http://{h}:8080/work"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn labels_for(r: &DemoReplica, extra: &[(String, String)]) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = [
        ("app", "agile-ai".to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("layer", r.layer.to_string()),
        ("component", r.component.to_string()),
        ("environment", r.environment.to_string()),
        ("managed-by", "agile-deck".to_string()),
        (DEMO_LABEL, "reference".to_string()),
        (DEMO_RECIPE_LABEL, DEMO_RECIPE.to_string()),
        ("com.docker.compose.project", COMPOSE_PROJECT.to_string()),
        ("com.docker.compose.service", r.service.to_string()),
        ("com.docker.compose.container-number", r.number.to_string()),
        ("com.docker.compose.oneoff", "False".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(team) = r.team {
        l.insert("team".into(), team.into());
    }
    l.extend(extra.iter().cloned());
    l
}

/// The user every demo container runs as (the reference's `USER agile`,
/// uid 1000): the workload needs no root.
pub const DEMO_USER: &str = "1000:1000";
/// Each demo container's pids limit.
pub const DEMO_PIDS: i64 = 1024;

/// The workload's health check: its own probe of `/health`, every 5 s.
pub(super) fn health_check() -> HealthConfig {
    let secs = |s: i64| s * 1_000_000_000;
    HealthConfig {
        test: Some(vec![
            "CMD".into(),
            "/agile-sim".into(),
            "probe".into(),
            "http://127.0.0.1:8080/health".into(),
        ]),
        interval: Some(secs(5)),
        timeout: Some(secs(2)),
        retries: Some(3),
        start_period: Some(secs(5)),
        start_interval: None,
    }
}

/// The container spec of a replica; networks after the first are connected
/// before start (API versions before 1.44 accept one network at create).
pub fn container_body(
    r: &DemoReplica,
    image: &str,
    extra_labels: &[(String, String)],
) -> ContainerCreateBody {
    let mut env: Vec<String> = r.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("SERVICE_NAME={}", r.service));
    // The version comes from the image (ENV VERSION), so a rollout to
    // another image changes it; a replica is unhealthy on version `bad`.
    env.push("UNHEALTHY_IF_VERSION=bad".into());
    let mem = (r.mem_mib as i64) << 20;
    // The reference's security baseline and resource tiers, which the
    // audit checks: non-root, read-only root file system, a pids limit,
    // three quarters of the memory limit reserved (at least what every
    // tier guarantees of the profiles' request).
    let mut host = HostConfig {
        nano_cpus: Some((r.cpus * 1e9) as i64),
        memory: Some(mem),
        memory_swap: Some(mem * 2),
        memory_reservation: Some(mem / 4 * 3),
        pids_limit: Some(DEMO_PIDS),
        readonly_rootfs: Some(true),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        network_mode: Some(r.networks[0].clone()),
        ..Default::default()
    };
    // Every replica publishes its HTTP port on 127.0.0.1 (a free port the
    // daemon picks): a Prometheus on the host scrapes it there, never
    // through a bridge IP.
    let mut ports = HashMap::new();
    ports.insert(
        "8080/tcp".to_string(),
        Some(vec![PortBinding {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some(String::new()),
        }]),
    );
    host.port_bindings = Some(ports);
    let exposed = Some(vec!["8080/tcp".to_string()]);
    let mut endpoints = HashMap::new();
    endpoints.insert(r.networks[0].clone(), endpoint(r, &r.networks[0]));
    ContainerCreateBody {
        image: Some(image.to_string()),
        user: Some(DEMO_USER.into()),
        env: Some(env),
        labels: Some(labels_for(r, extra_labels)),
        exposed_ports: exposed,
        healthcheck: Some(health_check()),
        host_config: Some(host),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    }
}

/// The zone networks on which callers may reach a replica, by the
/// default topology's `[[zone]]` and `[[flow]]` rules: its own layer's
/// zone, and every zone with a flow to its layer.
pub fn alias_networks(r: &DemoReplica) -> Vec<&'static str> {
    let t = crate::topology::Topology::default_topology();
    let layer_of = |net: &str| {
        t.zones
            .iter()
            .find(|z| z.network == net)
            .map(|z| z.layer.clone())
    };
    r.networks
        .iter()
        .map(String::as_str)
        .filter(|net| {
            layer_of(net).is_some_and(|zone| {
                zone == r.layer || t.flows.iter().any(|f| f.from == zone && f.to == r.layer)
            })
        })
        .collect()
}

/// Its endpoint on `net`. Aliases, only where callers reach it: the name
/// the reference resolves and the Compose service name — except on a
/// blue-green pair's green side, which starts without the pair's alias
/// (blue is live).
pub(super) fn endpoint(r: &DemoReplica, net: &str) -> EndpointSettings {
    if !alias_networks(r).contains(&net) {
        return EndpointSettings::default();
    }
    let mut aliases = if r.environment == "green" {
        Vec::new()
    } else {
        vec![r.service.to_string()]
    };
    if let Some(h) = r.hostname
        && h != r.service
    {
        aliases.push(h.to_string());
    }
    EndpointSettings {
        aliases: Some(aliases),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Topology;

    #[test]
    fn names_resolve_only_where_the_flows_bring_callers() {
        let d = deployment();
        let on = |name: &str| alias_networks(d.iter().find(|r| r.name == name).unwrap());
        assert_eq!(
            on("agile-coordinator-main"),
            ["agile-coordination", "agile-execution"]
        );
        assert_eq!(on("agile-frontend-gateway"), ["agile-frontend"]);
        assert_eq!(on("agile-control-main"), ["agile-control"]);
        assert_eq!(on("agile-db-postgres-primary"), ["agile-data"]);
        // Never the monitoring network, and no container hostname (Docker
        // would register it there).
        for r in &d {
            assert!(
                !alias_networks(r).contains(&monitoring().name.as_str()),
                "{}",
                r.name
            );
            assert_eq!(container_body(r, "x", &[]).hostname, None, "{}", r.name);
        }
    }

    #[test]
    fn demo_fits_in_2_gib_and_follows_the_reference() {
        let d = deployment();
        let mem: u64 = d.iter().map(|r| r.mem_mib).sum();
        assert!(mem <= 2048, "{mem} MiB");
        assert_eq!(d.iter().filter(|r| r.team == Some("product")).count(), 5);
        assert_eq!(
            d.iter().filter(|r| r.team == Some("development")).count(),
            8
        );
        // The default topology places every demo container where its labels say.
        let t = Topology::default_topology();
        for r in &d {
            let labels = labels_for(r, &[]).into_iter().collect();
            let p = t.place(&r.name, &labels);
            assert_eq!(p.layer.as_deref(), Some(r.layer), "{}", r.name);
            assert_eq!(p.team.as_deref(), r.team, "{}", r.name);
            // And the name alone (no labels) leads to the same layer.
            let by_name = t.place(&r.name, &Default::default());
            assert_eq!(
                by_name.layer.as_deref(),
                Some(r.layer),
                "{} by name",
                r.name
            );
        }
    }
}
