//! Judging one object against the rule book: pure functions of the
//! object and the world around it, each answering what it saw.

use std::collections::{BTreeMap, BTreeSet};

use super::{Object, Remedy, World};
use crate::baseline::{Component, Sensitive};
use crate::model::{
    DockerNetwork, Health, Placement, Replica, ServiceKind, State, SwarmNode, SwarmRole,
    SwarmService,
};
use crate::placement;
use crate::rulebook::RuleId;
use crate::units::{self, Resources};

/// One rule broken, as seen on one object.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub rule: RuleId,
    pub seen: String,
    pub fix: String,
    pub remedy: Option<Remedy>,
}

fn seen(rule: RuleId, what: impl Into<String>) -> Seen {
    Seen {
        rule,
        seen: what.into(),
        fix: rule.fix().to_string(),
        remedy: None,
    }
}

impl Seen {
    fn fix(mut self, fix: impl Into<String>) -> Seen {
        self.fix = fix.into();
        self
    }

    fn remedy(mut self, remedy: Option<Remedy>) -> Seen {
        self.remedy = remedy;
        self
    }
}

/// Deployed now: running, restarting or paused (a stopped or merely
/// created container is not judged).
pub fn is_live(r: &Replica) -> bool {
    matches!(r.state, State::Running | State::Restarting | State::Paused)
}

pub fn container_object(world: &World, r: &Replica) -> Object {
    Object::Container {
        host: world.host_name(r.host),
        name: r.name.clone(),
    }
}

const EPS: f64 = 1e-6;

fn mib_up(bytes: f64) -> i64 {
    ((bytes / (1u64 << 20) as f64).ceil() as i64) << 20
}

fn cpus(c: f64) -> String {
    units::cpus_text((c * 1e9).round() as i64)
}

fn bytes(b: f64) -> String {
    units::bytes_text(b.round() as i64)
}

/// `Standard Agent × 0.25` when scaled, else the name.
fn profile_name(c: &Component, factor: f64) -> String {
    if (factor - 1.0).abs() < EPS {
        c.name.clone()
    } else {
        format!("{} × {}", c.name, (factor * 1e5).round() / 1e5)
    }
}

/// A container.
pub fn container(world: &World, r: &Replica) -> Vec<Seen> {
    let mut out = Vec::new();
    zones(world, r, &mut out);
    let baseline = &world.topology.baseline;
    let component = baseline.component(&r.placement.service.name);
    let swarm_task = r.placement.service.kind == ServiceKind::Swarm;
    // A Swarm task's limits are its service's: judged once, on the service.
    if !swarm_task {
        let factors = baseline.scale_for(&r.labels);
        resources(r, component, factors, baseline.pids_limit, &mut out);
    }
    if r.health == Health::NoCheck {
        out.push(seen(
            RuleId::NoHealthCheck,
            "no health check (image or container)",
        ));
    }
    identity(world, r, component, swarm_task, &mut out);
    // Swarm restarts its tasks itself (the service's restart policy).
    if let Some(p) = &r.posture {
        if !swarm_task && matches!(p.restart.as_str(), "" | "no") {
            out.push(
                seen(RuleId::NoRestartPolicy, "restart policy: none")
                    .fix(format!("docker update --restart unless-stopped {}", r.name))
                    .remedy(Some(Remedy::RestartPolicy {
                        container: r.name.clone(),
                        policy: bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED,
                    })),
            );
        }
        security(world, p, &mut out);
    }
    out
}

