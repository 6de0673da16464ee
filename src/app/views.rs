//! The incident views beside the fleet: the Events timeline and the
//! Networks pane (zones and the containers that join them). Their state
//! lives in `App`; these are `App` methods so they read the fleet.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::app::{App, Frame, Level, Pane};
use crate::events::{self, Line, RawEvent, Timeline};
use crate::keymap::Action;
use crate::model::{DockerNetwork, HostId, Replica};

/// What the main area shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum View {
    #[default]
    Fleet,
    Events,
    Networks,
    Logs,
    Rollouts,
    /// The Swarm's nodes.
    Nodes,
    /// The findings against the reference's rules.
    Audit,
}

/// The tabs, in Tab order: the fleet's two panes, then the views.
pub const TABS: [(View, Option<Pane>, &str); 8] = [
    (View::Fleet, Some(Pane::Layers), "Layers"),
    (View::Fleet, Some(Pane::Teams), "Teams"),
    (View::Events, None, "Events"),
    (View::Networks, None, "Networks"),
    (View::Logs, None, "Logs"),
    (View::Rollouts, None, "Rollouts"),
    (View::Nodes, None, "Nodes"),
    (View::Audit, None, "Audit"),
];

/// State of the incident views.
#[derive(Debug, Default)]
pub struct Views {
    pub view: View,
    pub timeline: Timeline,
    pub events_selected: usize,
    pub events_filter: String,
    pub networks_selected: usize,
    /// `/` in Networks: a regex on the network's name or zone.
    pub networks_filter: String,
    /// The network whose containers are listed (Enter on a row).
    pub network_open: Option<String>,
    pub nodes_selected: usize,
    /// Zone breaches already acknowledged (container names).
    acked_breaches: HashSet<String>,
    /// The first listing's unhealthy replicas are on the timeline.
    seeded: std::collections::BTreeSet<HostId>,
}

/// A container joining two zones no flow allows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Breach {
    pub container: String,
    pub service: String,
    pub zones: (String, String),
}

/// A row of the Networks pane.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkRow {
    pub network: DockerNetwork,
    pub zone: Option<String>,
    pub containers: usize,
}

impl App {
    fn line_for(&self, host: HostId, replica: Option<&Replica>, raw: &RawEvent) -> Line {
        let (event, detail, severity) = events::classify(&raw.action, &raw.attrs);
        let name = raw.attrs.get("name").cloned().unwrap_or_default();
        // Known replicas are placed already; a gone one from its labels.
        let placement = replica
            .map(|r| r.placement.clone())
            .unwrap_or_else(|| self.fleet.topology.place(&name, &raw.attrs));
        // The failing probe's output follows with the inspect the event asks
        // for (`Timeline::probe_result`); until then the line says "health check".
        Line {
            time: raw.time,
            host: self.hosts.name(host).to_string(),
            layer: placement.layer.unwrap_or_default(),
            team: placement.team.unwrap_or_default(),
            service: if raw.kind == "container" {
                placement.service.name
            } else {
                name.clone()
            },
            container: if raw.kind == "container" {
                name
            } else {
                events::not_a_container(&raw.kind, &name)
            },
            id: (raw.kind == "container").then(|| raw.id.clone()),
            event,
            detail,
            severity,
        }
    }

    /// A Docker event onto the timeline.
    pub fn timeline_event(&mut self, host: HostId, raw: &RawEvent) {
        let replica = self.fleet.replicas.get(&raw.id);
        let line = self.line_for(host, replica, raw);
        self.views.timeline.push(line);
        if self.views.view == View::Events {
            self.dirty = true;
        }
        // Alerts show in the header from any view.
        self.dirty |= self.views.timeline.alert_total() > 0;
    }

