//! `demo up --swarm`: the reference's production shape
//! (`docker-compose.prod.yml`) as Swarm services on the daemon's cluster,
//! scaled down and running agile-sim — control ×3 on managers,
//! coordinators and agent teams spread over the nodes, postgres-primary on
//! `node.labels.db == primary`, redis-master on `node.labels.cache ==
//! primary`, the reference's restart and update policies. The node labels
//! it needs are a plan the user confirms; `demo down --swarm` removes
//! exactly what `up` made: its services, its networks, the labels it added.
//!
//! No IPVS is assumed: services resolve by DNS round robin (`dnsrr`).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Limit, NetworkAttachmentConfig, NetworkCreateRequest,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::{ListNetworksOptions, ListServicesOptions};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::model::SwarmNode;
use crate::ops::node::NodeChange;

/// On every service, network and task container `up` makes.
pub const SWARM_LABEL: &str = "agile-deck.demo-swarm";
/// On a node: the label keys the demo added there (for `down`).
const ADDED_LABELS: &str = "agile-deck.demo-added";
/// The stack-like prefix of names (`agile_control`).
const STACK: &str = "agile";

/// One service of the production shape.
struct Shape {
    name: &'static str,
    layer: &'static str,
    component: &'static str,
    team: Option<&'static str>,
    replicas: u64,
    zone: &'static str,
    constraints: &'static [&'static str],
    spread: bool,
    /// The reference's update policy for the control layer.
    careful_updates: bool,
    cpu: &'static str,
}

/// A spread service of the shape with no constraint (the common case).
const fn spread(
    name: &'static str,
    layer: &'static str,
    component: &'static str,
    replicas: u64,
    zone: &'static str,
) -> Shape {
    Shape {
        name,
        layer,
        component,
        team: None,
        replicas,
        zone,
        constraints: &[],
        spread: true,
        careful_updates: false,
        cpu: "0.01",
    }
}

/// The reference's prod services, scaled down (teams 5 → 3, 8 → 4).
const SHAPE: [Shape; 9] = [
    spread("nginx", "frontend", "load-balancer", 2, "frontend"),
    Shape {
        constraints: &["node.role == manager"],
        spread: false,
        careful_updates: true,
        cpu: "0.02",
        ..spread("control", "control", "control-layer", 3, "control")
    },
    Shape {
        cpu: "0.02",
        ..spread(
            "coordinator",
            "coordination",
            "coordinator",
            2,
            "coordination",
        )
    },
    Shape {
        team: Some("product"),
        cpu: "0.02",
        ..spread("product-team", "execution", "agent", 3, "execution")
    },
    Shape {
        team: Some("development"),
        cpu: "0.03",
        ..spread("development-team", "execution", "agent", 4, "execution")
    },
    Shape {
        constraints: &["node.labels.db == primary"],
        spread: false,
        ..spread("postgres-primary", "data", "postgres", 1, "data")
    },
    spread("postgres-replica", "data", "postgres", 2, "data"),
    Shape {
        constraints: &["node.labels.cache == primary"],
        spread: false,
        ..spread("redis-master", "data", "redis", 1, "data")
    },
    spread("redis-slave", "data", "redis", 2, "data"),
];

/// The zones' overlay networks; all but the frontend internal.
const ZONES: [&str; 5] = ["frontend", "control", "coordination", "execution", "data"];

fn network(zone: &str) -> String {
    format!("{STACK}_{zone}-net")
}

fn service_name(s: &Shape) -> String {
    format!("{STACK}_{}", s.name)
}

/// The node labels the shape needs, and the nodes to put them on: a label
/// some node has already is left as it is; else a worker (the first by
/// name not chosen yet), else any node.
pub fn label_plan(nodes: &[SwarmNode]) -> Vec<(SwarmNode, NodeChange)> {
    let mut out: Vec<(SwarmNode, NodeChange)> = Vec::new();
    let mut sorted: Vec<&SwarmNode> = nodes.iter().filter(|n| n.state == "ready").collect();
    sorted.sort_by_key(|n| {
        (
            n.role == crate::model::SwarmRole::Manager,
            n.hostname.clone(),
        )
    });
    for key in ["db", "cache"] {
        if nodes
            .iter()
            .any(|n| n.labels.get(key).map(String::as_str) == Some("primary"))
        {
            continue;
        }
        let taken = |n: &SwarmNode| out.iter().any(|(o, _)| o.id == n.id);
        let Some(node) = sorted.iter().find(|n| !taken(n)).or(sorted.first()) else {
            continue;
        };
        out.push((
            (*node).clone(),
            NodeChange::Label {
                key: key.into(),
                value: Some("primary".into()),
            },
        ));
    }
    out
}

