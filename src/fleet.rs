//! The fleet: every replica, its live figures and the Swarm services, and
//! the aggregates the panes show (per layer, team and service).
//!
//! Aggregates are summed on demand from the replicas (at hundreds of
//! containers that costs microseconds, and there is no second copy of the
//! figures to keep in step). Which replica belongs where, in display order,
//! is kept in an index rebuilt only when a replica joins, leaves or moves:
//! a batch of samples re-sorts nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::model::{
    DockerNetwork, Health, HostId, Placement, Replica, ServiceId, ServiceKind, SwarmNode,
    SwarmService,
};
use crate::stats::{History, Sample};
use crate::topology::Topology;

/// Name of the row for replicas that match no layer.
pub const UNGROUPED: &str = "ungrouped";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Layer,
    Team,
}

/// Live figures of one replica.
#[derive(Clone, Debug, Default)]
pub struct Live {
    pub sample: Sample,
    pub history: History,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthCounts {
    pub healthy: usize,
    pub starting: usize,
    pub unhealthy: usize,
    pub no_check: usize,
}

impl HealthCounts {
    fn add(&mut self, h: Health) {
        match h {
            Health::Healthy => self.healthy += 1,
            Health::Starting => self.starting += 1,
            Health::Unhealthy => self.unhealthy += 1,
            Health::NoCheck => self.no_check += 1,
        }
    }

    /// The most alarming state present, for colouring.
    pub fn worst(&self) -> Option<Health> {
        if self.unhealthy > 0 {
            Some(Health::Unhealthy)
        } else if self.starting > 0 {
            Some(Health::Starting)
        } else if self.healthy > 0 {
            Some(Health::Healthy)
        } else if self.no_check > 0 {
            Some(Health::NoCheck)
        } else {
            None
        }
    }
}

/// Summed figures of a set of running replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub cpu_pct: f64,
    pub mem_used: u64,
    pub mem_limit: u64,
    pub net_rx_rate: f64,
    pub net_tx_rate: f64,
    pub blk_read_rate: f64,
    pub blk_write_rate: f64,
    pub pids: u64,
    /// Running replicas that have figures; fewer than `running` = partial.
    pub sampled: usize,
}

impl Figures {
    fn add(&mut self, s: &Sample) {
        self.cpu_pct += s.cpu_pct;
        // An unlimited container's limit is the host's memory; summed
        // over hosts that never said theirs it must not overflow.
        self.mem_used = self.mem_used.saturating_add(s.mem_used);
        self.mem_limit = self.mem_limit.saturating_add(s.mem_limit);
        self.net_rx_rate += s.net_rx_rate;
        self.net_tx_rate += s.net_tx_rate;
        self.blk_read_rate += s.blk_read_rate;
        self.blk_write_rate += s.blk_write_rate;
        self.pids += s.pids;
        self.sampled += 1;
    }
}

/// Replicas of a group, by service.
type Members<'a> = BTreeMap<&'a ServiceId, Vec<&'a Replica>>;

/// Replica ids by group, then service, sorted by replica name. Swarm
/// services with no task here are present with no id.
type Index = BTreeMap<String, BTreeMap<ServiceId, Vec<String>>>;

/// One row of the Layers, Teams or services tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    /// Set on service rows.
    pub service: Option<ServiceId>,
    pub services: usize,
    pub running: usize,
    pub wanted: usize,
    pub health: HealthCounts,
    pub figures: Figures,
    /// Summed CPU limit (cores) of the running replicas; None if any is unlimited.
    pub cpu_limit: Option<f64>,
    /// Replica ids, sorted by name.
    pub replicas: Vec<String>,
}

#[derive(Debug)]
pub struct Fleet {
    /// Shared with the tasks that place inspected containers.
    pub topology: std::sync::Arc<Topology>,
    pub replicas: HashMap<String, Replica>,
    pub live: HashMap<String, Live>,
    swarm_services: Vec<SwarmService>,
    /// The Swarm's nodes (empty unless this daemon is a manager).
    pub nodes: Vec<SwarmNode>,
    /// Every host's networks (each carries its host).
    pub networks: Vec<DockerNetwork>,
    /// `:host NAME`: only this host's replicas are indexed (shown, summed).
    focus: Option<HostId>,
    /// By layer and by team (`GroupBy as usize`).
    index: [Index; 2],
}