fn zones(world: &World, r: &Replica, out: &mut Vec<Seen>) {
    let t = world.topology;
    let b = &t.baseline;
    let zones: BTreeSet<&str> = r
        .networks
        .iter()
        .filter_map(|n| t.zone_of(&n.network))
        .collect();
    let zones: Vec<&str> = zones.into_iter().collect();
    let (mut public_data, mut bridged) = (Vec::new(), Vec::new());
    for (i, a) in zones.iter().enumerate() {
        for c in &zones[i + 1..] {
            let pair = [*a, *c];
            let is = |layer: &Option<String>| layer.as_deref().is_some_and(|l| pair.contains(&l));
            if is(&b.public_layer) && is(&b.data_layer) {
                public_data.push((*a, *c));
            } else if !t.flow_allowed(a, c) {
                bridged.push((*a, *c));
            }
        }
    }
    for (rule, pairs) in [
        (RuleId::ZoneFrontendData, public_data),
        (RuleId::ZoneBridge, bridged),
    ] {
        if pairs.is_empty() {
            continue;
        }
        let words: Vec<String> = pairs.iter().map(|(a, c)| format!("{a} ↔ {c}")).collect();
        let what = match rule {
            RuleId::ZoneFrontendData => format!("on both zones' networks: {}", words.join(", ")),
            _ => format!("joins zones no flow connects: {}", words.join(", ")),
        };
        let mut found = seen(rule, what);
        if let Some(network) = off_network(world, r, &pairs) {
            found = found
                .fix(format!("docker network disconnect {network} {}", r.name))
                .remedy(Some(Remedy::Disconnect {
                    container: r.name.clone(),
                    network: network.to_string(),
                }));
        }
        out.push(found);
    }
    let public = b.public_layer.as_deref();
    let in_public = r.placement.layer.as_deref() == public && public.is_some()
        || r.networks
            .iter()
            .any(|n| t.zone_of(&n.network) == public && public.is_some());
    let exposed: Vec<String> = r
        .ports
        .iter()
        .filter(|p| !p.host_port.is_empty() && !is_loopback(&p.host_ip))
        .map(|p| p.to_string())
        .collect();
    if !in_public && !exposed.is_empty() {
        out.push(seen(
            RuleId::ZonePublishedPort,
            format!(
                "publishes {} outside the {} zone",
                exposed.join(", "),
                public.unwrap_or("public")
            ),
        ));
    }
}

/// The one network whose removal mends these wrongly joined zone pairs,
/// if there is one: every pair has the container's own zone on one side
/// and the same zone on the other, which it is on through one network.
fn off_network<'a>(world: &World, r: &'a Replica, pairs: &[(&str, &str)]) -> Option<&'a str> {
    let t = world.topology;
    let own = r.placement.layer.as_deref()?;
    let others: BTreeSet<&str> = pairs
        .iter()
        .map(|(a, c)| match (*a == own, *c == own) {
            (true, _) => Some(*c),
            (_, true) => Some(*a),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let [zone] = others.into_iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let networks: Vec<&str> = r
        .networks
        .iter()
        .filter(|n| t.zone_of(&n.network) == Some(zone))
        .map(|n| n.network.as_str())
        .collect();
    match networks[..] {
        [one] => Some(one),
        _ => None,
    }
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| a.is_loopback())
}

