//! The inventory: containers (listed, then inspected, skipping unchanged
//! ones on a resync), networks, and on a Swarm manager services and their
//! running tasks cluster-wide.

use super::*;
use crate::model::{
    Bind, Posture, State, SwarmLifecycle, SwarmNode, SwarmRole, SwarmTask, TaskRules,
};

/// Concurrent inspect calls, in a listing and for events.
pub const INSPECT_CONCURRENCY: usize = 8;

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s?).ok()?.with_timezone(&Utc);
    // Docker writes 0001-01-01T00:00:00Z for "never".
    (t.timestamp() > 0).then_some(t)
}

/// Build a `Replica` from `docker inspect` output.
pub fn replica_from_inspect(topology: &Topology, c: ContainerInspectResponse) -> Replica {
    let config = c.config.unwrap_or_default();
    let state = c.state.unwrap_or_default();
    let host = c.host_config.unwrap_or_default();
    let net = c.network_settings.unwrap_or_default();
    let name = c
        .name
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let labels: BTreeMap<String, String> = config.labels.unwrap_or_default().into_iter().collect();
    let health = state
        .health
        .as_ref()
        .and_then(|h| h.status.as_ref())
        .map(|s| Health::parse(s.as_ref()))
        .unwrap_or(Health::NoCheck);
    let cpu_limit = match (host.nano_cpus, host.cpu_quota, host.cpu_period) {
        (Some(n), _, _) if n > 0 => Some(n as f64 / 1e9),
        (_, Some(q), p) if q > 0 => Some(q as f64 / p.filter(|p| *p > 0).unwrap_or(100_000) as f64),
        _ => None,
    };
    let mut networks: Vec<NetworkAttachment> = net
        .networks
        .unwrap_or_default()
        .into_iter()
        .map(|(network, e)| NetworkAttachment {
            network,
            ip: e.ip_address.unwrap_or_default(),
            aliases: e.aliases.unwrap_or_default(),
        })
        .collect();
    networks.sort_by(|a, b| a.network.cmp(&b.network));
    let mut ports: Vec<PortMapping> = Vec::new();
    for (container_port, bindings) in net.ports.unwrap_or_default() {
        match bindings.filter(|b| !b.is_empty()) {
            None => ports.push(PortMapping {
                container_port,
                host_ip: String::new(),
                host_port: String::new(),
            }),
            Some(bs) => ports.extend(bs.into_iter().map(|b| PortMapping {
                container_port: container_port.clone(),
                host_ip: b.host_ip.unwrap_or_default(),
                host_port: b.host_port.unwrap_or_default(),
            })),
        }
    }
    ports.sort_by(|a, b| (&a.container_port, &a.host_ip).cmp(&(&b.container_port, &b.host_ip)));
    let placement = topology.place(&name, &labels);
    let posture = Posture {
        user: config.user.clone().unwrap_or_default(),
        privileged: host.privileged.unwrap_or(false),
        cap_add: host.cap_add.clone().unwrap_or_default(),
        read_only_root: host.readonly_rootfs.unwrap_or(false),
        network_mode: host.network_mode.clone().unwrap_or_default(),
        pid_mode: host.pid_mode.clone().unwrap_or_default(),
        binds: c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.typ.as_deref() == Some("bind"))
            .map(|m| Bind {
                source: m.source.unwrap_or_default(),
                destination: m.destination.unwrap_or_default(),
                writable: m.rw.unwrap_or(true),
            })
            .collect(),
        // Names only: the value after `=` is dropped here, never kept.
        env_names: config
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|mut e| {
                e.truncate(e.find('=').unwrap_or(e.len()));
                e
            })
            .collect(),
        restart: host
            .restart_policy
            .as_ref()
            .and_then(|p| p.name)
            .map(|n| n.to_string())
            .unwrap_or_default(),
    };
    Replica {
        posture: Some(posture),
        host: Default::default(),
        id: c.id.unwrap_or_default(),
        name,
        image: config.image.unwrap_or_default(),
        state: state
            .status
            .map(|s| State::from(s.to_string()))
            .unwrap_or(State::Other("unknown".into())),
        health,
        created: c.created,
        started_at: parse_time(state.started_at.as_deref()),
        finished_at: parse_time(state.finished_at.as_deref()),
        restart_count: c.restart_count.unwrap_or(0),
        exit_code: state.exit_code.unwrap_or(0),
        oom_killed: state.oom_killed.unwrap_or(false),
        health_log: state
            .health
            .as_ref()
            .and_then(|h| h.log.clone())
            .unwrap_or_default()
            .into_iter()
            .rev()
            .take(5)
            .rev()
            .map(|p| crate::model::Probe {
                start: p.start,
                exit_code: p.exit_code.unwrap_or(-1),
                output: p.output.unwrap_or_default(),
            })
            .collect(),
        start_period: config
            .healthcheck
            .as_ref()
            .and_then(|h| h.start_period)
            .filter(|ns| *ns > 0)
            .map(chrono::Duration::nanoseconds),
        pid: state.pid.filter(|p| *p > 0).map(|p| p as u32),
        cpu_limit,
        mem_limit: host.memory.filter(|m| *m > 0).map(|m| m as u64),
        limits: crate::units::Resources {
            nano_cpus: Some(host.nano_cpus.unwrap_or(0)),
            memory: Some(host.memory.unwrap_or(0)),
            memory_reservation: Some(host.memory_reservation.unwrap_or(0)),
            memory_swap: Some(host.memory_swap.unwrap_or(0)),
            pids_limit: Some(host.pids_limit.unwrap_or(0)),
        },
        stop_timeout: config.stop_timeout,
        networks,
        ports,
        labels,
        placement,
    }
}

