//! What a key or a command acts on: the selection's replicas and
//! services, or a typed name (`replica:`, `service:`, `team:`, `layer:`).

use crate::app::{App, Level, Pane};
use crate::model::{Replica, ServiceId};
use crate::ops::plan::{self, Target};
use crate::topology::normalize_team;

fn service_target(fleet: &crate::fleet::Fleet, s: &ServiceId) -> Target {
    Target {
        label: format!("service {}", s.name),
        replicas: plan::replicas_of_service(fleet, s)
            .iter()
            .map(|r| r.id.clone())
            .collect(),
        services: vec![s.clone()],
    }
}

fn replica_target(r: &Replica) -> Target {
    Target {
        label: format!("replica {}", r.name),
        replicas: vec![r.id.clone()],
        services: vec![r.placement.service.clone()],
    }
}

impl App {
    /// Every service known: from replicas and from Swarm's list.
    fn services(&self) -> Vec<ServiceId> {
        let mut out: Vec<ServiceId> = self
            .fleet
            .shown()
            .map(|r| r.placement.service.clone())
            .chain(
                self.fleet
                    .swarm_services()
                    .iter()
                    .map(|s| s.placement.service.clone()),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Replicas and services of a layer or team.
    pub(super) fn group_target(&self, by_team: bool, name: &str) -> Option<Target> {
        let in_group = |r: &Replica| {
            if by_team {
                r.placement.team.as_deref().map(normalize_team).as_deref() == Some(name)
            } else {
                r.placement.layer.as_deref() == Some(name)
            }
        };
        let mut replicas: Vec<&Replica> = self.fleet.shown().filter(|r| in_group(r)).collect();
        replicas.sort_by(|a, b| a.name.cmp(&b.name));
        let mut services: Vec<ServiceId> = replicas
            .iter()
            .map(|r| r.placement.service.clone())
            .collect();
        services.extend(
            self.fleet
                .swarm_services()
                .iter()
                .filter(|s| {
                    if by_team {
                        s.placement.team.as_deref() == Some(name)
                    } else {
                        s.placement.layer.as_deref() == Some(name)
                    }
                })
                .map(|s| s.placement.service.clone()),
        );
        services.sort();
        services.dedup();
        (!services.is_empty()).then(|| Target {
            label: format!("{} {name}", if by_team { "team" } else { "layer" }),
            replicas: replicas.iter().map(|r| r.id.clone()).collect(),
            services,
        })
    }

    /// What the selection is: a layer or team row, a service, a replica.
    pub fn selection_target(&self) -> Option<Target> {
        let by_team = self.pane == Pane::Teams;
        match &self.frame().level {
            Level::Groups => {
                let row = self.rows().get(self.frame().selected)?.name.clone();
                self.group_target(by_team, &row)
            }
            Level::Services { .. } => {
                let s = self.rows().get(self.frame().selected)?.service.clone()?;
                Some(service_target(&self.fleet, &s))
            }
            Level::Replicas { .. } | Level::Replica { .. } => {
                self.selected_replica().map(replica_target)
            }
        }
    }

    /// A typed target: `replica:`, `service:`, `team:` or `layer:` NAME,
    /// or a bare name tried in that order.
    pub fn resolve_target(&self, spec: &str) -> Result<Target, String> {
        let (kind, name) = spec.split_once(':').unwrap_or(("", spec));
        let replica = || {
            self.fleet
                .shown()
                .find(|r| r.name == name)
                .map(replica_target)
        };
        let named: Vec<ServiceId> = self
            .services()
            .into_iter()
            .filter(|s| s.name == name)
            .collect();
        if named.len() > 1 && matches!(kind, "" | "service") {
            let which: Vec<String> = named
                .iter()
                .map(|s| match &s.kind {
                    crate::model::ServiceKind::Compose { project } => {
                        format!("compose project {project}")
                    }
                    _ => s.kind_word().to_string(),
                })
                .collect();
            return Err(format!(
                "{} services are called {name:?} ({}): name a replica instead",
                named.len(),
                which.join(", ")
            ));
        }
        let service = || named.first().map(|s| service_target(&self.fleet, s));
        let team = || self.group_target(true, &normalize_team(name));
        let layer = || self.group_target(false, name);
        let found = match kind {
            "replica" => replica(),
            "service" => service(),
            "team" => team(),
            "layer" => layer(),
            "" => replica().or_else(service).or_else(team).or_else(layer),
            other => {
                return Err(format!(
                    "{other}: is not a kind of target; use replica:, service:, team: or layer:"
                ));
            }
        };
        found.ok_or_else(|| format!("no replica, service, team or layer is called {name:?}"))
    }

    /// The one service a scale or rollout applies to.
    pub(crate) fn one_service(&self, target: &Target, verb: &str) -> Result<ServiceId, String> {
        match target.services.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!("{} has no service", target.label)),
            many => Err(format!(
                "{} has {} services ({}): {verb} one of them",
                target.label,
                many.len(),
                many.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}