/// Limits judged on a container: a Compose one's own, or a Swarm task's,
/// which are its service's (the fix then updates the service).
fn resources(
    r: &Replica,
    component: Option<&Component>,
    (cpu_f, mem_f): (f64, f64),
    pids_default: i64,
    out: &mut Vec<Seen>,
) {
    let l = &r.limits;
    let command = |c: &Resources| match r.placement.service.kind {
        ServiceKind::Swarm => format!(
            "docker service update {} {}",
            c.service_flags(),
            r.placement.service.name
        ),
        _ => format!("docker update {} {}", c.cli_flags(), r.name),
    };
    let target = match r.placement.service.kind {
        ServiceKind::Swarm => format!("service:{}", r.placement.service.name),
        _ => format!("replica:{}", r.name),
    };
    let resize = |change: Resources| {
        Some(Remedy::Resize {
            target: target.clone(),
            change,
        })
    };
    let profile_cpu = component.and_then(|c| c.cpu.map(|p| (c, p)));
    let profile_mem = component.and_then(|c| c.memory.map(|p| (c, p)));
    let memory = l.memory.unwrap_or(0);
    if memory <= 0 {
        let change = profile_mem.map(|(_, p)| Resources {
            memory: Some(mib_up(p.limit * mem_f)),
            ..Default::default()
        });
        let fix = match &change {
            Some(c) => command(c),
            None => RuleId::MemoryLimit.fix().into(),
        };
        out.push(
            seen(RuleId::MemoryLimit, "no memory limit")
                .fix(fix)
                .remedy(change.and_then(resize)),
        );
    }
    if r.cpu_limit.is_none() {
        let change = profile_cpu.map(|(_, p)| Resources {
            nano_cpus: Some((p.limit * cpu_f * 1e9).round() as i64),
            ..Default::default()
        });
        let fix = match &change {
            Some(c) => command(c),
            None => RuleId::CpuLimit.fix().into(),
        };
        out.push(
            seen(RuleId::CpuLimit, "no CPU limit")
                .fix(fix)
                .remedy(change.and_then(resize)),
        );
    }
    if l.pids_limit.unwrap_or(0) <= 0 {
        let change = Resources {
            pids_limit: Some(pids_default),
            ..Default::default()
        };
        out.push(
            seen(RuleId::PidsLimit, "no pids limit")
                .fix(command(&change))
                .remedy(resize(change)),
        );
    }
    // Limits outside the component's profile (scaled), both ways.
    let mut outside = Vec::new();
    let mut change = Resources::default();
    if let (Some((c, p)), Some(have)) = (profile_cpu, r.cpu_limit) {
        let (lo, hi) = (p.request * cpu_f, p.limit * cpu_f);
        if have < lo - EPS || have > hi + EPS {
            outside.push(format!(
                "cpus {} outside {}–{} ({})",
                cpus(have),
                cpus(lo),
                cpus(hi),
                profile_name(c, cpu_f)
            ));
            change.nano_cpus = Some((hi * 1e9).round() as i64);
        }
    }
    if let Some((c, p)) = profile_mem
        && memory > 0
    {
        let (lo, hi) = (p.request * mem_f, p.limit * mem_f);
        let have = memory as f64;
        if have < lo - 1.0 || have > hi + 1.0 {
            outside.push(format!(
                "memory {} outside {}–{} ({})",
                bytes(have),
                bytes(lo),
                bytes(hi),
                profile_name(c, mem_f)
            ));
            change.memory = Some(mib_up(hi));
        }
    }
    if !outside.is_empty() {
        out.push(
            seen(RuleId::Profile, outside.join("; "))
                .fix(command(&change))
                .remedy(resize(change)),
        );
    }
    // The memory the tier guarantees must be reserved (containers have
    // no CPU reservation; a Swarm service's are judged on the service).
    if let Some(c) = component
        && let (Some(tier), Some(p)) = (&c.tier, c.memory)
        && tier.memory_guarantee > 0.0
        && r.placement.service.kind != ServiceKind::Swarm
    {
        let need = p.request * tier.memory_guarantee * mem_f;
        let have = l.memory_reservation.unwrap_or(0).max(0) as f64;
        if have + 1.0 < need {
            let change = Resources {
                memory_reservation: Some(mib_up(need)),
                ..Default::default()
            };
            out.push(
                seen(
                    RuleId::Reservation,
                    format!(
                        "memory reservation {} below the {} tier's {} ({}% of {})",
                        if have > 0.0 {
                            bytes(have)
                        } else {
                            "none".into()
                        },
                        tier.name,
                        bytes(need),
                        (tier.memory_guarantee * 100.0).round(),
                        profile_name(c, mem_f)
                    ),
                )
                .fix(command(&change))
                .remedy(resize(change)),
            );
        }
    }
}

