//! Planners: from what the dashboard knows to a `Plan` an operator reads
//! before anything runs. Pure functions of the fleet, so every rule is
//! unit-tested without a daemon.

use serde_json::json;

use super::{Action, Kind, Plan, Step, UndoSpec};
use crate::fleet::Fleet;
use crate::model::{Replica, ServiceId, ServiceKind};
use crate::units::{self, Resources};
use bollard::models::RestartPolicyNameEnum;

/// What an operation is aimed at: a name for people and the replicas and
/// services it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// "service development-team", "team product", "replica agile-db-…".
    pub label: String,
    pub replicas: Vec<String>,
    pub services: Vec<ServiceId>,
}

/// A lock name for a service: two operations on it at once are refused.
pub fn lock_of(s: &ServiceId) -> String {
    format!("{}:{}", s.kind_word(), s.name)
}

/// Every replica of a service, whatever its state, by number then name.
pub fn replicas_of_service<'a>(fleet: &'a Fleet, service: &ServiceId) -> Vec<&'a Replica> {
    let mut out: Vec<&Replica> = fleet
        .shown()
        .filter(|r| &r.placement.service == service)
        .collect();
    out.sort_by_key(|r| (number_of(r).unwrap_or(0), r.name.clone()));
    out
}

/// A replica's number: Compose's label, else the digits its name ends with.
pub fn number_of(r: &Replica) -> Option<u64> {
    r.labels
        .get(super::clone::COMPOSE_NUMBER)
        .and_then(|n| n.parse().ok())
        .or_else(|| trailing_number(&r.name).map(|(_, n, _)| n))
}

/// `agile-agent-product-pm-005` → ("agile-agent-product-pm-", 5, 3 digits).
fn trailing_number(name: &str) -> Option<(&str, u64, usize)> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == name.len() {
        return None;
    }
    let (prefix, num) = name.split_at(name.len() - digits);
    Some((prefix, num.parse().ok()?, digits))
}

/// The name of replica `n`, after `model`'s: the reference's convention
/// (`agile-agent-{team}-{role}-{id}`, same width) or Compose's
/// (`<project>-<service>-<n>`).
fn replica_name(model: &Replica, n: u64) -> String {
    match trailing_number(&model.name) {
        Some((prefix, _, width)) => format!("{prefix}{n:0width$}"),
        None => match &model.placement.service.kind {
            ServiceKind::Compose { project } => {
                format!("{project}-{}-{n}", model.placement.service.name)
            }
            _ => format!("{}-{n}", model.placement.service.name),
        },
    }
}

fn timeout_of(r: &Replica) -> i64 {
    r.stop_timeout.unwrap_or(10)
}

fn step(what: String, cli: String, action: Action) -> Step {
    Step {
        what,
        cli,
        action,
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
    }
}

