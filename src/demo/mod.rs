//! The demo deployment: the reference architecture on the local daemon,
//! with the project's own workload `agile-sim` standing in for every
//! service. `up` is idempotent; `down` removes exactly what `up` created
//! (everything carries the label `agile-deck.demo`).
//!
//! The workload image is built `FROM scratch` through the build endpoint
//! with an in-memory tar context holding the statically linked agile-sim
//! that `build.rs` compiled and this binary embeds: no registry, no pull.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, ListContainersOptions, ListImagesOptions,
    ListNetworksOptions, RemoveContainerOptions,
};
use futures_util::StreamExt;

/// The statically linked workload, compiled by build.rs.
pub static AGILE_SIM: &[u8] = include_bytes!(env!("AGILE_SIM_STATIC"));
const AGILE_SIM_MISSING_WHY: &str = env!("AGILE_SIM_MISSING_WHY");

/// Label on everything the demo creates.
pub const DEMO_LABEL: &str = "agile-deck.demo";
pub const IMAGE_REPO: &str = "agile-sim";
/// Label on the image: a digest of the embedded binary, to rebuild only on change.
const IMAGE_DIGEST_LABEL: &str = "agile-sim.digest";
pub const COMPOSE_PROJECT: &str = "agile";
/// Label with the version of the demo's container recipe: `up` recreates a
/// container made by an older one (say, before names resolved only on the
/// zones the flows connect).
const DEMO_RECIPE_LABEL: &str = "agile-deck.demo-recipe";
const DEMO_RECIPE: &str = "2";

/// The image tag this build of agile-deck uses.
pub fn image_tag() -> String {
    format!("{IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"))
}

/// Bump when the Dockerfile or the build labels change, to force a rebuild.
const RECIPE: &[u8] = b"recipe 3";

/// FNV-1a of the workload and the recipe: enough to tell two builds apart.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().chain(RECIPE) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

fn dockerfile() -> String {
    format!(
        "FROM scratch\n\
         COPY agile-sim /agile-sim\n\
         EXPOSE 8080\n\
         ENV VERSION={}\n\
         LABEL {IMAGE_DIGEST_LABEL}={}\n\
         HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 CMD [\"/agile-sim\", \"probe\", \"http://127.0.0.1:8080/health\"]\n\
         ENTRYPOINT [\"/agile-sim\"]\n\
         CMD [\"serve\"]\n",
        env!("CARGO_PKG_VERSION"),
        digest(AGILE_SIM)
    )
}