fn identity(
    world: &World,
    r: &Replica,
    component: Option<&Component>,
    swarm_task: bool,
    out: &mut Vec<Seen>,
) {
    let b = &world.topology.baseline;
    // Swarm names its tasks' containers itself.
    if let Some(c) = component
        && !swarm_task
        && !c.named_well(&r.name)
    {
        let patterns: Vec<&str> = c.naming.iter().map(|(p, _)| p.as_str()).collect();
        out.push(
            seen(
                RuleId::Naming,
                format!(
                    "{} does not match {} ({})",
                    r.name,
                    patterns.join(" or "),
                    c.name
                ),
            )
            .fix(format!("rename it: {}", patterns.join(" or "))),
        );
    }
    let mut missing: Vec<&str> = b
        .required_labels
        .iter()
        .filter(|l| !r.labels.contains_key(*l))
        .map(String::as_str)
        .collect();
    if let Some(team) = &b.team_label
        && r.placement.team.is_some()
        && !r.labels.contains_key(team)
    {
        missing.push(team);
    }
    if !missing.is_empty() {
        out.push(
            seen(
                RuleId::Labels,
                format!("missing labels: {}", missing.join(", ")),
            )
            .fix(format!(
                "add the labels {} (at create: --label)",
                missing.join(", ")
            )),
        );
    }
    if let Some(why) = unversioned(&r.image) {
        out.push(seen(RuleId::ImageTag, format!("image {} {why}", r.image)));
    }
}

/// `latest` or no tag (a digest pins it, so that is fine).
fn unversioned(image: &str) -> Option<&'static str> {
    if image.starts_with("sha256:") {
        return Some("is an image id, not a versioned tag");
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, "latest")) => Some("is tagged latest"),
        Some(_) => None,
        None if digest => None,
        None => Some("has no tag (latest)"),
    }
}

fn security(world: &World, p: &crate::model::Posture, out: &mut Vec<Seen>) {
    let b = &world.topology.baseline;
    if p.runs_as_root() {
        let user = if p.user.is_empty() {
            "root (no USER)"
        } else {
            &p.user
        };
        out.push(seen(RuleId::Root, format!("runs as {user}")));
    }
    if p.privileged {
        out.push(seen(RuleId::Privileged, "runs --privileged"));
    }
    if !p.cap_add.is_empty() {
        out.push(
            seen(
                RuleId::Capabilities,
                format!("adds capabilities {}", p.cap_add.join(", ")),
            )
            .fix(format!("drop --cap-add {}", p.cap_add.join(" --cap-add "))),
        );
    }
    for m in &p.binds {
        let how = if m.writable {
            "read-write"
        } else {
            "read-only"
        };
        match b.sensitive(&m.source) {
            Some(Sensitive::DockerSocket) => out.push(seen(
                RuleId::DockerSocket,
                format!(
                    "mounts the Docker socket {} at {} ({how})",
                    m.source, m.destination
                ),
            )),
            Some(Sensitive::HostPath) => out.push(seen(
                RuleId::HostPath,
                format!(
                    "mounts the host's {} at {} ({how})",
                    m.source, m.destination
                ),
            )),
            None => {}
        }
    }
    if p.network_mode == "host" {
        out.push(seen(
            RuleId::HostNetwork,
            "runs in the host's network namespace",
        ));
    }
    if p.pid_mode == "host" {
        out.push(seen(
            RuleId::HostPid,
            "shares the host's process namespace (--pid host)",
        ));
    }
    if !p.read_only_root {
        out.push(seen(RuleId::WritableRoot, "root file system is writable"));
    }
    // Names only: the values were never read.
    let secrets: Vec<&str> = p
        .env_names
        .iter()
        .filter(|n| b.secret_pattern(n).is_some())
        .map(String::as_str)
        .collect();
    if !secrets.is_empty() {
        let files: Vec<String> = secrets.iter().map(|n| format!("{n}_FILE")).collect();
        out.push(
            seen(
                RuleId::SecretEnv,
                format!(
                    "secret-looking variables in its environment: {}",
                    secrets.join(", ")
                ),
            )
            .fix(format!(
                "move them to Docker secrets and pass {} instead",
                files.join(", ")
            )),
        );
    }
}