/// Scale a service to `to` replicas.
pub fn scale(fleet: &Fleet, service: &ServiceId, to: u64) -> Result<Plan, String> {
    if service.kind == ServiceKind::Swarm {
        let s = fleet
            .swarm_services()
            .iter()
            .find(|s| s.name == service.name)
            .ok_or_else(|| format!("Swarm service {} is not known here", service.name))?;
        let from = s
            .replicas
            .ok_or_else(|| format!("{} is a global service: it runs one task per node", s.name))?;
        if from == to {
            return Err(format!("{} already wants {to} replicas", s.name));
        }
        let mut scale = step(
            format!("set {} replicas {from} → {to}", s.name),
            format!("docker service scale {}={to}", s.name),
            Action::SwarmScale {
                service: s.id.clone(),
                replicas: to,
            },
        );
        scale.before = json!({ "replicas": from });
        scale.after = json!({ "replicas": to });
        // Before it runs: would Swarm find room for the new tasks?
        let mut warnings = Vec::new();
        if to > from {
            let mut per_node: std::collections::HashMap<String, u64> = Default::default();
            for t in s.tasks.iter().filter(|t| !t.node_id.is_empty()) {
                *per_node.entry(t.node_id.clone()).or_default() += 1;
            }
            if let Some(why) =
                crate::placement::why_not(&fleet.nodes, &s.rules, &per_node, to - from)
            {
                warnings.push(format!("new tasks: {why}; they would stay pending"));
            }
        }
        let wait = step(
            format!("wait until {to} tasks run"),
            format!(
                "docker service ps {} --filter desired-state=running",
                s.name
            ),
            Action::WaitTasks {
                service: s.id.clone(),
                replicas: to,
            },
        );
        return Ok(Plan {
            kind: Kind::Scale,
            title: format!("scale {} {from} → {to}", s.name),
            target: format!("service {}", s.name),
            locks: vec![lock_of(service)],
            params: json!({ "service": s.name, "replicas": to }),
            steps: vec![scale, wait],
            notes: vec![],
            warnings,
            undo: Some(UndoSpec::Scale {
                service: service.name.clone(),
                replicas: from,
            }),
        });
    }
    let replicas = replicas_of_service(fleet, service);
    let from = replicas.len() as u64;
    if from == to {
        return Err(format!("{} already has {to} replicas", service.name));
    }
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    if to > from {
        let model = replicas
            .iter()
            .find(|r| r.is_running())
            .ok_or_else(|| format!("{} has no running replica to copy", service.name))?;
        // Next numbers after the highest ever seen; gaps are not reused.
        let mut n = replicas
            .iter()
            .filter_map(|r| number_of(r))
            .max()
            .unwrap_or(0);
        // Names are the daemon's: taken on the model's host.
        let taken = |name: &str| {
            fleet
                .replicas
                .values()
                .any(|r| r.host == model.host && r.name == name)
        };
        // What finds the service's replicas again when the step runs.
        let siblings: Vec<String> = [
            crate::topology::COMPOSE_PROJECT,
            crate::topology::COMPOSE_SERVICE,
        ]
        .iter()
        .filter_map(|k| model.labels.get(*k).map(|v| format!("{k}={v}")))
        .collect();
        for _ in from..to {
            n += 1;
            while taken(&replica_name(model, n)) {
                n += 1;
            }
            let name = replica_name(model, n);
            let mut s = step(
                format!("create {name}"),
                format!(
                    "docker run -d --name {name} <configuration of {}> {}",
                    model.name, model.image
                ),
                Action::Clone {
                    source: model.id.clone(),
                    name: name.clone(),
                    number: n,
                    siblings: siblings.clone(),
                },
            );
            s.after = json!({ "container": name, "number": n, "from": model.name });
            steps.push(s);
        }
    } else {
        // Highest numbers first, each stopped gracefully.
        for r in replicas.iter().rev().take((from - to) as usize) {
            let t = timeout_of(r);
            let mut s = step(
                format!("stop and remove {}", r.name),
                format!("docker stop -t {t} {0} && docker rm {0}", r.name),
                Action::StopRemove {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    timeout: t,
                },
            );
            s.before = json!({ "container": r.name, "state": r.state });
            steps.push(s);
        }
        if to == 0 {
            warnings.push(format!(
                "scaling to 0 removes every replica of {}: none is left to copy when scaling up again",
                service.name
            ));
        }
    }
    Ok(Plan {
        kind: Kind::Scale,
        title: format!("scale {} {from} → {to}", service.name),
        target: format!("service {}", service.name),
        locks: vec![lock_of(service)],
        params: json!({ "service": service.name, "replicas": to }),
        steps,
        notes: vec![],
        warnings,
        undo: Some(UndoSpec::Scale {
            service: service.name.clone(),
            replicas: from,
        }),
    })
}