/// Put the planned labels on, marking each node with what the demo added.
pub async fn apply_labels(docker: &Docker, plan: &[(SwarmNode, NodeChange)]) -> Result<()> {
    for (node, change) in plan {
        crate::ops::node::update(docker, &node.id, &node.hostname, change)
            .await
            .map_err(|e| eyre!("{}: {}", node.hostname, e.message))?;
        let NodeChange::Label { key, .. } = change else {
            continue;
        };
        let fresh = crate::sources::list_nodes(docker)
            .await
            .wrap_err("cannot list the nodes")?;
        let mut added: Vec<String> = fresh
            .iter()
            .find(|n| n.id == node.id)
            .and_then(|n| n.labels.get(ADDED_LABELS))
            .map(|v| v.split(',').map(String::from).collect())
            .unwrap_or_default();
        if !added.contains(key) {
            added.push(key.clone());
        }
        let mark = NodeChange::Label {
            key: ADDED_LABELS.into(),
            value: Some(added.join(",")),
        };
        crate::ops::node::update(docker, &node.id, &node.hostname, &mark)
            .await
            .map_err(|e| eyre!("{}: {}", node.hostname, e.message))?;
    }
    Ok(())
}

fn spec(s: &Shape, image: &str) -> ServiceSpec {
    let secs = |n: i64| n * 1_000_000_000;
    let mut labels: HashMap<String, String> = [
        ("app", "agile-ai"),
        ("layer", s.layer),
        ("component", s.component),
        ("environment", "demo"),
        ("managed-by", "agile-deck"),
        (SWARM_LABEL, "prod"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(team) = s.team {
        labels.insert("team".into(), team.into());
    }
    let mut env = vec![
        format!("CPU={}", s.cpu),
        "LOAD_RPS=2".into(),
        format!("SERVICE_NAME={}", s.name),
        "UNHEALTHY_IF_VERSION=bad".into(),
    ];
    if let Some(team) = s.team {
        env.push(format!("TEAM_ID=team-{team}"));
    }
    ServiceSpec {
        name: Some(service_name(s)),
        labels: Some(labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.into()),
                user: Some(super::deployment::DEMO_USER.into()),
                read_only: Some(true),
                labels: Some(labels),
                env: Some(env),
                health_check: Some(super::deployment::health_check()),
                stop_grace_period: Some(secs(2)),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus: Some(250_000_000),
                    memory_bytes: Some(64 << 20),
                    pids: Some(super::deployment::DEMO_PIDS),
                }),
                ..Default::default()
            }),
            // The reference's x-deploy-policy.
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE),
                delay: Some(secs(5)),
                max_attempts: Some(3),
                window: Some(secs(120)),
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(s.constraints.iter().map(|c| c.to_string()).collect()),
                preferences: s.spread.then(|| {
                    vec![TaskSpecPlacementPreferences {
                        spread: Some(TaskSpecPlacementSpread {
                            spread_descriptor: Some("node.id".into()),
                        }),
                    }]
                }),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(network(s.zone)),
                aliases: Some(vec![s.name.to_string()]),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(s.replicas as i64),
            }),
            ..Default::default()
        }),
        update_config: s.careful_updates.then(|| ServiceSpecUpdateConfig {
            parallelism: Some(1),
            delay: Some(secs(10)),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![SWARM_LABEL.to_string()])])
}

/// Whether the overlay `name` exists. One just removed stays listed a
/// moment, while inspecting it says "not found": wait until it is gone.
async fn exists(docker: &Docker, name: &str) -> Result<bool> {
    for _ in 0..20 {
        match docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => return Ok(true),
            Err(e) if e.to_string().contains("not found") => {
                let listed = docker
                    .list_networks(None::<ListNetworksOptions>)
                    .await
                    .wrap_err("cannot list networks")?
                    .iter()
                    .any(|n| n.name.as_deref() == Some(name));
                if !listed {
                    return Ok(false);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).wrap_err_with(|| format!("cannot inspect {name}")),
        }
    }
    Err(eyre!(
        "the network {name} was removed but is still listed; try again in a moment"
    ))
}