/// The services to judge, with where each belongs: every Swarm service,
/// and every other service with a live replica.
pub fn services(world: &World) -> Vec<(String, Placement)> {
    let mut out: BTreeMap<String, Placement> = world
        .services
        .iter()
        .map(|s| (s.name.clone(), s.placement.clone()))
        .collect();
    for r in world.live() {
        out.entry(r.placement.service.name.clone())
            .or_insert_with(|| r.placement.clone());
    }
    out.into_iter().collect()
}

/// A service, by name: None when there is no such service now.
pub fn service(world: &World, name: &str) -> Option<(Placement, Vec<Seen>)> {
    let swarm = world.services.iter().find(|s| s.name == name);
    let replicas: Vec<&Replica> = world
        .live()
        .filter(|r| r.placement.service.name == name)
        .collect();
    let placement = match (swarm, replicas.first()) {
        (Some(s), _) => s.placement.clone(),
        (None, Some(r)) => r.placement.clone(),
        (None, None) => return None,
    };
    let t = world.topology;
    let mut out = Vec::new();
    // Swarm counts its tasks cluster-wide; other services count what runs.
    let (running, wanted) = match swarm {
        Some(s) => (s.running_tasks, s.replicas.unwrap_or(s.desired_tasks)),
        None => {
            let n = replicas.iter().filter(|r| r.is_running()).count() as u64;
            (n, replicas.len() as u64)
        }
    };
    let global = swarm.is_some_and(|s| s.replicas.is_none());
    let policy = t.policy_for(name);
    let scale = |to: u64| {
        Some(Remedy::Scale {
            service: name.to_string(),
            replicas: to,
        })
    };
    if let Some(p) = policy
        && !global
        && running < p.min
    {
        out.push(
            seen(
                RuleId::PolicyMinimum,
                format!(
                    "{running} running, the policy {:?} wants at least {}",
                    p.pattern, p.min
                ),
            )
            .fix(format!("scale {name} to {}", p.min))
            .remedy(scale(p.min)),
        );
    }
    let component = t.baseline.component(name);
    if let Some(c) = component
        && policy.is_none()
        && !global
        && c.replicas >= 2
        && wanted < 2
    {
        out.push(
            seen(
                RuleId::SingleReplica,
                format!(
                    "{wanted} replica; the reference runs {} ×{}",
                    c.name, c.replicas
                ),
            )
            .fix(format!("scale {name} to {}", c.replicas))
            .remedy(scale(c.replicas)),
        );
    }
    if let Some(s) = swarm {
        // Its limits as a task of it seen here has them (the spec's); the
        // fix updates the service.
        if let Some(task) = replicas.first() {
            let b = &t.baseline;
            resources(
                task,
                component,
                b.scale_for(&task.labels),
                b.pids_limit,
                &mut out,
            );
        }
        swarm_service(world, s, component, &mut out);
    }
    Some((placement, out))
}