impl Row {
    /// Its key in the order `by` (ascending); rows equal by it keep their
    /// name order, so by name every key is the same.
    pub fn sort_key(&self, by: crate::filter::SortBy) -> f64 {
        use crate::filter::SortBy;
        let f = &self.figures;
        match by {
            SortBy::Name => 0.0,
            SortBy::Services => self.services as f64,
            SortBy::Running => self.running as f64,
            SortBy::Health => (self.health.unhealthy * 1000 + self.health.starting) as f64,
            SortBy::Cpu => f.cpu_pct,
            SortBy::Memory => f.mem_used as f64,
            SortBy::Net => f.net_rx_rate + f.net_tx_rate,
            SortBy::Block => f.blk_read_rate + f.blk_write_rate,
            SortBy::Pids => f.pids as f64,
        }
    }
}

impl Fleet {
    /// A replica's key in the order `by` (ascending), from its latest
    /// figures (none counts as 0); equal keys keep their name order.
    pub fn sort_key(&self, r: &Replica, by: crate::filter::SortBy) -> f64 {
        use crate::filter::SortBy;
        let s = self.live.get(&r.id).map(|l| l.sample);
        let fig = |f: fn(&Sample) -> f64| s.as_ref().map(f).unwrap_or(0.0);
        match by {
            SortBy::Name | SortBy::Services => 0.0,
            SortBy::Running => f64::from(u8::from(r.is_running())),
            SortBy::Health => match r.health {
                Health::Unhealthy => 2.0,
                Health::Starting => 1.0,
                _ => 0.0,
            },
            SortBy::Cpu => fig(|s| s.cpu_pct),
            SortBy::Memory => fig(|s| s.mem_used as f64),
            SortBy::Net => fig(|s| s.net_rx_rate + s.net_tx_rate),
            SortBy::Block => fig(|s| s.blk_read_rate + s.blk_write_rate),
            SortBy::Pids => fig(|s| s.pids as f64),
        }
    }

    pub fn new(topology: Topology) -> Fleet {
        Fleet::sharing(std::sync::Arc::new(topology))
    }

    /// A fleet placed by a topology another fleet holds too (the past's).
    pub fn sharing(topology: std::sync::Arc<Topology>) -> Fleet {
        Fleet {
            topology,
            replicas: HashMap::new(),
            live: HashMap::new(),
            swarm_services: Vec::new(),
            nodes: Vec::new(),
            networks: Vec::new(),
            focus: None,
            index: Default::default(),
        }
    }

    pub fn focus(&self) -> Option<HostId> {
        self.focus
    }

    /// Show one host's replicas only (None: every host's); returns whether
    /// anything changed.
    pub fn set_focus(&mut self, focus: Option<HostId>) -> bool {
        let changed = self.focus != focus;
        self.focus = focus;
        if changed {
            self.reindex();
        }
        changed
    }

    /// The replicas shown: every host's, or the focused host's only. What
    /// operations and targets see.
    pub fn shown(&self) -> impl Iterator<Item = &Replica> + Clone {
        self.replicas
            .values()
            .filter(|r| self.focus.is_none_or(|f| f == r.host))
    }

    /// Replace `host`'s networks; returns whether anything changed.
    pub fn set_networks(&mut self, host: HostId, mut networks: Vec<DockerNetwork>) -> bool {
        networks.iter_mut().for_each(|n| n.host = host);
        let mut all: Vec<DockerNetwork> = self
            .networks
            .iter()
            .filter(|n| n.host != host)
            .cloned()
            .chain(networks)
            .collect();
        // Stable: each host's networks keep the order their daemon gave.
        all.sort_by_key(|n| n.host);
        let changed = self.networks != all;
        self.networks = all;
        changed
    }

    /// Drop the live figures of `host`'s replicas (its link is lost): sums
    /// and cells show them as missing, never as current. Their CPU history
    /// stays.
    pub fn forget_figures(&mut self, host: HostId) {
        for (id, live) in self.live.iter_mut() {
            if self.replicas.get(id).is_some_and(|r| r.host == host) {
                live.sample = Sample::default();
            }
        }
    }

    pub fn swarm_services(&self) -> &[SwarmService] {
        &self.swarm_services
    }