/// A first sketch of a container from `docker ps` output, shown (with live
/// figures) while the inspect that fills in the rest is on its way: names,
/// labels (so placement), state, health, image, networks and ports.
/// Limits, restarts, exit details and network aliases wait for inspect.
pub fn replica_from_summary(topology: &Topology, s: &ContainerSummary) -> Replica {
    let name = s
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default();
    let labels: BTreeMap<String, String> =
        s.labels.clone().unwrap_or_default().into_iter().collect();
    let (state, health) = summary_state(s);
    let mut networks: Vec<NetworkAttachment> = s
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(network, e)| NetworkAttachment {
            network,
            ip: e.ip_address.unwrap_or_default(),
            aliases: Vec::new(),
        })
        .collect();
    networks.sort_by(|a, b| a.network.cmp(&b.network));
    let mut ports: Vec<PortMapping> = s
        .ports
        .iter()
        .flatten()
        .map(|p| PortMapping {
            container_port: format!(
                "{}/{}",
                p.private_port,
                p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into())
            ),
            host_ip: p.ip.clone().unwrap_or_default(),
            host_port: p.public_port.map(|p| p.to_string()).unwrap_or_default(),
        })
        .collect();
    ports.sort_by(|a, b| (&a.container_port, &a.host_ip).cmp(&(&b.container_port, &b.host_ip)));
    Replica {
        host: Default::default(),
        id: s.id.clone().unwrap_or_default(),
        placement: topology.place(&name, &labels),
        name,
        image: s.image.clone().unwrap_or_default(),
        state,
        health,
        created: s
            .created
            .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)),
        started_at: None,
        finished_at: None,
        restart_count: 0,
        exit_code: 0,
        oom_killed: false,
        pid: None,
        cpu_limit: None,
        mem_limit: None,
        limits: Default::default(),
        stop_timeout: None,
        health_log: Vec::new(),
        start_period: None,
        networks,
        ports,
        labels,
        posture: None,
    }
}