/// Resize every replica of `target` (`docker update`), or the task
/// template of its Swarm services.
pub fn resize(
    fleet: &Fleet,
    target: &Target,
    change: &Resources,
    kind: Kind,
) -> Result<Plan, String> {
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let mut undo = Vec::new();
    let mut per_replica_notes: Vec<(String, String)> = Vec::new();
    let swarm: Vec<&ServiceId> = target
        .services
        .iter()
        .filter(|s| s.kind == ServiceKind::Swarm)
        .collect();
    for s in &swarm {
        let id = fleet
            .swarm_services()
            .iter()
            .find(|x| x.name == s.name)
            .map(|x| x.id.clone())
            .ok_or_else(|| format!("Swarm service {} is not known here", s.name))?;
        let mut st = step(
            format!("set {} task resources: {}", s.name, change.cli_flags()),
            format!(
                "docker service update {} {}",
                change.service_flags(),
                s.name
            ),
            Action::SwarmResources {
                service: id,
                change: *change,
            },
        );
        st.after = serde_json::to_value(change).unwrap_or_default();
        steps.push(st);
        notes.push(format!(
            "{} is a Swarm service: changing its task resources replaces its tasks one by one",
            s.name
        ));
    }
    let mut replicas: Vec<&Replica> = target
        .replicas
        .iter()
        .filter_map(|id| fleet.replicas.get(id))
        .filter(|r| r.placement.service.kind != ServiceKind::Swarm)
        .collect();
    replicas.sort_by(|a, b| a.name.cmp(&b.name));
    for r in replicas {
        let (mine, note) = units::apply_swap_rule(&r.limits, change);
        let mine = r.limits.without_unchanged(&mine);
        if mine.is_empty() {
            notes.push(format!("{}: already has these limits", r.name));
            continue;
        }
        // What Docker will hold afterwards must make sense as a whole.
        let after_all = Resources {
            memory: mine.memory.or(r.limits.memory),
            memory_swap: mine.memory_swap.or(r.limits.memory_swap),
            memory_reservation: mine.memory_reservation.or(r.limits.memory_reservation),
            ..Default::default()
        };
        let effective = Resources {
            memory: after_all.memory.filter(|m| *m > 0),
            memory_swap: after_all.memory_swap.filter(|s| *s != 0),
            memory_reservation: after_all.memory_reservation.filter(|m| *m > 0),
            ..Default::default()
        };
        units::check(&effective).map_err(|e| format!("{}: {e}", r.name))?;
        if let Some(n) = note {
            per_replica_notes.push((r.name.clone(), n));
        }
        if let (Some(m), Some(live)) = (mine.memory, fleet.live.get(&r.id))
            && r.is_running()
            && live.sample.mem_used > m as u64
        {
            warnings.push(format!(
                "{}: memory {} is below what it uses now ({}): it may be killed for lack of memory",
                r.name,
                units::bytes_text(m),
                units::bytes_text(live.sample.mem_used as i64)
            ));
        }
        let before = r.limits.restricted_to(&mine);
        let mut st = step(
            format!("{}: {}", r.name, before.describe_change(&mine)),
            format!("docker update {} {}", mine.cli_flags(), r.name),
            Action::Update {
                id: r.id.clone(),
                name: r.name.clone(),
                change: mine,
            },
        );
        st.before = serde_json::to_value(before).unwrap_or_default();
        st.after = serde_json::to_value(mine).unwrap_or_default();
        steps.push(st);
        undo.push((r.id.clone(), r.name.clone(), before));
    }
    if steps.is_empty() {
        return Err(format!(
            "{}: nothing to change (no replica, or the limits are already so)",
            target.label
        ));
    }
    // One line per distinct note, naming the replicas it is about.
    let mut texts: Vec<&String> = per_replica_notes.iter().map(|(_, n)| n).collect();
    texts.sort();
    texts.dedup();
    for text in texts {
        let names: Vec<&str> = per_replica_notes
            .iter()
            .filter(|(_, n)| n == text)
            .map(|(name, _)| name.as_str())
            .collect();
        notes.push(match names.as_slice() {
            [one] => format!("{one}: {text}"),
            many => format!("{} replicas: {text}", many.len()),
        });
    }
    let mut locks: Vec<String> = target.services.iter().map(lock_of).collect();
    locks.sort();
    locks.dedup();
    Ok(Plan {
        kind,
        title: format!("resize {}: {}", target.label, change.cli_flags()),
        target: target.label.clone(),
        locks,
        params: serde_json::to_value(change).unwrap_or_default(),
        steps,
        notes,
        warnings,
        undo: (!undo.is_empty()).then_some(UndoSpec::Resize { containers: undo }),
    })
}