    /// Events only tell changes: the replicas already unhealthy at start
    /// go on the timeline (and count) from the first full listing.
    pub fn seed_timeline(&mut self, host: HostId) {
        if !self.views.seeded.insert(host) {
            return;
        }
        let mut unhealthy: Vec<&Replica> = self
            .fleet
            .replicas
            .values()
            .filter(|r| {
                r.host == host && r.is_running() && r.health == crate::model::Health::Unhealthy
            })
            .collect();
        unhealthy.sort_by(|a, b| a.name.cmp(&b.name));
        let found: Vec<(Line, Replica)> = unhealthy
            .into_iter()
            .map(|r| {
                let raw = RawEvent {
                    kind: "container".into(),
                    id: r.id.clone(),
                    action: "health_status: unhealthy".into(),
                    time: self.now,
                    attrs: [("name".to_string(), r.name.clone())].into_iter().collect(),
                };
                (self.line_for(host, Some(r), &raw), r.clone())
            })
            .collect();
        for (l, r) in found {
            self.views.timeline.push(l);
            self.views.timeline.probe_result(&r.id, &r);
        }
    }

    /// Which layer's zone a network is, per the topology.
    pub fn zone_of(&self, network: &str) -> Option<&str> {
        self.fleet.topology.zone_of(network)
    }

    fn flow_allowed(&self, a: &str, b: &str) -> bool {
        self.fleet.topology.flow_allowed(a, b)
    }

    /// Every (replica, zone a, zone b) where the replica is attached to
    /// both zones, a < b.
    fn joined_zones(&self) -> Vec<(&Replica, String, String)> {
        let mut out = Vec::new();
        for r in self.fleet.replicas.values() {
            let zones: BTreeSet<&str> = r
                .networks
                .iter()
                .filter_map(|n| self.zone_of(&n.network))
                .collect();
            let zones: Vec<&str> = zones.into_iter().collect();
            for (i, a) in zones.iter().enumerate() {
                for b in &zones[i + 1..] {
                    out.push((r, a.to_string(), b.to_string()));
                }
            }
        }
        out
    }

    /// Containers attached to two zones no flow allows.
    pub fn breaches(&self) -> Vec<Breach> {
        let mut out: Vec<Breach> = self
            .joined_zones()
            .into_iter()
            .filter(|(_, a, b)| !self.flow_allowed(a, b))
            .map(|(r, a, b)| Breach {
                container: r.name.clone(),
                service: r.placement.service.name.clone(),
                zones: (a, b),
            })
            .collect();
        out.sort();
        out
    }

    /// Zone pairs and the containers attached to both: (a, b) → names.
    pub fn zone_matrix(&self) -> BTreeMap<(String, String), Vec<String>> {
        let mut m: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (r, a, b) in self.joined_zones() {
            m.entry((a, b)).or_default().push(r.name.clone());
        }
        for names in m.values_mut() {
            names.sort();
        }
        m
    }

    /// The alerts in the header: the timeline's plus zone breaches not
    /// yet acknowledged.
    pub fn alert_total(&self) -> u32 {
        let breaches = self
            .breaches()
            .iter()
            .filter(|b| !self.views.acked_breaches.contains(&b.container))
            .count() as u32;
        self.views.timeline.alert_total() + breaches
    }

    pub fn acknowledge_alerts(&mut self) {
        self.views.timeline.acknowledge();
        let names: Vec<String> = self.breaches().into_iter().map(|b| b.container).collect();
        self.views.acked_breaches.extend(names);
        self.flash = Some("alerts acknowledged".into());
    }

    pub fn network_rows(&self) -> Vec<NetworkRow> {
        let re = crate::filter::lenient(&self.views.networks_filter);
        self.fleet
            .networks
            .iter()
            .filter(|n| {
                re.is_match(&n.name) || self.zone_of(&n.name).is_some_and(|z| re.is_match(z))
            })
            .map(|n| NetworkRow {
                zone: self.zone_of(&n.name).map(str::to_string),
                containers: self
                    .fleet
                    .replicas
                    .values()
                    .filter(|r| r.networks.iter().any(|a| a.network == n.name))
                    .count(),
                network: n.clone(),
            })
            .collect()
    }

