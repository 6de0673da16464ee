//! Swarm node operations as plans: drain, pause, activate, add or remove a
//! label, promote, demote. Each is one `docker node update` (or promote /
//! demote) against a manager, with the value before and after journalled
//! and its inverse kept for undo. A drain lists the tasks that will move
//! and warns when the other nodes cannot take them.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{NodeSpecAvailabilityEnum, NodeSpecRoleEnum};
use serde_json::json;

use crate::fleet::Fleet;
use crate::model::{SwarmNode, SwarmRole};

use super::steps::step_error;
use super::{Action, Failure, Kind, Plan, Step, StepError, UndoSpec};

/// What a node operation changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeChange {
    /// `active`, `pause` or `drain`.
    Availability(String),
    Role(SwarmRole),
    /// Set a label (`value` Some) or remove it (None).
    Label {
        key: String,
        value: Option<String>,
    },
}

impl NodeChange {
    /// The docker CLI that does it to `node`.
    pub fn cli(&self, node: &str) -> String {
        match self {
            NodeChange::Availability(a) => format!("docker node update --availability {a} {node}"),
            NodeChange::Role(SwarmRole::Manager) => format!("docker node promote {node}"),
            NodeChange::Role(_) => format!("docker node demote {node}"),
            NodeChange::Label {
                key,
                value: Some(v),
            } => format!("docker node update --label-add {key}={v} {node}"),
            NodeChange::Label { key, value: None } => {
                format!("docker node update --label-rm {key} {node}")
            }
        }
    }

    /// What it is now on `node`, in the change's own terms: what undo puts back.
    fn current(&self, node: &SwarmNode) -> NodeChange {
        match self {
            NodeChange::Availability(_) => NodeChange::Availability(node.availability.clone()),
            NodeChange::Role(_) => NodeChange::Role(node.role.clone()),
            NodeChange::Label { key, .. } => NodeChange::Label {
                key: key.clone(),
                value: node.labels.get(key).cloned(),
            },
        }
    }

    fn words(&self) -> String {
        match self {
            NodeChange::Availability(a) => format!("availability {a}"),
            NodeChange::Role(r) => format!("role {r}"),
            NodeChange::Label {
                key,
                value: Some(v),
            } => format!("label {key}={v}"),
            NodeChange::Label { key, value: None } => format!("no label {key}"),
        }
    }
}

/// A node operation's target, as the journal and undo know it: `node c2`.
pub fn target(hostname: &str) -> String {
    format!("node {hostname}")
}

/// The node `name` names (hostname or id), as the manager lists it now.
pub fn find<'a>(fleet: &'a Fleet, name: &str) -> Result<&'a SwarmNode, String> {
    if fleet.nodes.is_empty() {
        return Err(
            "no Swarm node is listed: a node operation needs a Swarm manager among the hosts"
                .into(),
        );
    }
    fleet
        .nodes
        .iter()
        .find(|n| n.hostname == name || n.id == name || (name.len() >= 6 && n.id.starts_with(name)))
        .ok_or_else(|| {
            let names: Vec<&str> = fleet.nodes.iter().map(|n| n.hostname.as_str()).collect();
            format!("no node {name:?}; the nodes are {}", names.join(", "))
        })
}

/// The plan that makes `change` to `node`.
pub fn plan(fleet: &Fleet, node: &SwarmNode, change: NodeChange) -> Result<Plan, String> {
    let before = change.current(node);
    if before == change {
        return Err(format!("{} has {} already", node.hostname, change.words()));
    }
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    match &change {
        NodeChange::Availability(a) if a == "drain" => {
            drain_effects(fleet, node, &mut notes, &mut warnings)
        }
        NodeChange::Availability(a) if a == "pause" => notes.push(format!(
            "{}'s tasks keep running; no new task goes there",
            node.hostname
        )),
        NodeChange::Role(SwarmRole::Worker) => {
            let managers = fleet
                .nodes
                .iter()
                .filter(|n| n.role == SwarmRole::Manager)
                .count();
            if managers <= 1 {
                return Err(format!(
                    "{} is the only manager: demoting it would leave the Swarm without one",
                    node.hostname
                ));
            }
            if managers <= 3 {
                warnings.push(format!(
                    "{managers} managers → {}: Raft keeps a quorum of a majority; fewer managers tolerate fewer failures",
                    managers - 1
                ));
            }
        }
        NodeChange::Label { key, value: None } => {
            let users: Vec<&str> = fleet
                .swarm_services()
                .iter()
                .filter(|s| {
                    s.rules
                        .constraints
                        .iter()
                        .any(|c| c.contains(&format!("node.labels.{key}")))
                })
                .map(|s| s.name.as_str())
                .collect();
            if !users.is_empty() {
                warnings.push(format!(
                    "placement constraints use node.labels.{key}: {}",
                    users.join(", ")
                ));
            }
        }
        _ => {}
    }
    let cli = change.cli(&node.hostname);
    let step = Step {
        what: format!("{}: {} → {}", node.hostname, before.words(), change.words()),
        cli: cli.clone(),
        action: Action::NodeUpdate {
            node: node.id.clone(),
            hostname: node.hostname.clone(),
            change: change.clone(),
        },
        before: json!({ "node": node.hostname, "was": before.words() }),
        after: json!({ "node": node.hostname, "now": change.words() }),
    };
    Ok(Plan {
        kind: Kind::Node,
        title: format!("node {}: {}", node.hostname, change.words()),
        target: target(&node.hostname),
        locks: vec![format!("node {}", node.id)],
        params: json!({ "node": node.hostname, "change": change.words() }),
        steps: vec![step],
        notes,
        warnings,
        undo: Some(UndoSpec::Node {
            node: node.hostname.clone(),
            change: before,
        }),
    })
}