/// Build `tag` from an in-memory context of (name, bytes, mode) files
/// with a `Dockerfile` among them.
async fn build(
    docker: &Docker,
    tag: &str,
    files: &[(&str, &[u8], u32)],
    labels: HashMap<String, String>,
) -> Result<(), String> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *data)
            .map_err(|e| format!("cannot pack the build context: {e}"))?;
    }
    let tar = builder
        .into_inner()
        .map_err(|e| format!("cannot pack the build context: {e}"))?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| format!("image {tag}: build failed: {e}"))?;
        if let Some(detail) = info.error_detail {
            return Err(format!(
                "image {tag}: build failed: {}",
                detail.message.unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// Build the workload image unless an identical one exists; returns its tag.
pub async fn ensure_image(
    docker: &Docker,
    progress: &mut dyn FnMut(String),
) -> Result<String, String> {
    if AGILE_SIM.is_empty() {
        return Err(format!(
            "this agile-deck was built without the workload binary: {AGILE_SIM_MISSING_WHY}"
        ));
    }
    let tag = image_tag();
    let want = digest(AGILE_SIM);
    let mut filters = HashMap::new();
    filters.insert("reference".to_string(), vec![tag.clone()]);
    let images = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("cannot list images: {e}"))?;
    if images
        .iter()
        .any(|i| i.labels.get(IMAGE_DIGEST_LABEL) == Some(&want))
    {
        progress(format!("image {tag}: up to date"));
        return Ok(tag);
    }
    progress(format!(
        "image {tag}: building FROM scratch ({} KiB workload)…",
        AGILE_SIM.len() / 1024
    ));
    let mut labels = HashMap::new();
    // Not DEMO_LABEL: containers inherit image labels, and `down` must not
    // remove every container of this image.
    labels.insert("agile-deck.image".to_string(), IMAGE_REPO.to_string());
    let dockerfile = dockerfile();
    let files: [(&str, &[u8], u32); 2] = [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("agile-sim", AGILE_SIM, 0o755),
    ];
    build(docker, &tag, &files, labels).await?;
    progress(format!("image {tag}: built"));
    Ok(tag)
}

/// The versions to try rollouts with: `agile-sim:next` (a good one) and
/// `agile-sim:bad` (on which the demo's replicas report unhealthy), each
/// the workload image with another `ENV VERSION`. Built from the local
/// image: no registry involved.
pub const VARIANTS: [(&str, &str); 2] = [("next", "next"), ("bad", "bad")];

pub async fn ensure_variants(
    docker: &Docker,
    base: &str,
    progress: &mut dyn FnMut(String),
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (tag, version) in VARIANTS {
        let tag = format!("{IMAGE_REPO}:{tag}");
        let dockerfile = format!("FROM {base}\nENV VERSION={version}\n");
        build(
            docker,
            &tag,
            &[("Dockerfile", dockerfile.as_bytes(), 0o644)],
            HashMap::new(),
        )
        .await?;
        progress(format!(
            "image {tag}: ready (VERSION={version}, for :rollout)"
        ));
        out.push(tag);
    }
    Ok(out)
}

/// One network zone of the reference.
pub struct Zone {
    pub name: &'static str,
    pub subnet: &'static str,
    pub internal: bool,
    pub zone: &'static str,
}

/// The reference's `monitoring-net`: every replica is on it so a
/// Prometheus on the host can scrape the port each publishes on 127.0.0.1
/// (Docker publishes no port of a container that is only on internal
/// networks). Containers on it cannot talk to each other (inter-container
/// traffic is off), so the zones stay as isolated as the reference says.
pub const MONITORING: Zone = Zone {
    name: "agile-monitoring",
    subnet: "172.25.0.0/24",
    internal: false,
    zone: "monitoring",
};

pub const ZONES: [Zone; 5] = [
    Zone {
        name: "agile-frontend",
        subnet: "172.20.0.0/24",
        internal: false,
        zone: "dmz",
    },
    Zone {
        name: "agile-control",
        subnet: "172.21.0.0/24",
        internal: true,
        zone: "secure",
    },
    Zone {
        name: "agile-coordination",
        subnet: "172.22.0.0/24",
        internal: true,
        zone: "internal",
    },
    Zone {
        name: "agile-execution",
        subnet: "172.23.0.0/24",
        internal: true,
        zone: "compute",
    },
    Zone {
        name: "agile-data",
        subnet: "172.24.0.0/24",
        internal: true,
        zone: "storage",
    },
];

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
    pub networks: &'static [&'static str],
    /// The reference's limits, scaled down so the demo fits in 2 GiB.
    pub cpus: f64,
    pub mem_mib: u64,
    /// Workload knobs.
    pub env: Vec<(&'static str, String)>,
    /// The `environment` label: `demo`, or a blue-green pair's colour.
    pub environment: &'static str,
}

/// The deployment: the reference's containers, named and labelled as it
/// says, with CPU limits /4 and memory limits /32 of the reference's.
pub fn deployment() -> Vec<DemoReplica> {
    let one = |name: &str,
               service,
               layer,
               component,
               hostname,
               networks,
               cpus,
               mem_mib,
               cpu_load: &str| DemoReplica {
        name: name.to_string(),
        service,
        number: 1,
        layer,
        component,
        team: None,
        hostname,
        networks,
        cpus,
        mem_mib,
        env: vec![
            ("CPU", cpu_load.to_string()),
            ("LOAD_RPS", "5".into()),
            ("LATENCY_MS", "20".into()),
        ],
        environment: "demo",
    };
    let mut out = vec![
        one(
            "agile-frontend-webui",
            "web-ui",
            "frontend",
            "web-ui",
            Some("web-ui"),
            &["agile-frontend"],
            0.25,
            64,
            "0.01",
        ),
        one(
            "agile-frontend-gateway",
            "api-gateway",
            "frontend",
            "api-gateway",
            Some("api-gateway"),
            &["agile-frontend", "agile-control", "agile-coordination"],
            0.25,
            64,
            "0.01",
        ),
        one(
            "agile-control-main",
            "control",
            "control",
            "control-layer",
            Some("control-main"),
            &["agile-control", "agile-data"],
            0.5,
            128,
            "0.03",
        ),
        one(
            "agile-coordinator-main",
            "coordinator",
            "coordination",
            "coordinator",
            Some("coordinator-main"),
            // Not on agile-control: the reference allows no control ↔
            // execution flow, and a container on both would bridge them.
            &["agile-coordination", "agile-execution", "agile-data"],
            1.0,
            256,
            "0.06",
        ),
        one(
            "agile-workflow-engine",
            "workflow-engine",
            "coordination",
            "workflow-engine",
            Some("workflow-engine"),
            &["agile-coordination", "agile-data"],
            0.5,
            128,
            "0.02",
        ),
        one(
            "agile-db-postgres-primary",
            "postgres-primary",
            "data",
            "postgres",
            Some("postgres-primary"),
            &["agile-data"],
            1.0,
            256,
            "0.02",
        ),
        one(
            "agile-cache-redis-master",
            "redis-master",
            "data",
            "redis",
            Some("redis-master"),
            &["agile-data"],
            0.5,
            128,
            "0.01",
        ),
        one(
            "agile-db-minio-main",
            "minio",
            "data",
            "minio",
            Some("minio"),
            &["agile-data"],
            0.5,
            128,
            "0.01",
        ),
    ];
    // Real traffic along the reference's allowed flows, through the aliases
    // each zone resolves.
    let upstreams: [(&str, &str); 5] = [
        ("web-ui", "api-gateway"),
        ("api-gateway", "control-main,coordinator-main"),
        ("control", "postgres-primary,redis-master"),
        (
            "coordinator",
            "workflow-engine,postgres-primary,redis-master",
        ),
        ("workflow-engine", "postgres-primary"),
    ];
    for r in out.iter_mut() {
        if let Some((_, to)) = upstreams.iter().find(|(from, _)| *from == r.service) {
            r.env.push(("CALL", call_urls(to)));
        }
    }
    let teams: [(&str, &str, &[&str]); 2] = [
        (
            "product",
            "product-team",
            &["pm", "po", "ux", "analyst", "writer"],
        ),
        (
            "development",
            "development-team",
            &["dev", "dev", "dev", "dev", "dev", "dev", "dev", "dev"],
        ),
    ];
    for (team, service, roles) in teams {
        for (i, role) in roles.iter().enumerate() {
            out.push(DemoReplica {
                name: format!("agile-agent-{team}-{role}-{:03}", i + 1),
                service,
                number: i + 1,
                layer: "execution",
                component: "agent",
                team: Some(team),
                hostname: None,
                networks: &["agile-execution"],
                cpus: 0.25,
                mem_mib: 64,
                env: vec![
                    ("CPU", format!("0.0{}", 1 + i % 3)),
                    ("TEAM_ID", format!("team-{team}")),
                    ("AGENT_PROFILE", role.to_string()),
                    ("BUSY_AGENTS", format!("{}", i % 4)),
                    ("LOAD_RPS", "2".into()),
                    ("LOG_RATE", "0.2".into()),
                    ("CALL", call_urls("coordinator-main")),
                    ("CALL_RPS", "0.5".into()),
                ],
                environment: "demo",
            });
        }
    }
    // The blue-green pair `agents`: two replicas of each colour on
    // agile-execution; blue holds the alias `agents` (live), green waits.
    // 16 MiB each keeps the demo within 2 GiB (the workload needs ~2).
    for (i, colour) in ["blue", "blue", "green", "green"].into_iter().enumerate() {
        out.push(DemoReplica {
            name: format!("agile-agents-{colour}-{}", 1 + i % 2),
            service: "agents",
            number: i + 1,
            layer: "execution",
            component: "agent",
            team: None,
            hostname: None,
            networks: &["agile-execution"],
            cpus: 0.25,
            mem_mib: 16,
            env: vec![
                ("CPU", "0.01".into()),
                ("LOAD_RPS", "2".into()),
                ("COLOUR", colour.into()),
            ],
            environment: colour,
        });
    }
    out
}

fn call_urls(hosts: &str) -> String {
    hosts
        .split(',')
        .map(|h| format!("http://{h}:8080/work"))
        .collect::<Vec<_>>()
        .join(",")
}

fn labels_for(r: &DemoReplica, extra: &[(String, String)]) -> HashMap<String, String> {
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

/// The container spec of a replica; networks after the first are connected
/// before start (API versions before 1.44 accept one network at create).
pub fn container_body(
    r: &DemoReplica,
    image: &str,
    extra_labels: &[(String, String)],
) -> ContainerCreateBody {
    let secs = |s: i64| s * 1_000_000_000;
    let mut env: Vec<String> = r.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("SERVICE_NAME={}", r.service));
    // The version comes from the image (ENV VERSION), so a rollout to
    // another image changes it; a replica is unhealthy on version `bad`.
    env.push("UNHEALTHY_IF_VERSION=bad".into());
    let mem = (r.mem_mib as i64) << 20;
    let mut host = HostConfig {
        nano_cpus: Some((r.cpus * 1e9) as i64),
        memory: Some(mem),
        memory_swap: Some(mem * 2),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        network_mode: Some(r.networks[0].to_string()),
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
    endpoints.insert(r.networks[0].to_string(), endpoint(r, r.networks[0]));
    ContainerCreateBody {
        image: Some(image.to_string()),
        env: Some(env),
        labels: Some(labels_for(r, extra_labels)),
        exposed_ports: exposed,
        healthcheck: Some(HealthConfig {
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
        }),
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
        .copied()
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
fn endpoint(r: &DemoReplica, net: &str) -> EndpointSettings {
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

async fn ensure_networks(
    docker: &Docker,
    extra: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let existing = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .map_err(|e| format!("cannot list networks: {e}"))?;
    for z in ZONES.iter().chain([&MONITORING]) {
        if existing.iter().any(|n| n.name.as_deref() == Some(z.name)) {
            progress(format!("network {}: exists", z.name));
            continue;
        }
        let mut labels: HashMap<String, String> = [
            (DEMO_LABEL.to_string(), "reference".to_string()),
            ("zone".to_string(), z.zone.to_string()),
        ]
        .into_iter()
        .collect();
        labels.extend(extra.iter().cloned());
        let request = |subnet: Option<&str>| NetworkCreateRequest {
            name: z.name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(z.internal),
            labels: Some(labels.clone()),
            options: (z.name == MONITORING.name).then(|| {
                [(
                    "com.docker.network.bridge.enable_icc".to_string(),
                    "false".to_string(),
                )]
                .into_iter()
                .collect()
            }),
            ipam: subnet.map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        match docker.create_network(request(Some(z.subnet))).await {
            Ok(_) => progress(format!(
                "network {}: created ({}{})",
                z.name,
                z.subnet,
                if z.internal { ", internal" } else { "" }
            )),
            Err(e) if e.to_string().contains("overlap") => {
                // The reference's subnet is taken on this host: let Docker pick one.
                docker
                    .create_network(request(None))
                    .await
                    .map_err(|e| format!("cannot create network {}: {e}", z.name))?;
                progress(format!(
                    "network {}: created (subnet {} in use here; Docker chose one)",
                    z.name, z.subnet
                ));
            }
            Err(e) => return Err(format!("cannot create network {}: {e}", z.name)),
        }
    }
    Ok(())
}

fn demo_filter(extra: &[(String, String)]) -> HashMap<String, Vec<String>> {
    let mut labels = vec![DEMO_LABEL.to_string()];
    labels.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    let mut filters = HashMap::new();
    filters.insert("label".to_string(), labels);
    filters
}

/// Create (or start) whatever of the demo is missing. `extra_labels` go on
/// every resource too (the tests mark their run with them).
pub async fn up(
    docker: &Docker,
    extra_labels: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let image = ensure_image(docker, progress).await?;
    ensure_variants(docker, &image, progress).await?;
    ensure_networks(docker, extra_labels, progress).await?;
    let existing = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    // (state, made by this recipe) of the container called `name`.
    let state_of = |name: &str| {
        existing
            .iter()
            .find(|c| {
                c.names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/') == name)
            })
            .map(|c| {
                let current = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(DEMO_RECIPE_LABEL))
                    .is_some_and(|v| v == DEMO_RECIPE);
                (c.state.map(|s| s.to_string()).unwrap_or_default(), current)
            })
    };
    let replicas = deployment();
    let total = replicas.len();
    for (i, r) in replicas.iter().enumerate() {
        let n = i + 1;
        let mut found = state_of(&r.name);
        if let Some((_, false)) = found {
            docker
                .remove_container(
                    &r.name,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| format!("cannot replace {}: {e}", r.name))?;
            progress(format!(
                "[{n}/{total}] {}: made by an older agile-deck, recreating",
                r.name
            ));
            found = None;
        }
        match found.map(|(state, _)| state).as_deref() {
            Some("running") => {
                progress(format!("[{n}/{total}] {}: running", r.name));
                continue;
            }
            Some(_) => {}
            None => {
                docker
                    .create_container(
                        Some(CreateContainerOptions {
                            name: Some(r.name.clone()),
                            ..Default::default()
                        }),
                        container_body(r, &image, extra_labels),
                    )
                    .await
                    .map_err(|e| format!("cannot create {}: {e}", r.name))?;
                for net in &r.networks[1..] {
                    docker
                        .connect_network(
                            net,
                            NetworkConnectRequest {
                                container: r.name.clone(),
                                endpoint_config: Some(endpoint(r, net)),
                            },
                        )
                        .await
                        .map_err(|e| format!("cannot attach {} to {net}: {e}", r.name))?;
                }
                docker
                    .connect_network(
                        MONITORING.name,
                        NetworkConnectRequest {
                            container: r.name.clone(),
                            endpoint_config: None,
                        },
                    )
                    .await
                    .map_err(|e| format!("cannot attach {} to {}: {e}", r.name, MONITORING.name))?;
            }
        }
        docker
            .start_container(&r.name, None)
            .await
            .map_err(|e| format!("cannot start {}: {e}", r.name))?;
        progress(format!(
            "[{n}/{total}] {}: started ({} · {})",
            r.name,
            r.layer,
            r.networks.join(", ")
        ));
    }
    Ok(())
}

/// Whether the demo's containers all exist and run.
pub async fn is_up(docker: &Docker) -> Result<bool, String> {
    let running = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(demo_filter(&[])),
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    Ok(running.len() >= deployment().len())
}

/// Remove every container and network the demo created (and, with
/// `extra_labels`, only those that also carry them).
pub async fn down(
    docker: &Docker,
    extra_labels: &[(String, String)],
    progress: &mut dyn FnMut(String),
) -> Result<(), String> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(demo_filter(extra_labels)),
            ..Default::default()
        }))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    let removals = containers.iter().filter_map(|c| {
        let id = c.id.clone()?;
        let name = c.names.iter().flatten().next().cloned().unwrap_or_default();
        Some(async move {
            let r = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
            (name, r)
        })
    });
    for (name, r) in futures_util::future::join_all(removals).await {
        match r {
            Ok(()) => progress(format!("{}: removed", name.trim_start_matches('/'))),
            Err(e) => progress(format!(
                "{}: not removed: {e}",
                name.trim_start_matches('/')
            )),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(demo_filter(extra_labels)),
        }))
        .await
        .map_err(|e| format!("cannot list networks: {e}"))?;
    for n in networks {
        let name = n.name.unwrap_or_default();
        match docker.remove_network(&name).await {
            Ok(()) => progress(format!("network {name}: removed")),
            Err(e) => progress(format!("network {name}: not removed: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Topology;

    #[test]
    fn the_workload_is_embedded_and_static() {
        assert!(AGILE_SIM.len() > 100_000, "{AGILE_SIM_MISSING_WHY}");
        assert_eq!(&AGILE_SIM[..4], b"\x7fELF");
    }

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
            assert!(!alias_networks(r).contains(&MONITORING.name), "{}", r.name);
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