    /// Replicas on a network, by name.
    pub fn attached(&self, network: &str) -> Vec<&Replica> {
        let mut v: Vec<&Replica> = self
            .fleet
            .replicas
            .values()
            .filter(|r| r.networks.iter().any(|a| a.network == network))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The Swarm's services as listed now. A task that Swarm cannot run for
    /// a reason (`no suitable node …`, an image not found on the node)
    /// goes on the timeline when the reason is new for its service: no
    /// Docker event says it. Tasks merely starting carry no reason.
    pub fn set_swarm_services(&mut self, services: Vec<crate::model::SwarmService>) {
        for s in &services {
            let Some(why) = s.stuck() else {
                continue;
            };
            let before = self
                .fleet
                .swarm_services()
                .iter()
                .find(|o| o.id == s.id)
                .and_then(|o| o.stuck());
            if before != Some(why) {
                let waiting = s.tasks.iter().filter(|t| t.state != "running").count();
                self.views.timeline.push(Line {
                    time: self.now,
                    host: self
                        .hosts
                        .manager()
                        .map_or_else(String::new, |m| self.hosts.name(m).to_string()),
                    layer: s.placement.layer.clone().unwrap_or_default(),
                    team: s.placement.team.clone().unwrap_or_default(),
                    service: s.name.clone(),
                    container: events::not_a_container("service", &s.name),
                    id: None,
                    event: "pending".into(),
                    detail: format!("{waiting} not running: {why}"),
                    severity: events::Severity::Warning,
                });
            }
        }
        self.dirty |= self.fleet.set_swarm_services(services);
    }

    /// The events shown, after the filter, newest first.
    pub fn event_lines(&self) -> Vec<&Line> {
        self.shown_timeline()
            .filtered(&self.views.events_filter)
            .collect()
    }

    /// Keys in the Events, Networks and Nodes views; false if not theirs.
    pub fn on_view_key(&mut self, action: Action) -> bool {
        let (n, sel) = match self.views.view {
            View::Fleet | View::Logs | View::Rollouts => return false,
            View::Audit => return self.on_audit_key(action),
            View::Nodes => {
                let n = self.fleet.nodes.len();
                let sel = &mut self.views.nodes_selected;
                return match action.moved(*sel, n, super::nav::LIST_PAGE) {
                    Some(to) => {
                        *sel = to;
                        true
                    }
                    // Nothing to go back up to, and nothing to filter yet.
                    None => matches!(action, Action::Back | Action::Enter | Action::Filter),
                };
            }
            View::Events => (self.event_lines().len(), &mut self.views.events_selected),
            View::Networks => match &self.views.network_open {
                Some(net) => {
                    let net = net.clone();
                    (self.attached(&net).len(), &mut self.views.networks_selected)
                }
                None => (self.network_rows().len(), &mut self.views.networks_selected),
            },
        };
        if let Some(to) = action.moved(*sel, n, super::nav::LIST_PAGE) {
            *sel = to;
            return true;
        }
        match action {
            Action::Enter => self.view_enter(),
            Action::Back => {
                if self.views.network_open.take().is_none() {
                    self.views.events_filter.clear();
                    self.views.networks_filter.clear();
                }
                self.views.networks_selected = 0;
            }
            // `/` filters what this view lists (Esc clears it).
            Action::Filter => self.prompt.open(match self.views.view {
                View::Events => format!("events {}", self.views.events_filter),
                _ => format!("networks {}", self.views.networks_filter),
            }),
            _ => return false,
        }
        true
    }

    fn view_enter(&mut self) {
        match self.views.view {
            View::Nodes | View::Audit => {}
            View::Events => {
                let id = self
                    .event_lines()
                    .get(self.views.events_selected)
                    .and_then(|l| l.id.clone());
                match id {
                    Some(id) if self.fleet.replicas.contains_key(&id) => self.open_replica(&id),
                    Some(_) => self.flash = Some("that replica is gone".into()),
                    None => {}
                }
            }
            View::Networks if self.views.network_open.is_none() => {
                let name = self
                    .network_rows()
                    .get(self.views.networks_selected)
                    .map(|n| n.network.name.clone());
                self.views.network_open = name;
                self.views.networks_selected = 0;
            }
            View::Networks => {
                let net = self.views.network_open.clone().unwrap_or_default();
                let id = self
                    .attached(&net)
                    .get(self.views.networks_selected)
                    .map(|r| r.id.clone());
                if let Some(id) = id {
                    self.open_replica(&id);
                }
            }
            View::Fleet | View::Logs | View::Rollouts => {}
        }
    }

    /// Jump to a replica's page in the Layers pane.
    pub fn open_replica(&mut self, id: &str) {
        let Some(r) = self.fleet.replicas.get(id) else {
            return;
        };
        let group = r
            .placement
            .layer
            .clone()
            .unwrap_or_else(|| crate::fleet::UNGROUPED.to_string());
        let service = r.placement.service.clone();
        let stack = vec![
            Frame {
                level: Level::Groups,
                selected: 0,
            },
            Frame {
                level: Level::Services {
                    group: group.clone(),
                },
                selected: 0,
            },
            Frame {
                level: Level::Replicas {
                    group: group.clone(),
                    service: service.clone(),
                },
                selected: 0,
            },
            Frame {
                level: Level::Replica {
                    group,
                    service,
                    id: id.to_string(),
                },
                selected: 0,
            },
        ];
        self.views.view = View::Fleet;
        self.pane = Pane::Layers;
        self.set_stack(stack);
    }

    /// `:events [FILTER]`, `:networks`, `:rollouts`, `:nodes`, `:layers`, `:teams`.
    pub fn view_command(&mut self, word: &str, rest: &str) -> bool {
        match word {
            "events" => {
                self.views.view = View::Events;
                self.views.events_filter = rest.trim().to_string();
                self.views.events_selected = 0;
            }
            "networks" => {
                self.views.view = View::Networks;
                self.views.network_open = None;
                self.views.networks_filter = rest.trim().to_string();
                self.views.networks_selected = 0;
            }
            "rollouts" | "pairs" => self.views.view = View::Rollouts,
            "nodes" => self.views.view = View::Nodes,
            "audit" => self.audit_command(rest),
            "host" => self.focus_host(rest.trim()),
            "layers" | "teams" => {
                self.views.view = View::Fleet;
                self.pane = if word == "layers" {
                    Pane::Layers
                } else {
                    Pane::Teams
                };
            }
            _ => return false,
        }
        true
    }

    /// `:host NAME` shows that host's replicas only; `:host all` all.
    fn focus_host(&mut self, name: &str) {
        let focus = match name {
            "all" | "" => None,
            name => match self.hosts.by_name(name) {
                Some(h) => Some(h),
                None => {
                    self.flash = Some(format!(
                        "no host {name:?}; the hosts are {} (or all)",
                        self.hosts.names().join(", ")
                    ));
                    return;
                }
            },
        };
        if self.fleet.set_focus(focus) {
            // The rows are another set: start from the top.
            let stack = vec![Frame {
                level: crate::app::Level::Groups,
                selected: 0,
            }];
            self.set_stack(stack);
        }
        self.flash = Some(match focus {
            Some(h) => format!(
                "host {}: its replicas only (:host all for every host)",
                self.hosts.name(h)
            ),
            None => "every host".into(),
        });
        self.views.view = View::Fleet;
    }

    /// Tab and Shift-Tab: through `TABS`, round.
    pub fn next_tab(&mut self, forward: bool) {
        let now = TABS
            .iter()
            .position(|(v, p, _)| *v == self.views.view && (p.is_none() || *p == Some(self.pane)))
            .unwrap_or(0);
        let n = TABS.len();
        let (view, pane, _) = TABS[if forward {
            (now + 1) % n
        } else {
            (now + n - 1) % n
        }];
        self.views.view = view;
        if let Some(p) = pane {
            self.pane = p;
        }
    }

    pub fn tab_index(&self) -> usize {
        TABS.iter()
            .position(|(v, p, _)| *v == self.views.view && (p.is_none() || *p == Some(self.pane)))
            .unwrap_or(0)
    }
}