/// Inspect one container; Ok(None) when it is gone.
pub async fn inspect(
    docker: &Docker,
    topology: &Topology,
    id: &str,
) -> Result<Option<Replica>, bollard::errors::Error> {
    match docker.inspect_container(id, None).await {
        Ok(c) => Ok(Some(replica_from_inspect(topology, c))),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// State and health as `docker ps` shows them, to skip inspecting
/// containers that did not change since the last listing.
pub fn summary_state(s: &ContainerSummary) -> (State, Health) {
    let state = s
        .state
        .map(|s| State::from(s.to_string()))
        .unwrap_or_default();
    let status = s.status.as_deref().unwrap_or("");
    let health = if state != State::Running {
        Health::NoCheck
    } else if status.contains("(healthy)") {
        Health::Healthy
    } else if status.contains("(unhealthy)") {
        Health::Unhealthy
    } else if status.contains("(health: starting)") {
        Health::Starting
    } else {
        Health::NoCheck
    };
    (state, health)
}

/// `docker ps -a`.
async fn all_containers(docker: &Docker) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
}

/// The full inventory: every container (inspected unless `known` says it is
/// unchanged) and, on a Swarm manager, the services.
#[derive(Debug)]
pub struct Listing {
    pub present: Vec<String>,
    pub inspected: Vec<Replica>,
    /// `inspected` holds sketches from `docker ps` (`list_quick`): they
    /// stand in only for containers not known yet.
    pub provisional: bool,
    pub services: Option<Vec<SwarmService>>,
    /// The Swarm's nodes, when this daemon is a manager.
    pub nodes: Option<Vec<SwarmNode>>,
    pub networks: Vec<DockerNetwork>,
}

pub async fn list(
    docker: &Docker,
    topology: &Topology,
    known: &HashMap<String, (State, Health)>,
    swarm_manager: bool,
) -> Result<Listing, bollard::errors::Error> {
    let summaries = all_containers(docker).await?;
    let present: Vec<String> = summaries.iter().filter_map(|s| s.id.clone()).collect();
    let to_inspect: Vec<String> = summaries
        .iter()
        .filter(|s| {
            let id = s.id.as_deref().unwrap_or("");
            known.get(id) != Some(&summary_state(s))
        })
        .filter_map(|s| s.id.clone())
        .collect();
    let inspected = stream::iter(to_inspect)
        .map(|id| async move { inspect(docker, topology, &id).await })
        .buffer_unordered(INSPECT_CONCURRENCY)
        .filter_map(|r| async move { r.ok().flatten() })
        .collect::<Vec<Replica>>();
    let swarm = async {
        if swarm_manager {
            let (services, nodes) =
                tokio::join!(list_services(docker, topology), list_nodes(docker));
            Ok::<_, bollard::errors::Error>((Some(services?), Some(nodes?)))
        } else {
            Ok((None, None))
        }
    };
    // All at once: the first screen waits for the slowest, not the sum.
    let (inspected, swarm, networks) = tokio::join!(inspected, swarm, list_networks(docker));
    let (services, nodes) = swarm?;
    Ok(Listing {
        present,
        inspected,
        provisional: false,
        services,
        nodes,
        networks: networks?,
    })
}

/// Every container sketched from one `docker ps` call, with no inspect: at
/// start, hundreds of containers are on screen (and their figures on the
/// way) before the first of their inspects returns.
pub async fn list_quick(
    docker: &Docker,
    topology: &Topology,
) -> Result<Listing, bollard::errors::Error> {
    let summaries = all_containers(docker).await?;
    Ok(Listing {
        present: summaries.iter().filter_map(|s| s.id.clone()).collect(),
        inspected: summaries
            .iter()
            .map(|s| replica_from_summary(topology, s))
            .collect(),
        provisional: true,
        services: None,
        nodes: None,
        networks: list_networks(docker).await?,
    })
}

pub async fn list_networks(docker: &Docker) -> Result<Vec<DockerNetwork>, bollard::errors::Error> {
    let mut networks: Vec<DockerNetwork> = docker
        .list_networks(None::<ListNetworksOptions>)
        .await?
        .into_iter()
        .map(|n| DockerNetwork {
            host: Default::default(),
            id: n.id.unwrap_or_default(),
            name: n.name.unwrap_or_default(),
            driver: n.driver.unwrap_or_default(),
            scope: n.scope.unwrap_or_default(),
            internal: n.internal.unwrap_or(false),
            subnets: n
                .ipam
                .as_ref()
                .and_then(|i| i.config.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.subnet)
                .collect(),
            gateways: n
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.gateway)
                .collect(),
            labels: n.labels.unwrap_or_default().into_iter().collect(),
            icc: n
                .options
                .as_ref()
                .and_then(|o| o.get("com.docker.network.bridge.enable_icc"))
                .is_none_or(|v| v != "false"),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(networks)
}

/// The Swarm's nodes (a manager's view), each with the tasks Swarm wants
/// running there: how many, how many run, and what they reserve.
pub async fn list_nodes(docker: &Docker) -> Result<Vec<SwarmNode>, bollard::errors::Error> {
    let (nodes, tasks) = tokio::join!(docker.list_nodes(None), wanted_tasks(docker));
    let (nodes, tasks) = (nodes?, tasks?);
    let mut out: Vec<SwarmNode> = nodes
        .into_iter()
        .map(|n| {
            let spec = n.spec.unwrap_or_default();
            let desc = n.description.unwrap_or_default();
            let status = n.status.unwrap_or_default();
            let resources = desc.resources.unwrap_or_default();
            let manager = n.manager_status;
            let word = |w: Option<String>| w.unwrap_or_default();
            SwarmNode {
                id: n.id.unwrap_or_default(),
                hostname: desc.hostname.unwrap_or_default(),
                role: spec
                    .role
                    .map(|r| SwarmRole::from(r.to_string()))
                    .unwrap_or_default(),
                leader: manager.as_ref().and_then(|m| m.leader).unwrap_or(false),
                reachability: word(
                    manager
                        .as_ref()
                        .and_then(|m| m.reachability)
                        .map(|r| r.to_string()),
                ),
                availability: word(spec.availability.map(|a| a.to_string())),
                state: word(status.state.map(|s| s.to_string())),
                message: word(status.message),
                addr: word(status.addr),
                engine: word(desc.engine.and_then(|e| e.engine_version)),
                labels: spec.labels.unwrap_or_default().into_iter().collect(),
                cpus: resources.nano_cpus.unwrap_or(0) as f64 / 1e9,
                memory: resources.memory_bytes.unwrap_or(0).max(0) as u64,
                ..SwarmNode::default()
            }
        })
        .collect();
    for t in tasks {
        let Some(node) = out
            .iter_mut()
            .find(|n| t.node_id.as_deref() == Some(n.id.as_str()))
        else {
            continue;
        };
        node.tasks_wanted += 1;
        let state = t.status.and_then(|s| s.state).map(|s| s.to_string());
        if state.as_deref() == Some("running") {
            node.tasks_running += 1;
        }
        let reserved = t
            .spec
            .and_then(|s| s.resources)
            .and_then(|r| r.reservations)
            .unwrap_or_default();
        node.reserved_cpus += reserved.nano_cpus.unwrap_or(0) as f64 / 1e9;
        node.reserved_memory += reserved.memory_bytes.unwrap_or(0).max(0) as u64;
    }
    out.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// The tasks Swarm wants running, cluster-wide.
async fn wanted_tasks(
    docker: &Docker,
) -> Result<Vec<bollard::models::Task>, bollard::errors::Error> {
    let mut filters = HashMap::new();
    filters.insert("desired-state".to_string(), vec!["running".to_string()]);
    docker
        .list_tasks(Some(ListTasksOptions {
            filters: Some(filters),
        }))
        .await
}

pub async fn list_services(
    docker: &Docker,
    topology: &Topology,
) -> Result<Vec<SwarmService>, bollard::errors::Error> {
    let services = docker.list_services(None).await?;
    // Running tasks per service, cluster-wide.
    let tasks = wanted_tasks(docker).await?;
    let mut running: HashMap<String, u64> = HashMap::new();
    let mut desired: HashMap<String, u64> = HashMap::new();
    // Tasks that do not run, and Swarm's first reason for them.
    let mut waiting: HashMap<String, (u64, String)> = HashMap::new();
    let mut by_service: HashMap<String, Vec<SwarmTask>> = HashMap::new();
    for t in tasks {
        let status = t.status.unwrap_or_default();
        let state = status.state.map(|s| s.to_string());
        let Some(service) = t.service_id else {
            continue;
        };
        by_service
            .entry(service.clone())
            .or_default()
            .push(SwarmTask {
                slot: t.slot.map(|s| s.max(0) as u64),
                node_id: t.node_id.unwrap_or_default(),
                desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                state: state.clone().unwrap_or_default(),
                error: status.err.clone().unwrap_or_default(),
            });
        *desired.entry(service.clone()).or_default() += 1;
        if state.as_deref() == Some("running") {
            *running.entry(service).or_default() += 1;
        } else {
            // `err` says why (no suitable node, image not found); else the
            // state and Swarm's message (`pending task scheduling`).
            let why = match status.err.filter(|e| !e.is_empty()) {
                Some(err) => err,
                None => format!(
                    "{}: {}",
                    state.unwrap_or_default(),
                    status.message.unwrap_or_default()
                ),
            };
            let w = waiting.entry(service).or_insert((0, why));
            w.0 += 1;
        }
    }
    Ok(services
        .into_iter()
        .filter_map(|s| {
            let spec = s.spec?;
            let id = s.id.unwrap_or_default();
            let name = spec.name.clone().unwrap_or_default();
            let labels: BTreeMap<String, String> =
                spec.labels.unwrap_or_default().into_iter().collect();
            // Placed by its service labels, else by the labels its tasks'
            // containers get (`--container-label`): the same place as its
            // containers, so it is listed once.
            let mut placement_labels: BTreeMap<String, String> = spec
                .task_template
                .as_ref()
                .and_then(|t| t.container_spec.as_ref())
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            placement_labels.extend(labels.clone());
            placement_labels.insert(crate::topology::SWARM_SERVICE.to_string(), name.clone());
            let template = spec.task_template.as_ref();
            let placement = template.and_then(|t| t.placement.as_ref());
            let reserved = template
                .and_then(|t| t.resources.as_ref())
                .and_then(|r| r.reservations.as_ref());
            let rules = TaskRules {
                constraints: placement
                    .and_then(|p| p.constraints.clone())
                    .unwrap_or_default(),
                cpus: reserved.and_then(|r| r.nano_cpus).unwrap_or(0).max(0) as f64 / 1e9,
                memory: reserved.and_then(|r| r.memory_bytes).unwrap_or(0).max(0) as u64,
                max_per_node: placement.and_then(|p| p.max_replicas).unwrap_or(0).max(0) as u64,
            };
            let lifecycle = SwarmLifecycle {
                update_failure_action: spec
                    .update_config
                    .as_ref()
                    .map(|u| u.failure_action.map(|a| a.to_string()).unwrap_or_default()),
                rollback_config: spec.rollback_config.is_some(),
                restart_condition: template
                    .and_then(|t| t.restart_policy.as_ref())
                    .map(|r| r.condition.map(|c| c.to_string()).unwrap_or_default()),
            };
            Some(SwarmService {
                rules,
                lifecycle,
                running_tasks: running.get(&id).copied().unwrap_or(0),
                desired_tasks: desired.get(&id).copied().unwrap_or(0),
                pending: waiting
                    .get(&id)
                    .map(|(n, why)| format!("{n} not running: {why}")),
                tasks: {
                    let mut tasks = by_service.remove(&id).unwrap_or_default();
                    tasks.sort_by(|a, b| (a.slot, &a.node_id).cmp(&(b.slot, &b.node_id)));
                    tasks
                },
                id,
                placement: topology.place(&name, &placement_labels),
                name,
                image: spec
                    .task_template
                    .and_then(|t| t.container_spec)
                    .and_then(|c| c.image)
                    .unwrap_or_default(),
                replicas: spec
                    .mode
                    .and_then(|m| m.replicated)
                    .and_then(|r| r.replicas)
                    .map(|n| n.max(0) as u64),
                labels,
            })
        })
        .collect())
}