    /// Replace the Swarm's nodes; returns whether anything changed.
    pub fn set_nodes(&mut self, nodes: Vec<SwarmNode>) -> bool {
        let changed = self.nodes != nodes;
        self.nodes = nodes;
        changed
    }

    /// Replace the Swarm services; returns whether anything changed.
    pub fn set_swarm_services(&mut self, services: Vec<SwarmService>) -> bool {
        if self.swarm_services == services {
            return false;
        }
        self.swarm_services = services;
        self.reindex();
        true
    }

    fn reindex(&mut self) {
        for by in [GroupBy::Layer, GroupBy::Team] {
            let mut index = Index::new();
            let mut replicas: Vec<&Replica> = self.shown().collect();
            replicas.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            for r in replicas {
                // A Swarm task's container goes where its service is, so
                // a service is listed once even if the two carry
                // different labels.
                let placement = self
                    .swarm_service(&r.placement.service)
                    .map_or(&r.placement, |s| &s.placement);
                if let Some(g) = self.group_of(placement, by) {
                    index
                        .entry(g.to_string())
                        .or_default()
                        .entry(r.placement.service.clone())
                        .or_default()
                        .push(r.id.clone());
                }
            }
            // Focused on one host, a service is what runs there: a Swarm
            // service with no task on it is another host's.
            for s in self.swarm_services.iter().filter(|_| self.focus.is_none()) {
                if let Some(g) = self.group_of(&s.placement, by) {
                    index
                        .entry(g.to_string())
                        .or_default()
                        .entry(s.placement.service.clone())
                        .or_default();
                }
            }
            self.index[by as usize] = index;
        }
    }

    /// Insert or replace a replica; returns whether anything changed.
    pub fn upsert(&mut self, replica: Replica) -> bool {
        self.apply(&[], [replica])
    }

    pub fn remove(&mut self, id: &str) -> bool {
        self.apply(&[id.to_string()], [])
    }

    /// Remove `gone`, then insert or replace `replicas`; returns whether
    /// anything changed. The index is rebuilt once, not per replica: a
    /// listing of 500 new containers would otherwise sort 500 times
    /// (150 ms measured, on the way to the first screen).
    pub fn apply(&mut self, gone: &[String], replicas: impl IntoIterator<Item = Replica>) -> bool {
        let mut changed = false;
        let mut moved = false;
        for id in gone {
            self.live.remove(id);
            let removed = self.replicas.remove(id).is_some();
            changed |= removed;
            moved |= removed;
        }
        for replica in replicas {
            moved |= match self.replicas.get(&replica.id) {
                Some(old) if *old == replica => continue,
                Some(old) => old.name != replica.name || old.placement != replica.placement,
                None => true,
            };
            if !replica.is_running() {
                // Figures of a stopped container are stale: drop them.
                if let Some(l) = self.live.get_mut(&replica.id) {
                    l.sample = Sample::default();
                }
            }
            self.replicas.insert(replica.id.clone(), replica);
            changed = true;
        }
        if moved {
            self.reindex();
        }
        changed
    }

    /// A replica's recorded CPU from before this run (the history store),
    /// under its live history. Only a replica known and running.
    pub fn backfill(&mut self, id: &str, points: &[(DateTime<Utc>, f64)]) {
        if !self.replicas.get(id).is_some_and(Replica::is_running) {
            return;
        }
        let slots: Vec<(i64, f64)> = points
            .iter()
            .map(|(t, v)| (History::slot_of(*t), *v))
            .collect();
        self.live
            .entry(id.to_string())
            .or_default()
            .history
            .backfill(&slots);
    }

    pub fn record(&mut self, id: &str, sample: Sample, at: DateTime<Utc>) -> bool {
        if !self.replicas.get(id).is_some_and(Replica::is_running) {
            return false;
        }
        // No allocation once the replica has figures: this runs per sample.
        let live = match self.live.get_mut(id) {
            Some(l) => l,
            None => self.live.entry(id.to_string()).or_default(),
        };
        live.sample = sample;
        live.history.push(History::slot_of(at), sample.cpu_pct);
        true
    }