/// A drain's tasks move: which, and whether the other nodes hold them.
fn drain_effects(
    fleet: &Fleet,
    node: &SwarmNode,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let others: Vec<SwarmNode> = fleet
        .nodes
        .iter()
        .filter(|n| n.id != node.id)
        .cloned()
        .collect();
    let mut moving = 0;
    for s in fleet.swarm_services() {
        let here: Vec<_> = s
            .tasks
            .iter()
            .filter(|t| t.node_id == node.id && t.desired == "running")
            .collect();
        if here.is_empty() {
            continue;
        }
        moving += here.len();
        let slots: Vec<String> = here
            .iter()
            .map(|t| t.slot.map_or_else(|| "global".into(), |n| format!(".{n}")))
            .collect();
        notes.push(format!(
            "{} {} moves off {}",
            s.name,
            slots.join(" "),
            node.hostname
        ));
        if s.replicas.is_none() {
            continue; // a global service's task just ends there
        }
        let mut per_node: HashMap<String, u64> = HashMap::new();
        for t in s
            .tasks
            .iter()
            .filter(|t| t.node_id != node.id && !t.node_id.is_empty())
        {
            *per_node.entry(t.node_id.clone()).or_default() += 1;
        }
        if others.is_empty() {
            warnings.push(format!(
                "{}: no other node to take {} task{}; they would stay pending",
                s.name,
                here.len(),
                if here.len() == 1 { "" } else { "s" }
            ));
            continue;
        }
        // The drained node's own reservations go with it.
        if let Some(why) =
            crate::placement::why_not(&others, &s.rules, &per_node, here.len() as u64)
        {
            warnings.push(format!("{}: {why}; they would stay pending", s.name));
        }
    }
    if moving == 0 {
        notes.push(format!("no task runs on {}: nothing moves", node.hostname));
    }
}