fn swarm_service(
    world: &World,
    s: &SwarmService,
    component: Option<&Component>,
    out: &mut Vec<Seen>,
) {
    let life = &s.lifecycle;
    // No restart policy in the spec is Swarm's default, `any`: only an
    // explicit `none` leaves failed tasks dead.
    if life.restart_condition.as_deref() == Some("none") {
        out.push(seen(RuleId::SwarmRestart, "restart condition: none"));
    }
    let mut update = Vec::new();
    if life.update_failure_action.is_none() {
        update.push("no update config (Swarm's default pauses a failed update)");
    }
    if !life.rollback_config {
        update.push("no rollback config");
    }
    if !update.is_empty() {
        out.push(seen(RuleId::UpdateConfig, update.join(", ")));
    }
    if let Some(c) = component
        && let Some(tier) = &c.tier
    {
        let (cpu_f, mem_f) = world.topology.baseline.scale_for(&s.labels);
        let (mut short, mut flags) = (Vec::new(), Vec::new());
        let none_or = |have: f64, text: String| if have > 0.0 { text } else { "none".into() };
        if let Some(p) = c.cpu {
            let need = p.request * tier.cpu_guarantee * cpu_f;
            if s.rules.cpus + EPS < need {
                let have = none_or(s.rules.cpus, cpus(s.rules.cpus));
                short.push(format!("cpus {have} < {}", cpus(need)));
                flags.push(format!("--reserve-cpu {}", cpus(need)));
            }
        }
        if let Some(p) = c.memory {
            let need = p.request * tier.memory_guarantee * mem_f;
            let have = s.rules.memory as f64;
            if have + 1.0 < need {
                short.push(format!(
                    "memory {} < {}",
                    none_or(have, bytes(have)),
                    bytes(need)
                ));
                flags.push(format!("--reserve-memory {}", bytes(mib_up(need) as f64)));
            }
        }
        if !short.is_empty() {
            out.push(
                seen(
                    RuleId::ServiceReservation,
                    format!(
                        "reservations below the {} tier ({}): {}",
                        tier.name,
                        profile_name(c, mem_f),
                        short.join(", ")
                    ),
                )
                .fix(format!(
                    "docker service update {} {}",
                    flags.join(" "),
                    s.name
                )),
            );
        }
    }
    // Constraints on node labels no node carries.
    if !world.nodes.is_empty() {
        for c in &s.rules.constraints {
            if let Some(why) = unmet_label(c, world.nodes) {
                out.push(
                    seen(RuleId::UnknownNodeLabel, format!("constraint {c:?}: {why}")).fix(
                        format!(
                            "docker node update --label-add {} NODE, or change the constraint",
                            label_of(c)
                        ),
                    ),
                );
            }
        }
    }
    // All tasks on one node while others could take some.
    let usable = world
        .nodes
        .iter()
        .filter(|n| n.availability == "active" && n.state == "ready")
        .count();
    let on: BTreeSet<&str> = s
        .tasks
        .iter()
        .filter(|t| t.state == "running")
        .map(|t| t.node_id.as_str())
        .collect();
    let running = s.tasks.iter().filter(|t| t.state == "running").count();
    if usable >= 2 && running >= 2 && on.len() == 1 {
        let node = on.iter().next().copied().unwrap_or("");
        let host = world
            .nodes
            .iter()
            .find(|n| n.id == node)
            .map(|n| n.hostname.as_str())
            .unwrap_or(node);
        out.push(seen(
            RuleId::OneNode,
            format!("all {running} tasks on {host}, with {usable} nodes active"),
        ));
    }
}

/// `key=value` of a `node.labels.key == value` constraint.
fn label_of(c: &str) -> String {
    match placement::constraint(c) {
        Some((k, v, _)) => format!("{}={v}", k.trim_start_matches("node.labels.")),
        None => c.to_string(),
    }
}

/// Why no node can meet a `node.labels.… ==` constraint, if none can.
fn unmet_label(c: &str, nodes: &[SwarmNode]) -> Option<String> {
    let (key, value, equal) = placement::constraint(c)?;
    let label = key.strip_prefix("node.labels.")?;
    if !equal || nodes.iter().any(|n| placement::meets(n, c)) {
        return None;
    }
    Some(if nodes.iter().any(|n| n.labels.contains_key(label)) {
        format!("no node has {label}={value}")
    } else {
        format!("no node has a label {label}")
    })
}

/// A network.
pub fn network(world: &World, n: &DockerNetwork) -> Vec<Seen> {
    let t = world.topology;
    let b = &t.baseline;
    let mut out = Vec::new();
    if let Some(layer) = t.zone_of(&n.name)
        && Some(layer) != b.public_layer.as_deref()
        && !n.internal
    {
        out.push(
            seen(
                RuleId::ZoneNotInternal,
                format!("the {layer} zone's network is not internal"),
            )
            .fix(format!(
                "recreate it: docker network create --internal … {} (its containers reconnect)",
                n.name
            )),
        );
    }
    if t.zone_of(&n.name).is_none()
        && n.icc
        && let (Some(public), Some(data)) = (&b.public_layer, &b.data_layer)
    {
        let on: Vec<&Replica> = world
            .live()
            .filter(|r| r.host == n.host && r.networks.iter().any(|a| a.network == n.name))
            .collect();
        let of = |layer: &str| {
            on.iter()
                .filter(|r| r.placement.layer.as_deref() == Some(layer))
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
        };
        let (p, d) = (of(public), of(data));
        if !p.is_empty() && !d.is_empty() {
            out.push(seen(
                RuleId::ZoneSharedNetwork,
                format!(
                    "joins {public} ({}) and {data} ({}) with inter-container traffic on",
                    p.join(", "),
                    d.join(", ")
                ),
            ));
        }
    }
    out
}

