//! Where Swarm could put tasks: the nodes that meet a service's
//! constraints, with room for its reservations and under its per-node
//! maximum. Plans ask it before they run — a scale-up whose new tasks
//! cannot be placed, a drain whose tasks have nowhere to go — and warn in
//! Swarm's own terms. Pure: nodes and rules in, an answer out.

use std::collections::HashMap;

use crate::model::{SwarmNode, SwarmRole, TaskRules};

/// A constraint's parts: key, value, and whether it is `==` (else `!=`).
pub fn constraint(c: &str) -> Option<(&str, &str, bool)> {
    let (key, want, equal) = match c.split_once("!=") {
        Some((k, v)) => (k, v, false),
        None => {
            let (k, v) = c.split_once("==")?;
            (k, v, true)
        }
    };
    Some((key.trim(), want.trim(), equal))
}

/// Whether one node meets one constraint (`key == value`, `key != value`).
/// Keys agile-deck cannot see (platform, engine labels) count as met: the
/// warning is for what is known not to fit.
pub fn meets(node: &SwarmNode, constraint: &str) -> bool {
    let Some((key, want, equal)) = self::constraint(constraint) else {
        return true;
    };
    let have: Option<String> = match key {
        "node.id" => Some(node.id.clone()),
        "node.hostname" => Some(node.hostname.clone()),
        "node.role" => Some(
            match node.role {
                SwarmRole::Manager => "manager",
                _ => "worker",
            }
            .to_string(),
        ),
        k => match k.strip_prefix("node.labels.") {
            Some(label) => node.labels.get(label).cloned(),
            None => return true,
        },
    };
    (have.as_deref() == Some(want)) == equal
}

/// Nodes that take new tasks at all: ready and active.
fn open(node: &SwarmNode) -> bool {
    node.state == "ready" && node.availability == "active"
}

/// How many more tasks of `rules` one node holds, given `already` of the
/// service's tasks there (None: no bound).
fn room(node: &SwarmNode, rules: &TaskRules, already: u64) -> Option<u64> {
    let mut room: Option<u64> = None;
    let mut bound = |n: u64| room = Some(room.map_or(n, |r| r.min(n)));
    if rules.cpus > 0.0 {
        let free = (node.cpus - node.reserved_cpus).max(0.0);
        bound((free / rules.cpus + 1e-9).floor() as u64);
    }
    if let Some(n) = node
        .memory
        .saturating_sub(node.reserved_memory)
        .checked_div(rules.memory)
    {
        bound(n);
    }
    if rules.max_per_node > 0 {
        bound(rules.max_per_node.saturating_sub(already));
    }
    room
}