/// Carry out a node change on the manager `docker` is: the node found
/// again by id, else by hostname, at its current version. The node's own
/// status reports bump its version too: an update Swarm calls "out of
/// sequence" is tried again on the version of now.
pub async fn update(
    docker: &Docker,
    id: &str,
    hostname: &str,
    change: &NodeChange,
) -> Result<String, StepError> {
    let mut tries = 0;
    loop {
        match update_once(docker, id, hostname, change).await {
            Err(e) if tries < 5 && e.message.contains("out of sequence") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn update_once(
    docker: &Docker,
    id: &str,
    hostname: &str,
    change: &NodeChange,
) -> Result<String, StepError> {
    let node = match docker.inspect_node(id).await {
        Ok(n) => n,
        Err(e) => {
            let e = step_error(e);
            if e.failure != Failure::Gone {
                return Err(e);
            }
            // Rejoined under a new id: the same hostname is the same machine.
            docker.inspect_node(hostname).await.map_err(step_error)?
        }
    };
    let version = node.version.and_then(|v| v.index).unwrap_or(0);
    let mut spec = node.spec.unwrap_or_default();
    match change {
        NodeChange::Availability(a) => {
            spec.availability = Some(match a.as_str() {
                "active" => NodeSpecAvailabilityEnum::ACTIVE,
                "pause" => NodeSpecAvailabilityEnum::PAUSE,
                "drain" => NodeSpecAvailabilityEnum::DRAIN,
                other => {
                    return Err(StepError {
                        failure: Failure::Invalid,
                        message: format!("{other:?} is no availability (active, pause, drain)"),
                    });
                }
            })
        }
        NodeChange::Role(r) => {
            spec.role = Some(if *r == SwarmRole::Manager {
                NodeSpecRoleEnum::MANAGER
            } else {
                NodeSpecRoleEnum::WORKER
            })
        }
        NodeChange::Label { key, value } => {
            let labels = spec.labels.get_or_insert_with(Default::default);
            match value {
                Some(v) => {
                    labels.insert(key.clone(), v.clone());
                }
                None => {
                    labels.remove(key);
                }
            }
        }
    }
    let node_id = node.id.unwrap_or_else(|| id.to_string());
    docker
        .update_node(
            &node_id,
            spec,
            bollard::query_parameters::UpdateNodeOptions {
                version: version as i64,
            },
        )
        .await
        .map_err(step_error)?;
    Ok(format!("{hostname}: {}", change.words()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Placement, ServiceId, ServiceKind, SwarmService, SwarmTask, TaskRules};
    use crate::topology::Topology;

    fn node(id: &str, role: SwarmRole) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            hostname: id.into(),
            role,
            availability: "active".into(),
            state: "ready".into(),
            cpus: 2.0,
            memory: 4 << 30,
            ..SwarmNode::default()
        }
    }

    fn fleet(max_per_node: u64) -> Fleet {
        let mut f = Fleet::new(Topology::default_topology());
        f.nodes = vec![
            node("c1", SwarmRole::Manager),
            node("c2", SwarmRole::Worker),
            node("c3", SwarmRole::Worker),
        ];
        let task = |slot, node: &str| SwarmTask {
            slot: Some(slot),
            node_id: node.into(),
            desired: "running".into(),
            state: "running".into(),
            error: String::new(),
        };
        f.set_swarm_services(vec![SwarmService {
            rules: TaskRules {
                max_per_node,
                ..TaskRules::default()
            },
            id: "s1".into(),
            name: "web".into(),
            image: "i".into(),
            replicas: Some(3),
            running_tasks: 3,
            desired_tasks: 3,
            pending: None,
            tasks: vec![task(1, "c1"), task(2, "c2"), task(3, "c3")],
            labels: Default::default(),
            lifecycle: Default::default(),
            placement: Placement {
                layer: None,
                team: None,
                service: ServiceId {
                    kind: ServiceKind::Swarm,
                    name: "web".into(),
                },
            },
        }]);
        f
    }

    #[test]
    fn a_drain_lists_what_moves_and_warns_when_it_has_nowhere_to_go() {
        let f = fleet(0);
        let c2 = find(&f, "c2").unwrap();
        let p = plan(&f, c2, NodeChange::Availability("drain".into())).unwrap();
        assert_eq!(p.title, "node c2: availability drain");
        assert_eq!(p.steps[0].cli, "docker node update --availability drain c2");
        assert_eq!(
            p.steps[0].what,
            "c2: availability active → availability drain"
        );
        assert_eq!(p.notes, ["web .2 moves off c2"]);
        assert!(p.warnings.is_empty());
        assert_eq!(
            p.undo,
            Some(UndoSpec::Node {
                node: "c2".into(),
                change: NodeChange::Availability("active".into())
            })
        );
        // One per node: the two others are full.
        let f = fleet(1);
        let p = plan(
            &f,
            find(&f, "c2").unwrap(),
            NodeChange::Availability("drain".into()),
        )
        .unwrap();
        assert_eq!(
            p.warnings,
            ["web: 1 of 1 cannot be placed: at most 1 per node; they would stay pending"]
        );
    }

    #[test]
    fn draining_the_only_node_warns() {
        let mut f = fleet(0);
        f.nodes.truncate(1);
        let p = plan(
            &f,
            find(&f, "c1").unwrap(),
            NodeChange::Availability("drain".into()),
        )
        .unwrap();
        assert_eq!(
            p.warnings,
            ["web: no other node to take 1 task; they would stay pending"]
        );
    }

    #[test]
    fn refusals_and_cli_equivalents() {
        let f = fleet(0);
        let c1 = find(&f, "c1").unwrap();
        assert!(
            plan(&f, c1, NodeChange::Role(SwarmRole::Worker))
                .unwrap_err()
                .contains("only manager")
        );
        assert!(
            plan(&f, c1, NodeChange::Availability("active".into()))
                .unwrap_err()
                .contains("already")
        );
        assert!(
            find(&f, "c9")
                .unwrap_err()
                .contains("the nodes are c1, c2, c3")
        );
        let c3 = find(&f, "c3").unwrap();
        let p = plan(&f, c3, NodeChange::Role(SwarmRole::Manager)).unwrap();
        assert_eq!(p.steps[0].cli, "docker node promote c3");
        let label = NodeChange::Label {
            key: "db".into(),
            value: Some("primary".into()),
        };
        let p = plan(&f, c3, label).unwrap();
        assert_eq!(
            p.steps[0].cli,
            "docker node update --label-add db=primary c3"
        );
        assert_eq!(
            p.undo,
            Some(UndoSpec::Node {
                node: "c3".into(),
                change: NodeChange::Label {
                    key: "db".into(),
                    value: None
                }
            })
        );
    }
}