/// A Swarm node.
pub fn node(world: &World, n: &SwarmNode) -> Vec<Seen> {
    let mut out = Vec::new();
    // With one node there is nowhere else to run.
    if n.role != SwarmRole::Manager || n.availability != "active" || world.nodes.len() < 2 {
        return out;
    }
    let workload: Vec<&str> = world
        .services
        .iter()
        .filter(|s| {
            !s.rules
                .constraints
                .iter()
                .any(|c| placement::constraint(c) == Some(("node.role", "manager", true)))
        })
        .filter(|s| {
            s.tasks
                .iter()
                .any(|t| t.node_id == n.id && t.state == "running")
        })
        .map(|s| s.name.as_str())
        .collect();
    if !workload.is_empty() {
        out.push(
            seen(
                RuleId::ManagerWorkload,
                format!("manager runs workload tasks of {}", workload.join(", ")),
            )
            .fix(format!(
                "docker node update --availability drain {} (or constrain them to node.role == worker)",
                n.hostname
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SwarmLifecycle, SwarmTask, TaskRules};
    use crate::topology::Topology;

    fn swarm_node(id: &str, role: SwarmRole, labels: &[(&str, &str)]) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            hostname: format!("host-{id}"),
            role,
            availability: "active".into(),
            state: "ready".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    /// A Swarm service that breaks no Swarm rule: restart on failure,
    /// update and rollback configs, tasks on two nodes, no constraint.
    fn service(t: &Topology, name: &str, on: &[&str]) -> SwarmService {
        SwarmService {
            id: name.into(),
            name: name.into(),
            image: "agile-sim:1".into(),
            replicas: Some(on.len() as u64),
            running_tasks: on.len() as u64,
            desired_tasks: on.len() as u64,
            pending: None,
            tasks: on
                .iter()
                .enumerate()
                .map(|(i, n)| SwarmTask {
                    slot: Some(i as u64 + 1),
                    node_id: n.to_string(),
                    desired: "running".into(),
                    state: "running".into(),
                    error: String::new(),
                })
                .collect(),
            rules: TaskRules::default(),
            lifecycle: SwarmLifecycle {
                update_failure_action: Some("rollback".into()),
                rollback_config: true,
                restart_condition: Some("on-failure".into()),
            },
            labels: Default::default(),
            placement: t.place(name, &Default::default()),
        }
    }

    fn rules(v: Vec<Seen>) -> Vec<String> {
        v.into_iter().map(|s| s.rule.to_string()).collect()
    }

    #[test]
    fn swarm_rules_each_fire_on_what_breaks_them_only() {
        let t = Topology::default_topology();
        let nodes = vec![
            swarm_node("m1", SwarmRole::Manager, &[]),
            swarm_node("w1", SwarmRole::Worker, &[("db", "primary")]),
            swarm_node("w2", SwarmRole::Worker, &[]),
        ];
        let ok = service(&t, "web", &["w1", "w2"]);
        let mut no_restart = service(&t, "norestart", &["w1", "w2"]);
        no_restart.lifecycle.restart_condition = Some("none".into());
        let mut no_update = service(&t, "noupdate", &["w1", "w2"]);
        no_update.lifecycle.update_failure_action = None;
        let mut bad_label = service(&t, "badlabel", &["w1", "w2"]);
        bad_label.rules.constraints = vec!["node.labels.cache == primary".into()];
        let mut good_label = service(&t, "goodlabel", &["w1", "w2"]);
        good_label.rules.constraints = vec!["node.labels.db == primary".into()];
        let one_node = service(&t, "onenode", &["w2", "w2"]);
        let on_manager = service(&t, "onmanager", &["m1", "w1"]);
        let mut control = service(&t, "agile_control", &["m1", "m1"]);
        control.rules.constraints = vec!["node.role == manager".into()];
        // What its critical tier guarantees (Control Layer: 1 CPU, 2G).
        control.rules.cpus = 1.0;
        control.rules.memory = 2 << 30;
        // A Coordinator (critical tier): reservations below its request.
        let mut coordinator = service(&t, "agile_coordinator", &["w1", "w2"]);
        coordinator.rules.cpus = 2.0;
        coordinator.rules.memory = 1 << 30;
        let services = vec![
            ok,
            no_restart,
            no_update,
            bad_label,
            good_label,
            one_node,
            on_manager,
            control,
            coordinator,
        ];
        let hosts = vec!["local".to_string()];
        let world = World {
            topology: &t,
            replicas: Vec::new(),
            services: &services,
            networks: &[],
            nodes: &nodes,
            hosts: &hosts,
        };
        let of = |name: &str| {
            let s = services.iter().find(|s| s.name == name).unwrap();
            let mut out = Vec::new();
            swarm_service(&world, s, t.baseline.component(name), &mut out);
            rules(out)
        };
        assert_eq!(of("web"), Vec::<String>::new());
        assert_eq!(of("norestart"), ["lifecycle.swarm-restart"]);
        assert_eq!(of("noupdate"), ["lifecycle.update-config"]);
        assert_eq!(of("badlabel"), ["swarm.node-label"]);
        assert_eq!(of("goodlabel"), Vec::<String>::new());
        assert_eq!(of("onenode"), ["swarm.one-node"]);
        // The control cluster belongs on managers (its constraint says so),
        // all on one node or not: only the spread rule speaks.
        assert_eq!(of("agile_control"), ["swarm.one-node"]);
        assert_eq!(of("agile_coordinator"), ["resources.service-reservation"]);
        // The manager runs a workload task (onmanager's), not only control.
        assert_eq!(rules(node(&world, &nodes[0])), ["swarm.manager-workload"]);
        assert_eq!(rules(node(&world, &nodes[1])), Vec::<String>::new());
        // With one node there is nowhere else to go: neither rule speaks.
        let alone = vec![swarm_node("m1", SwarmRole::Manager, &[])];
        let single = World {
            nodes: &alone,
            ..world
        };
        assert_eq!(rules(node(&single, &alone[0])), Vec::<String>::new());
        let s = services.iter().find(|s| s.name == "onenode").unwrap();
        let mut out = Vec::new();
        swarm_service(&single, s, None, &mut out);
        assert_eq!(rules(out), Vec::<String>::new());
    }

    #[test]
    fn tags_latest_untagged_and_pinned() {
        assert_eq!(unversioned("agile-sim:0.1.0"), None);
        assert_eq!(unversioned("registry:5000/agile/control:1.2"), None);
        assert!(unversioned("agile-sim:latest").is_some());
        assert!(unversioned("agile-sim").is_some());
        assert!(unversioned("registry:5000/agile/control").is_some());
        assert_eq!(unversioned("agile/x@sha256:abc"), None);
        assert!(unversioned("sha256:0123").is_some());
    }

    #[test]
    fn label_constraints_are_met_by_a_node_carrying_the_label() {
        let node = |labels: &[(&str, &str)]| SwarmNode {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let nodes = [node(&[("db", "primary")]), node(&[])];
        assert_eq!(unmet_label("node.labels.db == primary", &nodes), None);
        assert_eq!(
            unmet_label("node.labels.db==replica", &nodes).as_deref(),
            Some("no node has db=replica")
        );
        assert_eq!(
            unmet_label("node.labels.cache == primary", &nodes).as_deref(),
            Some("no node has a label cache")
        );
        assert_eq!(unmet_label("node.role == manager", &nodes), None);
        assert_eq!(unmet_label("node.labels.db != primary", &nodes), None);
    }
}