/// Restart, stop or start every replica of a target.
pub fn lifecycle(fleet: &Fleet, target: &Target, kind: Kind) -> Result<Plan, String> {
    let mut replicas: Vec<&Replica> = target
        .replicas
        .iter()
        .filter_map(|id| fleet.replicas.get(id))
        .collect();
    replicas.sort_by(|a, b| a.name.cmp(&b.name));
    let steps: Vec<Step> = replicas
        .into_iter()
        .filter(|r| match kind {
            Kind::Stop => r.is_running(),
            Kind::Start => !r.is_running(),
            _ => true,
        })
        .map(|r| {
            let (id, name, t) = (r.id.clone(), r.name.clone(), timeout_of(r));
            let (what, cli, action) = match kind {
                Kind::Stop => (
                    format!("stop {name}"),
                    format!("docker stop -t {t} {name}"),
                    Action::Stop {
                        id,
                        name,
                        timeout: t,
                    },
                ),
                Kind::Start => (
                    format!("start {name}"),
                    format!("docker start {name}"),
                    Action::Start { id, name },
                ),
                _ => (
                    format!("restart {name}"),
                    format!("docker restart -t {t} {name}"),
                    Action::Restart {
                        id,
                        name,
                        timeout: t,
                    },
                ),
            };
            let mut s = step(what, cli, action);
            s.before = json!({ "state": r.state });
            s
        })
        .collect();
    if steps.is_empty() {
        return Err(match kind {
            Kind::Stop => format!(
                "nothing to stop: every replica of {} is stopped",
                target.label
            ),
            Kind::Start => format!("nothing to start: every replica of {} runs", target.label),
            _ => format!("{} has no replica", target.label),
        });
    }
    Ok(Plan {
        kind,
        title: format!("{} {}", kind.word(), target.label),
        target: target.label.clone(),
        locks: target.services.iter().map(lock_of).collect(),
        params: json!({}),
        steps,
        notes: vec![],
        warnings: vec![],
        undo: None,
    })
}

/// The plan that puts back what a finished scale or resize changed.
/// Take one replica off a network (a zone it must not join); undone by
/// connecting it again with the aliases it has there now.
pub fn disconnect(fleet: &Fleet, name: &str, network: &str) -> Result<Plan, String> {
    let r = by_name(fleet, name)?;
    let attached = r
        .networks
        .iter()
        .find(|n| n.network == network)
        .ok_or_else(|| format!("{name} is not on {network} (any more)"))?;
    if r.networks.len() < 2 {
        return Err(format!(
            "{network} is {name}'s only network: taking it off would cut it off"
        ));
    }
    // Docker lists the container's own short id among its aliases; it is
    // given back on connect anyway.
    let aliases: Vec<String> = attached
        .aliases
        .iter()
        .filter(|a| !r.id.starts_with(a.as_str()))
        .cloned()
        .collect();
    let mut st = step(
        format!("{name}: off {network}"),
        format!("docker network disconnect {network} {name}"),
        Action::Disconnect {
            id: r.id.clone(),
            name: name.to_string(),
            network: network.to_string(),
        },
    );
    st.before = json!({ "network": network, "aliases": aliases });
    st.after = json!({ "network": null });
    Ok(Plan {
        kind: Kind::Disconnect,
        title: format!("disconnect {name} from {network}"),
        target: format!("replica {name}"),
        locks: vec![lock_of(&r.placement.service)],
        params: json!({ "container": name, "network": network }),
        steps: vec![st],
        notes: vec![format!(
            "{name} stays on {}",
            r.networks
                .iter()
                .filter(|n| n.network != network)
                .map(|n| n.network.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )],
        warnings: vec![],
        undo: Some(UndoSpec::Reconnect {
            name: name.to_string(),
            network: network.to_string(),
            aliases,
        }),
    })
}

/// A restart policy's word (`unless-stopped`; empty is `no`).
fn restart_word(word: &str) -> Option<RestartPolicyNameEnum> {
    Some(match word {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return None,
    })
}

/// Set one replica's restart policy; undone by setting the one it has
/// now. A Swarm task's is its service's (Swarm restarts it), so refused.
pub fn restart_policy(
    fleet: &Fleet,
    name: &str,
    policy: RestartPolicyNameEnum,
) -> Result<Plan, String> {
    let r = by_name(fleet, name)?;
    if r.placement.service.kind == ServiceKind::Swarm {
        return Err(format!(
            "{name} is a Swarm task: its service's restart policy applies (docker service update --restart-condition)"
        ));
    }
    let now = r.posture.as_ref().map(|p| p.restart.as_str()).unwrap_or("");
    let before = restart_word(now)
        .ok_or_else(|| format!("{name} has a restart policy agile-deck does not know: {now}"))?;
    let mut st = step(
        format!("{name}: restart policy {before} → {policy}"),
        format!("docker update --restart {policy} {name}"),
        Action::SetRestart {
            id: r.id.clone(),
            name: name.to_string(),
            policy,
        },
    );
    st.before = json!({ "restart": before.to_string() });
    st.after = json!({ "restart": policy.to_string() });
    Ok(Plan {
        kind: Kind::RestartPolicy,
        title: format!("restart policy of {name}: {policy}"),
        target: format!("replica {name}"),
        locks: vec![lock_of(&r.placement.service)],
        params: json!({ "container": name, "restart": policy.to_string() }),
        steps: vec![st],
        notes: vec![],
        warnings: vec![],
        undo: Some(UndoSpec::RestartPolicy {
            name: name.to_string(),
            policy: before,
        }),
    })
}

/// A replica found by name now (not by a remembered id).
fn by_name<'a>(fleet: &'a Fleet, name: &str) -> Result<&'a Replica, String> {
    fleet
        .shown()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("{name} is gone"))
}