    fn group_of<'a>(&self, p: &'a Placement, by: GroupBy) -> Option<&'a str> {
        match by {
            GroupBy::Layer => Some(p.layer.as_deref().unwrap_or(UNGROUPED)),
            GroupBy::Team => p.team.as_deref(),
        }
    }

    fn swarm_service(&self, service: &ServiceId) -> Option<&SwarmService> {
        (service.kind == ServiceKind::Swarm)
            .then(|| self.swarm_services.iter().find(|s| s.name == service.name))
            .flatten()
    }

    /// The replicas of a group's services, in display order. Swarm
    /// services with no task on this node are there too (with no replica),
    /// so a service that is entirely down still shows as 0/N.
    fn members<'a>(&'a self, services: &'a BTreeMap<ServiceId, Vec<String>>) -> Members<'a> {
        services
            .iter()
            .map(|(s, ids)| {
                let replicas = ids.iter().filter_map(|id| self.replicas.get(id)).collect();
                (s, replicas)
            })
            .collect()
    }

    fn row(&self, name: String, service: Option<ServiceId>, members: &Members) -> Row {
        let mut row = Row {
            name,
            service,
            services: members.len(),
            running: 0,
            wanted: 0,
            health: HealthCounts::default(),
            figures: Figures::default(),
            cpu_limit: Some(0.0),
            replicas: Vec::new(),
        };
        let mut local_running = 0;
        for (service, replicas) in members {
            let mut running = 0;
            for r in replicas {
                row.replicas.push(r.id.clone());
                if r.is_running() {
                    running += 1;
                    row.health.add(r.health);
                    row.cpu_limit = row.cpu_limit.zip(r.cpu_limit).map(|(a, b)| a + b);
                    if let Some(l) = self
                        .live
                        .get(&r.id)
                        .filter(|l| l.sample.counters.at.is_some())
                    {
                        row.figures.add(&l.sample);
                    }
                }
            }
            local_running += running;
            let (running, wanted) = self.counts_of(service, replicas.len(), running);
            row.running += running;
            row.wanted += wanted;
        }
        if local_running == 0 {
            row.cpu_limit = None;
        }
        row
    }

    /// (running, wanted) of one service, from what runs here: for Swarm,
    /// wanted from the spec (or the tasks Swarm wants, for a global
    /// service) and running from the tasks cluster-wide; superseded task
    /// containers are history, not wanted. For the rest, every container
    /// is wanted, and so for everything while focused on one host.
    fn counts_of(&self, service: &ServiceId, here: usize, running_here: usize) -> (usize, usize) {
        match self.swarm_service(service).filter(|_| self.focus.is_none()) {
            Some(s) => (
                (s.running_tasks as usize).max(running_here),
                s.replicas.unwrap_or(s.desired_tasks) as usize,
            ),
            None => (running_here, here),
        }
    }

    /// Running against wanted replicas over the whole fleet, as the header
    /// shows them (what the rows add up to).
    pub fn totals(&self) -> (usize, usize) {
        let mut totals = (0, 0);
        for services in self.index[GroupBy::Layer as usize].values() {
            for (service, ids) in services {
                let here = ids.iter().filter_map(|id| self.replicas.get(id));
                let running_here = here.clone().filter(|r| r.is_running()).count();
                let (running, wanted) = self.counts_of(service, ids.len(), running_here);
                totals.0 += running;
                totals.1 += wanted;
            }
        }
        totals
    }

    /// The rows of the Layers or Teams pane, in the topology's order
    /// (layers: then any other layer label, then "ungrouped"; teams: the
    /// declared ones, even empty, then any other team found).
    pub fn group_rows(&self, by: GroupBy) -> Vec<Row> {
        let index = &self.index[by as usize];
        let declared: Vec<&str> = match by {
            GroupBy::Layer => self.topology.layers.iter().map(String::as_str).collect(),
            GroupBy::Team => self.topology.teams.iter().map(String::as_str).collect(),
        };
        let mut names: Vec<&str> = declared.clone();
        names.extend(
            index
                .keys()
                .map(String::as_str)
                .filter(|g| !declared.contains(g) && *g != UNGROUPED),
        );
        if index.contains_key(UNGROUPED) {
            names.push(UNGROUPED);
        }
        let none = BTreeMap::new();
        names
            .into_iter()
            .map(|g| {
                let members = self.members(index.get(g).unwrap_or(&none));
                self.row(g.to_string(), None, &members)
            })
            .collect()
    }

    /// The services of one layer or team, by name.
    pub fn service_rows(&self, by: GroupBy, group: &str) -> Vec<Row> {
        let Some(services) = self.index[by as usize].get(group) else {
            return Vec::new();
        };
        let mut rows: Vec<Row> = self
            .members(services)
            .into_iter()
            .map(|(s, replicas)| {
                let one: Members = [(s, replicas)].into_iter().collect();
                self.row(s.name.clone(), Some(s.clone()), &one)
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    }

    /// Replicas of one service within a layer or team, by name.
    pub fn replicas_of(&self, by: GroupBy, group: &str, service: &ServiceId) -> Vec<&Replica> {
        self.index[by as usize]
            .get(group)
            .and_then(|services| services.get(service))
            .into_iter()
            .flatten()
            .filter_map(|id| self.replicas.get(id))
            .collect()
    }

    /// Summed CPU history of some replicas: `width` slots ending at `now`.
    pub fn cpu_history(&self, ids: &[String], width: usize, now: DateTime<Utc>) -> Vec<f64> {
        let mut out = vec![0.0; width];
        let last = History::slot_of(now);
        for id in ids {
            if let Some(l) = self.live.get(id) {
                l.history.add_into(&mut out, last);
            }
        }
        out
    }

    /// Every running replica has figures: the screen is complete.
    pub fn all_running_sampled(&self) -> bool {
        self.replicas.values().filter(|r| r.is_running()).all(|r| {
            self.live
                .get(&r.id)
                .is_some_and(|l| l.sample.counters.at.is_some())
        })
    }

    pub fn running(&self) -> usize {
        self.replicas.values().filter(|r| r.is_running()).count()
    }

    /// The figures of every running replica of `host`, summed (a Swarm
    /// node's live load, when the node's daemon is one of the hosts).
    pub fn host_figures(&self, host: HostId) -> Figures {
        let mut f = Figures::default();
        for r in self
            .replicas
            .values()
            .filter(|r| r.host == host && r.is_running())
        {
            if let Some(l) = self
                .live
                .get(&r.id)
                .filter(|l| l.sample.counters.at.is_some())
            {
                f.add(&l.sample);
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Layers view's row of `layer`.
    fn layer_row(f: &Fleet, layer: &str) -> Row {
        f.group_rows(GroupBy::Layer)
            .into_iter()
            .find(|r| r.name == layer)
            .unwrap()
    }
    use crate::model::test_replica;
    use crate::stats::Counters;
    use std::collections::BTreeMap;

    fn sample(cpu: f64, at: DateTime<Utc>) -> Sample {
        Sample {
            cpu_pct: cpu,
            mem_used: 100,
            mem_limit: 1000,
            counters: Counters {
                at: Some(at),
                ..Counters::default()
            },
            ..Sample::default()
        }
    }

    #[test]
    fn the_index_follows_joins_moves_and_leaves_in_name_order() {
        let mut f = Fleet::new(Topology::default_topology());
        let t = f.topology.clone();
        let layer = |l: &'static str| [("layer", l), ("com.docker.compose.service", "svc")];
        f.upsert(test_replica(&t, "b", "svc-2", &layer("data"), "running"));
        f.upsert(test_replica(&t, "a", "svc-1", &layer("data"), "running"));
        let svc = f.replicas["a"].placement.service.clone();
        let names = |f: &Fleet, l: &str| -> Vec<String> {
            f.replicas_of(GroupBy::Layer, l, &svc)
                .iter()
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(names(&f, "data"), ["svc-1", "svc-2"]);
        // A sample changes figures, not membership.
        assert!(f.record("a", sample(5.0, Utc::now()), Utc::now()));
        assert_eq!(names(&f, "data"), ["svc-1", "svc-2"]);
        // Relabelled into another layer: it moves.
        f.upsert(test_replica(&t, "a", "svc-1", &layer("control"), "running"));
        assert_eq!(names(&f, "data"), ["svc-2"]);
        assert_eq!(names(&f, "control"), ["svc-1"]);
        f.remove("b");
        assert!(names(&f, "data").is_empty());
        assert!(f.service_rows(GroupBy::Layer, "data").is_empty());
    }

    #[test]
    fn rows_sum_figures_mark_partial_and_count_wanted() {
        let mut f = Fleet::new(Topology::default_topology());
        let swarm = [(crate::topology::SWARM_SERVICE, "stack_redis-master")];
        for (id, run) in [("r1", true), ("r2", true), ("r3", false)] {
            let state = if run { "running" } else { "exited" };
            let r = test_replica(
                &f.topology,
                id,
                &format!("stack_redis-master.{id}"),
                &swarm,
                state,
            );
            f.upsert(r);
        }
        let now = Utc::now();
        f.record("r1", sample(10.0, now), now);
        // A sample for a stopped replica is refused.
        assert!(!f.record("r3", sample(99.0, now), now));
        // No service listing yet: wanted is what exists.
        let data = layer_row(&f, "data");
        assert_eq!((data.services, data.running, data.wanted), (1, 2, 3));
        assert_eq!(data.figures.sampled, 1, "r2 has no figures yet: partial");
        assert_eq!(data.figures.cpu_pct, 10.0);
        assert_eq!(data.cpu_limit, Some(2.0));
        // The service says 4 wanted, 3 running across the swarm.
        let placement = f.topology.place(
            "stack_redis-master",
            &[(
                crate::topology::SWARM_SERVICE.to_string(),
                "stack_redis-master".to_string(),
            )]
            .into(),
        );
        let mut services = vec![SwarmService {
            rules: Default::default(),
            lifecycle: Default::default(),
            id: "s1".into(),
            name: "stack_redis-master".into(),
            image: "i".into(),
            replicas: Some(4),
            running_tasks: 3,
            desired_tasks: 4,
            pending: None,
            tasks: Vec::new(),
            labels: BTreeMap::new(),
            placement: placement.clone(),
        }];
        // And a service with no task on this node at all shows as 0/1.
        services.push(SwarmService {
            rules: Default::default(),
            lifecycle: Default::default(),
            id: "s2".into(),
            name: "stack_postgres".into(),
            image: "i".into(),
            replicas: Some(1),
            running_tasks: 0,
            desired_tasks: 1,
            pending: None,
            tasks: Vec::new(),
            labels: BTreeMap::new(),
            placement: Placement {
                service: ServiceId {
                    kind: ServiceKind::Swarm,
                    name: "stack_postgres".into(),
                },
                ..placement
            },
        });
        assert!(f.set_swarm_services(services.clone()));
        assert!(!f.set_swarm_services(services), "no change");
        let data = layer_row(&f, "data");
        assert_eq!((data.services, data.running, data.wanted), (2, 3, 5));
        // Focused on one host, the rows count what runs there: no task of
        // stack_postgres, and the host's own replicas of redis-master.
        f.set_focus(Some(HostId(0)));
        let data = layer_row(&f, "data");
        assert_eq!((data.services, data.running, data.wanted), (1, 2, 3));
        f.set_focus(None);
        let services = f.service_rows(GroupBy::Layer, "data");
        assert_eq!(
            services
                .iter()
                .map(|s| (s.name.as_str(), s.running, s.wanted))
                .collect::<Vec<_>>(),
            [("stack_postgres", 0, 1), ("stack_redis-master", 3, 4)]
        );
    }

    #[test]
    fn cpu_history_sums_replicas_slot_by_slot() {
        let mut f = Fleet::new(Topology::default_topology());
        f.upsert(test_replica(
            &f.topology,
            "a",
            "agile-agent-qa-t-001",
            &[],
            "running",
        ));
        f.upsert(test_replica(
            &f.topology,
            "b",
            "agile-agent-qa-t-002",
            &[],
            "running",
        ));
        let now = Utc::now();
        let slot = chrono::Duration::seconds(crate::stats::SLOT_SECS);
        f.record("a", sample(1.0, now - slot), now - slot);
        f.record("a", sample(2.0, now), now);
        f.record("b", sample(5.0, now), now);
        let ids = vec!["a".to_string(), "b".to_string()];
        assert_eq!(f.cpu_history(&ids, 3, now), vec![0.0, 1.0, 7.0]);
        // Removing a replica drops its figures and history.
        assert!(f.remove("b"));
        assert_eq!(f.cpu_history(&ids, 3, now), vec![0.0, 1.0, 2.0]);
    }
}