/// Create what is missing of the shape on the manager `docker` (idempotent).
/// The image must be on every node (no registry: the caller builds it on
/// each node that is one of its hosts).
pub async fn up(docker: &Docker, image: &str, progress: &mut dyn FnMut(String)) -> Result<()> {
    for zone in ZONES {
        let name = network(zone);
        if exists(docker, &name).await? {
            progress(format!("network {name}: exists"));
            continue;
        }
        docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("overlay".into()),
                attachable: Some(true),
                internal: Some(zone != "frontend"),
                labels: Some(HashMap::from([
                    (SWARM_LABEL.to_string(), "prod".to_string()),
                    ("zone".to_string(), zone.to_string()),
                ])),
                ..Default::default()
            })
            .await
            .wrap_err_with(|| format!("cannot create the overlay network {name}"))?;
        progress(format!("network {name}: created (overlay)"));
    }
    let existing = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filter()),
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list services")?;
    for s in &SHAPE {
        let name = service_name(s);
        if existing
            .iter()
            .any(|e| e.spec.as_ref().and_then(|x| x.name.as_deref()) == Some(name.as_str()))
        {
            progress(format!("{name}: exists"));
            continue;
        }
        docker
            .create_service(spec(s, image), None)
            .await
            .wrap_err_with(|| format!("cannot create the service {name}"))?;
        progress(format!(
            "{name}: created, {} replica{}{}",
            s.replicas,
            if s.replicas == 1 { "" } else { "s" },
            if s.constraints.is_empty() {
                String::new()
            } else {
                format!(" on {}", s.constraints.join(", "))
            }
        ));
    }
    Ok(())
}

/// Remove the shape's services and networks and the node labels `up`
/// added; nothing else.
pub async fn down(docker: &Docker, progress: &mut dyn FnMut(String)) -> Result<()> {
    let services = docker
        .list_services(Some(ListServicesOptions {
            filters: Some(filter()),
            ..Default::default()
        }))
        .await
        .wrap_err("cannot list services")?;
    for s in services {
        let name = s.spec.and_then(|x| x.name).unwrap_or_default();
        match docker.delete_service(&s.id.unwrap_or_default()).await {
            Ok(()) => progress(format!("{name}: removed")),
            Err(e) => progress(format!("{name}: not removed: {e}")),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter()),
        }))
        .await
        .wrap_err("cannot list networks")?;
    for n in networks {
        let name = n.name.unwrap_or_default();
        match super::remove_network(docker, &name).await {
            Ok(()) => progress(format!("network {name}: removed")),
            Err(e) => progress(format!("network {name}: not removed: {e}")),
        }
    }
    for node in crate::sources::list_nodes(docker)
        .await
        .wrap_err("cannot list the nodes")?
    {
        let Some(added) = node.labels.get(ADDED_LABELS) else {
            continue;
        };
        for key in added.split(',').chain([ADDED_LABELS]) {
            let change = NodeChange::Label {
                key: key.into(),
                value: None,
            };
            match crate::ops::node::update(docker, &node.id, &node.hostname, &change).await {
                Ok(_) => progress(format!("node {}: label {key} removed", node.hostname)),
                Err(e) => progress(format!(
                    "node {}: label {key}: {}",
                    node.hostname, e.message
                )),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SwarmRole;

    fn node(name: &str, role: SwarmRole, labels: &[(&str, &str)]) -> SwarmNode {
        SwarmNode {
            id: format!("id-{name}"),
            hostname: name.into(),
            role,
            state: "ready".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..SwarmNode::default()
        }
    }

    #[test]
    fn labels_go_on_workers_and_only_where_missing() {
        let nodes = [
            node("c1", SwarmRole::Manager, &[]),
            node("c2", SwarmRole::Worker, &[]),
            node("c3", SwarmRole::Worker, &[]),
        ];
        let plan: Vec<(String, String)> = label_plan(&nodes)
            .into_iter()
            .map(|(n, c)| (n.hostname, c.cli("x")))
            .collect();
        assert_eq!(
            plan,
            [
                (
                    "c2".into(),
                    "docker node update --label-add db=primary x".into()
                ),
                (
                    "c3".into(),
                    "docker node update --label-add cache=primary x".into()
                ),
            ]
        );
        let labelled = [
            node("c1", SwarmRole::Manager, &[("cache", "primary")]),
            node("c2", SwarmRole::Worker, &[("db", "primary")]),
        ];
        assert!(label_plan(&labelled).is_empty());
        // One node alone takes both.
        let alone = [node("solo", SwarmRole::Manager, &[])];
        assert_eq!(label_plan(&alone).len(), 2);
    }

    #[test]
    fn the_shape_is_the_references() {
        let control = SHAPE.iter().find(|s| s.name == "control").unwrap();
        let spec = spec(control, "agile-sim:1");
        assert_eq!(spec.name.as_deref(), Some("agile_control"));
        let task = spec.task_template.unwrap();
        assert_eq!(
            task.placement.unwrap().constraints.unwrap(),
            ["node.role == manager"]
        );
        assert_eq!(
            task.restart_policy.unwrap().condition,
            Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE)
        );
        assert_eq!(
            spec.update_config.unwrap().failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        assert_eq!(spec.mode.unwrap().replicated.unwrap().replicas, Some(3));
        let total: u64 = SHAPE.iter().map(|s| s.replicas).sum();
        assert_eq!(total, 20);
    }
}