/// Why `n` more tasks of a service would not all be placed on `nodes`
/// (`per_node`: its tasks already on each node, by node id), in words;
/// None when they fit.
pub fn why_not(
    nodes: &[SwarmNode],
    rules: &TaskRules,
    per_node: &HashMap<String, u64>,
    n: u64,
) -> Option<String> {
    if n == 0 || nodes.is_empty() {
        return None;
    }
    let open_nodes: Vec<&SwarmNode> = nodes.iter().filter(|n| open(n)).collect();
    let eligible: Vec<&SwarmNode> = open_nodes
        .iter()
        .copied()
        .filter(|node| rules.constraints.iter().all(|c| meets(node, c)))
        .collect();
    let mut fits = 0u64;
    for node in &eligible {
        match room(node, rules, per_node.get(&node.id).copied().unwrap_or(0)) {
            None => return None,
            Some(r) => fits += r,
        }
    }
    if fits >= n {
        return None;
    }
    let mut why = Vec::new();
    if open_nodes.len() < nodes.len() {
        why.push(format!(
            "{} of {} nodes take no new task (down, paused or drained)",
            nodes.len() - open_nodes.len(),
            nodes.len()
        ));
    }
    if eligible.len() < open_nodes.len() {
        why.push(format!(
            "{} {}",
            match eligible.len() {
                0 => "no node meets".to_string(),
                1 => "1 node meets".to_string(),
                k => format!("{k} nodes meet"),
            },
            rules.constraints.join(" and ")
        ));
    }
    if rules.cpus > 0.0 || rules.memory > 0 {
        let free: Vec<String> = eligible
            .iter()
            .map(|node| {
                format!(
                    "{} {:.1} CPUs / {} free",
                    node.hostname,
                    (node.cpus - node.reserved_cpus).max(0.0),
                    crate::format::bytes(node.memory.saturating_sub(node.reserved_memory) as f64)
                )
            })
            .collect();
        why.push(format!(
            "each reserves {:.1} CPUs / {}{}",
            rules.cpus,
            crate::format::bytes(rules.memory as f64),
            if free.is_empty() {
                String::new()
            } else {
                format!(" ({})", free.join(", "))
            }
        ));
    }
    if rules.max_per_node > 0 {
        why.push(format!("at most {} per node", rules.max_per_node));
    }
    Some(format!(
        "{} of {n} cannot be placed: {}",
        n - fits.min(n),
        why.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, role: SwarmRole, labels: &[(&str, &str)]) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            hostname: id.into(),
            role,
            availability: "active".into(),
            state: "ready".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cpus: 2.0,
            memory: 4 << 30,
            ..SwarmNode::default()
        }
    }

    fn three() -> Vec<SwarmNode> {
        vec![
            node("n1", SwarmRole::Manager, &[]),
            node("n2", SwarmRole::Worker, &[("db", "primary")]),
            node("n3", SwarmRole::Worker, &[]),
        ]
    }

    #[test]
    fn constraints_reservations_and_maximums() {
        let nodes = three();
        let none = HashMap::new();
        let free = TaskRules::default();
        assert_eq!(why_not(&nodes, &free, &none, 100), None, "no bound");

        let db = TaskRules {
            constraints: vec!["node.labels.db == primary".into()],
            max_per_node: 1,
            ..TaskRules::default()
        };
        assert_eq!(why_not(&nodes, &db, &none, 1), None);
        assert_eq!(
            why_not(&nodes, &db, &none, 2).unwrap(),
            "1 of 2 cannot be placed: 1 node meets node.labels.db == primary; at most 1 per node"
        );
        let nowhere = TaskRules {
            constraints: vec!["node.labels.cache == primary".into()],
            ..TaskRules::default()
        };
        assert!(
            why_not(&nodes, &nowhere, &none, 1)
                .unwrap()
                .contains("no node meets node.labels.cache == primary")
        );
        let managers = TaskRules {
            constraints: vec!["node.role == manager".into()],
            cpus: 1.0,
            ..TaskRules::default()
        };
        assert_eq!(why_not(&nodes, &managers, &none, 2), None, "2 CPUs hold 2");
        assert!(
            why_not(&nodes, &managers, &none, 3)
                .unwrap()
                .starts_with("1 of 3 cannot be placed")
        );
        let big = TaskRules {
            memory: 3 << 30,
            ..TaskRules::default()
        };
        let mut full = three();
        full[0].reserved_memory = 2 << 30;
        assert!(why_not(&full, &big, &none, 2).is_none());
        let msg = why_not(&full, &big, &none, 3).unwrap();
        assert!(msg.contains("each reserves 0.0 CPUs / 3.0G"), "{msg}");
        // A drained node takes nothing.
        let mut drained = three();
        drained[1].availability = "drain".into();
        let msg = why_not(&drained, &db, &none, 1).unwrap();
        assert!(msg.contains("1 of 3 nodes take no new task"), "{msg}");
        assert!(!meets(&nodes[0], "node.hostname != n1"));
        assert!(
            meets(&nodes[0], "node.platform.os == linux"),
            "unknown keys pass"
        );
    }
}