pub fn undo(fleet: &Fleet, spec: &UndoSpec) -> Result<Plan, String> {
    let mut plan = match spec {
        UndoSpec::RestartPolicy { name, policy } => restart_policy(fleet, name, *policy)?,
        UndoSpec::Reconnect {
            name,
            network,
            aliases,
        } => {
            let r = by_name(fleet, name)?;
            let flags: String = aliases.iter().map(|a| format!(" --alias {a}")).collect();
            Plan {
                kind: Kind::Undo,
                title: String::new(),
                target: format!("replica {name}"),
                locks: vec![lock_of(&r.placement.service)],
                params: json!({}),
                steps: vec![step(
                    format!("{name}: back on {network}"),
                    format!("docker network connect{flags} {network} {name}"),
                    Action::Alias {
                        id: r.id.clone(),
                        name: name.clone(),
                        network: network.clone(),
                        aliases: aliases.clone(),
                    },
                )],
                notes: vec![],
                warnings: vec![],
                undo: None,
            }
        }
        UndoSpec::Node { node, change } => {
            let n = super::node::find(fleet, node)?;
            super::node::plan(fleet, n, change.clone())?
        }
        UndoSpec::Scale { service, replicas } => {
            let id = fleet
                .replicas
                .values()
                .map(|r| &r.placement.service)
                .chain(fleet.swarm_services().iter().map(|s| &s.placement.service))
                .find(|s| &s.name == service)
                .cloned()
                .ok_or_else(|| format!("service {service} is gone"))?;
            scale(fleet, &id, *replicas)?
        }
        UndoSpec::Resize { containers } => {
            let mut steps = Vec::new();
            let mut locks = Vec::new();
            for (id, name, before) in containers {
                let Some(r) = fleet.replicas.get(id) else {
                    continue;
                };
                locks.push(lock_of(&r.placement.service));
                let mut st = step(
                    format!("{name}: {}", r.limits.describe_change(before)),
                    format!("docker update {} {name}", before.cli_flags()),
                    Action::Update {
                        id: id.clone(),
                        name: name.clone(),
                        change: *before,
                    },
                );
                st.before =
                    serde_json::to_value(r.limits.restricted_to(before)).unwrap_or_default();
                st.after = serde_json::to_value(before).unwrap_or_default();
                steps.push(st);
            }
            if steps.is_empty() {
                return Err("every container it changed is gone".into());
            }
            locks.sort();
            locks.dedup();
            Plan {
                kind: Kind::Undo,
                title: String::new(),
                target: format!("{} containers", steps.len()),
                locks,
                params: json!({}),
                steps,
                notes: vec![],
                warnings: vec![],
                undo: None,
            }
        }
    };
    plan.kind = Kind::Undo;
    plan.title = match spec {
        // The plan's title is "node c2: availability active".
        UndoSpec::Node { node, .. } => format!(
            "undo: node {node} back to {}",
            plan.title.split_once(": ").map_or("", |(_, words)| words)
        ),
        UndoSpec::Scale { service, replicas } => {
            format!("undo: scale {service} back to {replicas}")
        }
        UndoSpec::Resize { .. } => format!("undo: put back the limits of {}", plan.target),
        UndoSpec::Reconnect { name, network, .. } => {
            format!("undo: connect {name} to {network} again")
        }
        UndoSpec::RestartPolicy { name, policy } => {
            format!("undo: restart policy of {name} back to {policy}")
        }
    };
    plan.undo = None;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_replica;
    use crate::topology::Topology;

    fn fleet(names: &[(&str, &str, &str)]) -> Fleet {
        let t = Topology::default_topology();
        let mut f = Fleet::new(Topology::default_topology());
        for (i, (name, service, number)) in names.iter().enumerate() {
            let mut r = test_replica(
                &t,
                &format!("id{i}"),
                name,
                &[
                    ("com.docker.compose.project", "shop"),
                    ("com.docker.compose.service", service),
                    ("com.docker.compose.container-number", number),
                ],
                "running",
            );
            r.limits = Resources {
                nano_cpus: Some(250_000_000),
                memory: Some(64 << 20),
                memory_swap: Some(128 << 20),
                memory_reservation: Some(0),
                pids_limit: Some(0),
            };
            f.upsert(r);
        }
        f
    }

    #[test]
    fn a_restart_policy_is_set_and_undone_to_the_one_it_had() {
        let mut f = fleet(&[("shop-web-1", "web", "1")]);
        let mut r = f.replicas["id0"].clone();
        r.posture = Some(crate::model::Posture {
            restart: "no".into(),
            ..Default::default()
        });
        f.upsert(r);
        let p = restart_policy(&f, "shop-web-1", RestartPolicyNameEnum::UNLESS_STOPPED).unwrap();
        assert_eq!(
            p.steps[0].cli,
            "docker update --restart unless-stopped shop-web-1"
        );
        let back = undo(&f, p.undo.as_ref().unwrap()).unwrap();
        assert_eq!(back.steps[0].cli, "docker update --restart no shop-web-1");
        assert_eq!(back.title, "undo: restart policy of shop-web-1 back to no");
    }

    #[test]
    fn disconnect_keeps_one_network_and_undo_gives_the_aliases_back() {
        let mut f = fleet(&[("shop-web-1", "web", "1")]);
        let on = |network: &str, aliases: &[&str]| crate::model::NetworkAttachment {
            network: network.into(),
            ip: String::new(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        };
        let mut r = f.replicas["id0"].clone();
        r.networks = vec![on("zone-a", &["web"]), on("zone-b", &["web", "id0"])];
        f.upsert(r.clone());
        let p = disconnect(&f, "shop-web-1", "zone-b").unwrap();
        assert_eq!(
            p.steps[0].cli,
            "docker network disconnect zone-b shop-web-1"
        );
        // The container's own id is no alias to give back.
        let undo = p.undo.clone().unwrap();
        assert_eq!(
            undo,
            UndoSpec::Reconnect {
                name: "shop-web-1".into(),
                network: "zone-b".into(),
                aliases: vec!["web".into()],
            }
        );
        let back = super::undo(&f, &undo).unwrap();
        assert_eq!(
            back.steps[0].cli,
            "docker network connect --alias web zone-b shop-web-1"
        );
        // Its only network is never taken; a network it is not on is said.
        r.networks.truncate(1);
        f.upsert(r);
        assert!(
            disconnect(&f, "shop-web-1", "zone-a")
                .unwrap_err()
                .contains("only network")
        );
        assert!(
            disconnect(&f, "shop-web-1", "zone-b")
                .unwrap_err()
                .contains("not on")
        );
    }

    fn service(name: &str) -> ServiceId {
        ServiceId {
            kind: ServiceKind::Compose {
                project: "shop".into(),
            },
            name: name.into(),
        }
    }

    fn names(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.what.clone()).collect()
    }

    #[test]
    fn scale_up_takes_the_next_numbers_and_never_reuses_gaps() {
        // Replica 2 was removed: 1 and 3 remain.
        let f = fleet(&[("shop-web-1", "web", "1"), ("shop-web-3", "web", "3")]);
        let p = scale(&f, &service("web"), 4).unwrap();
        assert_eq!(names(&p), ["create shop-web-4", "create shop-web-5"]);
        assert_eq!(p.title, "scale web 2 → 4");
        assert!(
            p.steps[0]
                .cli
                .starts_with("docker run -d --name shop-web-4 <configuration of shop-web-1>")
        );
        assert_eq!(p.locks, ["compose:web"]);
        assert_eq!(
            p.undo,
            Some(UndoSpec::Scale {
                service: "web".into(),
                replicas: 2
            })
        );
        assert!(
            matches!(&p.steps[1].action, Action::Clone { number: 5, source, .. } if source == "id0")
        );
    }

    #[test]
    fn convention_names_keep_their_pattern() {
        let f = fleet(&[
            ("agile-agent-product-pm-001", "product-team", "1"),
            ("agile-agent-product-po-002", "product-team", "2"),
        ]);
        let p = scale(&f, &service("product-team"), 3).unwrap();
        assert_eq!(names(&p), ["create agile-agent-product-pm-003"]);
    }

    #[test]
    fn scale_down_removes_the_highest_numbers_gracefully() {
        let mut f = fleet(&[
            ("shop-web-1", "web", "1"),
            ("shop-web-2", "web", "2"),
            ("shop-web-10", "web", "10"),
        ]);
        let mut r = f.replicas["id1"].clone();
        r.stop_timeout = Some(30);
        f.upsert(r);
        let p = scale(&f, &service("web"), 1).unwrap();
        assert_eq!(
            names(&p),
            ["stop and remove shop-web-10", "stop and remove shop-web-2"]
        );
        assert_eq!(
            p.steps[1].cli,
            "docker stop -t 30 shop-web-2 && docker rm shop-web-2"
        );
        assert!(p.warnings.is_empty());
        assert_eq!(scale(&f, &service("web"), 0).unwrap().warnings.len(), 1);
        assert!(
            scale(&f, &service("web"), 3)
                .unwrap_err()
                .contains("already has 3")
        );
    }

    #[test]
    fn nothing_running_nothing_to_copy() {
        let mut f = fleet(&[("shop-web-1", "web", "1")]);
        let mut r = f.replicas["id0"].clone();
        r.state = "exited".into();
        f.upsert(r);
        assert!(
            scale(&f, &service("web"), 2)
                .unwrap_err()
                .contains("no running replica")
        );
    }

    #[test]
    fn resize_handles_swap_and_warns_below_usage() {
        let f = fleet(&[("shop-web-1", "web", "1"), ("shop-web-2", "web", "2")]);
        let target = Target {
            label: "service web".into(),
            replicas: vec!["id0".into(), "id1".into()],
            services: vec![service("web")],
        };
        let change = Resources {
            memory: Some(256 << 20),
            nano_cpus: Some(500_000_000),
            ..Default::default()
        };
        let p = resize(&f, &target, &change, Kind::Resize).unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(
            p.steps[0].what,
            "shop-web-1: cpus 0.25 → 0.5, memory 64m → 256m, swap 128m → 512m"
        );
        assert_eq!(
            p.steps[0].cli,
            "docker update --cpus 0.5 --memory 256m --memory-swap 512m shop-web-1"
        );
        assert!(p.notes[0].contains("keeps the ratio"));
        let Some(UndoSpec::Resize { containers }) = &p.undo else {
            panic!()
        };
        assert_eq!(containers[0].2.memory, Some(64 << 20));
        assert_eq!(containers[0].2.memory_swap, Some(128 << 20));
        // Swap below memory: refused outright.
        let bad = Resources {
            memory: Some(256 << 20),
            memory_swap: Some(128 << 20),
            ..Default::default()
        };
        assert!(
            resize(&f, &target, &bad, Kind::Resize)
                .unwrap_err()
                .contains("below memory")
        );
    }

    #[test]
    fn restart_stop_start_pick_what_applies() {
        let mut f = fleet(&[("shop-web-1", "web", "1"), ("shop-web-2", "web", "2")]);
        let mut r = f.replicas["id1"].clone();
        r.state = "exited".into();
        f.upsert(r);
        let target = Target {
            label: "service web".into(),
            replicas: vec!["id0".into(), "id1".into()],
            services: vec![service("web")],
        };
        assert_eq!(
            names(&lifecycle(&f, &target, Kind::Stop).unwrap()),
            ["stop shop-web-1"]
        );
        assert_eq!(
            names(&lifecycle(&f, &target, Kind::Start).unwrap()),
            ["start shop-web-2"]
        );
        assert_eq!(
            lifecycle(&f, &target, Kind::Restart).unwrap().steps.len(),
            2
        );
    }

    #[test]
    fn undo_restores_the_recorded_values() {
        let f = fleet(&[("shop-web-1", "web", "1")]);
        let spec = UndoSpec::Resize {
            containers: vec![(
                "id0".into(),
                "shop-web-1".into(),
                Resources {
                    memory: Some(32 << 20),
                    ..Default::default()
                },
            )],
        };
        let p = undo(&f, &spec).unwrap();
        assert_eq!(p.kind, Kind::Undo);
        assert_eq!(p.steps[0].what, "shop-web-1: memory 64m → 32m");
        let p = undo(
            &f,
            &UndoSpec::Scale {
                service: "web".into(),
                replicas: 3,
            },
        )
        .unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.title, "undo: scale web back to 3");
    }
}
