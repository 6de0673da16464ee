//! The one owner of state. Every input — keys, Docker events, listings,
//! stats samples, timer ticks — arrives as a `Msg`; `App::update` changes the
//! state and returns the `Cmd`s to run. Drawing (`ui::draw`) reads the state
//! and changes nothing, so all of this is testable without a terminal or a
//! daemon.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::engine::{Cost, Target};
use crate::fleet::{Fleet, GroupBy, Row};
use crate::keymap::{Action, Context, Keymap};
use crate::model::{DaemonInfo, DockerNetwork, Health, Replica, ServiceId, SwarmService};
use crate::sources::Listing;
use crate::stats::Sample;
use crate::theme::Theme;

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Resize {
        width: u16,
        height: u16,
    },
    Tick(DateTime<Utc>),
    /// Time for the slow full resync that repairs anything events missed.
    ResyncDue,
    Daemon(DaemonInfo),
    Listing(Listing),
    Inspected {
        id: String,
        replica: Option<Box<Replica>>,
    },
    ContainerEvent {
        id: String,
        action: String,
    },
    SwarmEvent {
        action: String,
    },
    Services(Vec<SwarmService>),
    NetworkEvent {
        action: String,
        container: Option<String>,
    },
    Networks(Vec<DockerNetwork>),
    /// Figures of some containers, read at about the same time.
    Stats {
        at: DateTime<Utc>,
        samples: Vec<(String, Sample)>,
    },
    /// What the stats engine costs (sent while the engine line is shown).
    Engine(Cost),
    SourceError {
        source: &'static str,
        error: String,
    },
    /// The daemon answers again after an error.
    DaemonBack,
}

#[derive(Debug, PartialEq)]
pub enum Cmd {
    Quit,
    Inspect(String),
    /// List everything; `known` lets the lister skip unchanged containers.
    Resync {
        known: HashMap<String, (String, Health)>,
    },
    ListServices,
    ListNetworks,
    /// The containers to take figures of, in priority order.
    WatchStats(Vec<Target>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Layers,
    Teams,
}

impl Pane {
    pub const ALL: [Pane; 2] = [Pane::Layers, Pane::Teams];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Layers => "Layers",
            Pane::Teams => "Teams",
        }
    }

    pub fn group_by(self) -> GroupBy {
        match self {
            Pane::Layers => GroupBy::Layer,
            Pane::Teams => GroupBy::Team,
        }
    }
}

/// Where the user is in the drill-down of a pane.
#[derive(Clone, Debug, PartialEq)]
pub enum Level {
    Groups,
    Services {
        group: String,
    },
    Replicas {
        group: String,
        service: ServiceId,
    },
    Replica {
        group: String,
        service: ServiceId,
        id: String,
    },
}

/// One level and its selected row.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub level: Level,
    pub selected: usize,
}

/// Connection state shown in the header.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    Connecting,
    Up,
    Down { error: String },
}

pub struct App {
    pub fleet: Fleet,
    pub daemon: DaemonInfo,
    /// e.g. "local (unix:///var/run/docker.sock)".
    pub host_label: String,
    pub link: Link,
    pub pane: Pane,
    /// Drill-down stack per pane; never empty.
    stacks: [Vec<Frame>; 2],
    pub show_help: bool,
    pub show_log: bool,
    pub keymap: Keymap,
    pub theme: Theme,
    pub now: DateTime<Utc>,
    /// Offset of local time, for clocks on screen (UTC unless the runtime sets it).
    pub local_offset: chrono::FixedOffset,
    pub viewport: (u16, u16),
    /// Most containers to ask figures of (the engine's cap).
    pub stats_cap: usize,
    watched: Vec<Target>,
    /// Samples received so far, for the engine line's rate.
    pub samples_seen: u64,
    /// The engine line is shown, with its latest figures.
    pub show_engine: bool,
    pub engine: Cost,
    pub quitting: bool,
    /// Set when the screen must be redrawn.
    pub dirty: bool,
    /// The first full listing arrived.
    pub listed: bool,
}

impl App {
    pub fn new(fleet: Fleet, keymap: Keymap, theme: Theme, host_label: String) -> App {
        let root = || {
            vec![Frame {
                level: Level::Groups,
                selected: 0,
            }]
        };
        App {
            fleet,
            daemon: DaemonInfo::default(),
            host_label,
            link: Link::Connecting,
            pane: Pane::Layers,
            stacks: [root(), root()],
            show_help: false,
            show_log: false,
            keymap,
            theme,
            now: Utc::now(),
            local_offset: chrono::FixedOffset::east_opt(0).expect("zero offset"),
            viewport: (80, 24),
            stats_cap: 256,
            watched: Vec::new(),
            samples_seen: 0,
            show_engine: false,
            engine: Cost::default(),
            quitting: false,
            dirty: true,
            listed: false,
        }
    }

    fn pane_index(&self) -> usize {
        Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0)
    }

    pub fn frame(&self) -> &Frame {
        self.stacks[self.pane_index()]
            .last()
            .expect("stack is never empty")
    }

    fn frame_mut(&mut self) -> &mut Frame {
        let i = self.pane_index();
        self.stacks[i].last_mut().expect("stack is never empty")
    }

    pub fn stack(&self) -> &[Frame] {
        &self.stacks[self.pane_index()]
    }

    /// Rows of the current level (empty for a single replica's detail).
    pub fn rows(&self) -> Vec<Row> {
        let by = self.pane.group_by();
        match &self.frame().level {
            Level::Groups => self.fleet.group_rows(by),
            Level::Services { group } => self.fleet.service_rows(by, group),
            Level::Replicas { .. } | Level::Replica { .. } => Vec::new(),
        }
    }

    /// Replicas listed at the current level (replica levels only).
    pub fn replicas(&self) -> Vec<&Replica> {
        let by = self.pane.group_by();
        match &self.frame().level {
            Level::Replicas { group, service } => self.fleet.replicas_of(by, group, service),
            Level::Replica { id, .. } => self.fleet.replicas.get(id).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn row_count(&self) -> usize {
        match &self.frame().level {
            Level::Groups | Level::Services { .. } => self.rows().len(),
            Level::Replicas { .. } => self.replicas().len(),
            // The replica page scrolls by line.
            Level::Replica { .. } => self
                .replicas()
                .first()
                .map(|r| crate::ui::replica_lines(r, self).len())
                .unwrap_or(0),
        }
    }

    /// Rows a page holds: the table's height without header and borders.
    fn page(&self) -> usize {
        (self.viewport.1 as usize).saturating_sub(14).max(1)
    }

    /// The selected replica, at replica levels.
    pub fn selected_replica(&self) -> Option<&Replica> {
        let reps = self.replicas();
        reps.get(self.frame().selected.min(reps.len().saturating_sub(1)))
            .copied()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        match msg {
            Msg::Key(k) => {
                self.on_key(k, &mut cmds);
                self.dirty = true;
            }
            Msg::Resize { width, height } => {
                self.viewport = (width, height);
                self.dirty = true;
            }
            Msg::Tick(now) => {
                // Redraw when the clock's minute changes; ages follow with it.
                // Time changes no row and no stream: skip the bookkeeping below.
                if now.timestamp().div_euclid(60) != self.now.timestamp().div_euclid(60) {
                    self.dirty = true;
                }
                self.now = now;
                return cmds;
            }
            Msg::ResyncDue => {
                cmds.push(Cmd::Resync {
                    known: self.known(),
                });
                // Reopen any stats stream that ended on its own.
                cmds.push(Cmd::WatchStats(self.watched.clone()));
            }
            Msg::Daemon(info) => {
                if self.daemon != info {
                    self.daemon = info;
                    self.dirty = true;
                }
            }
            Msg::Listing(listing) => {
                let present: std::collections::HashSet<&String> = listing.present.iter().collect();
                let gone: Vec<String> = self
                    .fleet
                    .replicas
                    .keys()
                    .filter(|id| !present.contains(id))
                    .cloned()
                    .collect();
                for id in gone {
                    self.dirty |= self.fleet.remove(&id);
                }
                for r in listing.inspected {
                    if listing.provisional && self.fleet.replicas.contains_key(&r.id) {
                        continue; // what we know beats a sketch
                    }
                    self.dirty |= self.fleet.upsert(r);
                }
                if let Some(services) = listing.services {
                    self.dirty |= self.fleet.set_swarm_services(services);
                }
                self.dirty |= self.fleet.networks != listing.networks;
                self.fleet.networks = listing.networks;
                if !self.listed || self.link != Link::Up {
                    self.dirty = true;
                }
                self.listed = true;
                self.link = Link::Up;
            }
            Msg::Inspected { id, replica } => {
                self.dirty |= match replica {
                    Some(r) => self.fleet.upsert(*r),
                    None => self.fleet.remove(&id),
                };
            }
            Msg::ContainerEvent { id, action } => {
                if let Some(status) = action.strip_prefix("health_status: ") {
                    // Events report health changes; apply at once, no inspect needed.
                    if let Some(r) = self.fleet.replicas.get(&id) {
                        let mut r = r.clone();
                        r.health = Health::parse(status.trim());
                        self.dirty |= self.fleet.upsert(r);
                    } else {
                        cmds.push(Cmd::Inspect(id));
                    }
                } else if action == "destroy" {
                    self.dirty |= self.fleet.remove(&id);
                } else if !action.starts_with("exec_") {
                    // Health probes are exec_* events: noise at every interval.
                    cmds.push(Cmd::Inspect(id));
                }
            }
            Msg::SwarmEvent { .. } => cmds.push(Cmd::ListServices),
            Msg::NetworkEvent { action, container } => {
                if matches!(action.as_str(), "create" | "destroy" | "remove") {
                    cmds.push(Cmd::ListNetworks);
                }
                if let Some(id) = container.filter(|id| self.fleet.replicas.contains_key(id)) {
                    cmds.push(Cmd::Inspect(id));
                }
            }
            Msg::Networks(networks) => {
                if self.fleet.networks != networks {
                    self.fleet.networks = networks;
                    self.dirty = true;
                }
            }
            Msg::Services(services) => {
                self.dirty |= self.fleet.set_swarm_services(services);
            }
            Msg::Stats { at, samples } => {
                // The hot path: a sample changes no row count and no stream
                // set, so skip the bookkeeping below.
                self.samples_seen += samples.len() as u64;
                for (id, sample) in samples {
                    self.dirty |= self.fleet.record(&id, sample, at);
                }
                return cmds;
            }
            Msg::Engine(cost) => {
                self.dirty |= self.show_engine && self.engine != cost;
                self.engine = cost;
                return cmds;
            }
            Msg::SourceError { source, error } => {
                log::warn!("{source}: {error}");
                // One failed inspect is that container's problem; a failed
                // listing or events stream is the daemon's.
                if source != "inspect" {
                    self.link = Link::Down {
                        error: format!("{source}: {error}"),
                    };
                    self.dirty = true;
                }
            }
            Msg::DaemonBack => {
                log::info!("the Docker daemon answers again; resyncing");
                self.link = Link::Up;
                self.dirty = true;
                cmds.push(Cmd::Resync {
                    known: HashMap::new(),
                });
                // Streams died with the connection: reopen them all.
                cmds.push(Cmd::WatchStats(self.watched.clone()));
            }
        }
        self.clamp_selection();
        if let Some(w) = self.stats_targets_if_changed() {
            cmds.push(Cmd::WatchStats(w));
        }
        cmds
    }

    /// What the lister may skip: the state and health we already have.
    pub fn known(&self) -> HashMap<String, (String, Health)> {
        self.fleet
            .replicas
            .values()
            // `docker ps` shows no health for a stopped container, while
            // inspect keeps the last one: compare like with like.
            .map(|r| {
                let health = if r.is_running() {
                    r.health
                } else {
                    Health::NoCheck
                };
                (r.id.clone(), (r.state.clone(), health))
            })
            .collect()
    }

    /// Running replicas to take figures of: what is on screen first, then
    /// the rest the aggregates need, up to the cap; sorted by id.
    fn stats_targets(&self) -> Vec<Target> {
        let target = |r: &Replica| Target {
            id: r.id.clone(),
            pid: r.pid,
        };
        let running = self.fleet.replicas.values().filter(|r| r.is_running());
        if self.stats_cap >= self.fleet.replicas.len() {
            let mut out: Vec<Target> = running.map(target).collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            return out;
        }
        let mut by_name: Vec<&Replica> = running.collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let on_screen: Vec<&Replica> = match &self.frame().level {
            Level::Replicas { .. } | Level::Replica { .. } => self.replicas(),
            _ => Vec::new(),
        };
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Target> = on_screen
            .into_iter()
            .filter(|r| r.is_running())
            .chain(by_name)
            .filter(|r| seen.insert(r.id.as_str()))
            .take(self.stats_cap)
            .map(target)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn stats_targets_if_changed(&mut self) -> Option<Vec<Target>> {
        let t = self.stats_targets();
        (t != self.watched).then(|| {
            self.watched = t.clone();
            t
        })
    }

    fn clamp_selection(&mut self) {
        let n = self.row_count();
        let f = self.frame_mut();
        if f.selected >= n {
            f.selected = n.saturating_sub(1);
        }
    }

    fn on_key(&mut self, key: KeyEvent, cmds: &mut Vec<Cmd>) {
        let Some(action) = self.keymap.action(Context::Table, &key) else {
            return;
        };
        if self.show_help {
            // The help overlay closes on its own key, Back or Quit's keys.
            match action {
                Action::Help | Action::Back => self.show_help = false,
                Action::Quit
                    if key.code == crossterm::event::KeyCode::Char('c')
                        && key
                            .modifiers
                            .contains(crossterm::event::KeyModifiers::CONTROL) =>
                {
                    self.quit(cmds)
                }
                Action::Quit => self.show_help = false,
                _ => {}
            }
            return;
        }
        let n = self.row_count();
        let page = self.page();
        match action {
            Action::Quit => self.quit(cmds),
            Action::Help => self.show_help = true,
            Action::ToggleLog => self.show_log = !self.show_log,
            Action::ToggleEngine => self.show_engine = !self.show_engine,
            Action::NextPane | Action::PrevPane => {
                let i = self.pane_index();
                let step = if action == Action::NextPane {
                    1
                } else {
                    Pane::ALL.len() - 1
                };
                self.pane = Pane::ALL[(i + step) % Pane::ALL.len()];
            }
            Action::Up => self.frame_mut().selected = self.frame().selected.saturating_sub(1),
            Action::Down => {
                self.frame_mut().selected = (self.frame().selected + 1).min(n.saturating_sub(1))
            }
            Action::PageUp => {
                self.frame_mut().selected = self.frame().selected.saturating_sub(page)
            }
            Action::PageDown => {
                self.frame_mut().selected = (self.frame().selected + page).min(n.saturating_sub(1))
            }
            Action::Top => self.frame_mut().selected = 0,
            Action::Bottom => self.frame_mut().selected = n.saturating_sub(1),
            Action::Enter => self.drill_down(),
            Action::Back => {
                let i = self.pane_index();
                if self.stacks[i].len() > 1 {
                    self.stacks[i].pop();
                }
            }
        }
    }

    fn quit(&mut self, cmds: &mut Vec<Cmd>) {
        self.quitting = true;
        cmds.push(Cmd::Quit);
    }

    fn drill_down(&mut self) {
        let selected = self.frame().selected;
        let next = match self.frame().level.clone() {
            Level::Groups => self.rows().get(selected).map(|r| Level::Services {
                group: r.name.clone(),
            }),
            Level::Services { group } => self
                .rows()
                .get(selected)
                .and_then(|r| r.service.clone())
                .map(|service| Level::Replicas { group, service }),
            Level::Replicas { group, service } => self.selected_replica().map(|r| Level::Replica {
                group,
                service,
                id: r.id.clone(),
            }),
            Level::Replica { .. } => None,
        };
        if let Some(level) = next {
            let i = self.pane_index();
            self.stacks[i].push(Frame { level, selected: 0 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_replica;
    use crate::topology::Topology;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn app() -> App {
        let t = Topology::default_topology();
        let compose = |svc: &'static str| {
            vec![
                ("com.docker.compose.project", "p"),
                ("com.docker.compose.service", svc),
            ]
        };
        let replicas = vec![
            test_replica(&t, "a1", "agile-agent-product-pm-001", &[], "running"),
            test_replica(&t, "a2", "agile-agent-product-pm-002", &[], "running"),
            test_replica(
                &t,
                "c1",
                "p-coordinator-1",
                &compose("coordinator"),
                "running",
            ),
            test_replica(&t, "d1", "p-postgres-1", &compose("postgres"), "exited"),
        ];
        let mut app = App::new(
            Fleet::new(t),
            Keymap::default_keymap(),
            Theme::default_theme(),
            "test".into(),
        );
        app.update(Msg::Listing(Listing {
            present: replicas.iter().map(|r| r.id.clone()).collect(),
            inspected: replicas,
            provisional: false,
            services: None,
            networks: Vec::new(),
        }));
        app
    }

    #[test]
    fn a_sketch_from_docker_ps_never_replaces_an_inspected_replica() {
        let mut a = app();
        let mut sketch = a.fleet.replicas["a1"].clone();
        sketch.restart_count = -1;
        let mut new = sketch.clone();
        new.id = "n1".into();
        let present: Vec<String> = a
            .fleet
            .replicas
            .keys()
            .cloned()
            .chain(["n1".into()])
            .collect();
        let cmds = a.update(Msg::Listing(Listing {
            present,
            inspected: vec![sketch, new],
            provisional: true,
            services: None,
            networks: Vec::new(),
        }));
        assert_ne!(a.fleet.replicas["a1"].restart_count, -1);
        assert!(a.fleet.replicas.contains_key("n1"), "new ones show at once");
        // Its figures are asked for straight away, before any inspect.
        assert!(matches!(&cmds[..], [Cmd::WatchStats(t)] if t.iter().any(|t| t.id == "n1")));
    }

    fn targets(ids: &[&str]) -> Vec<Target> {
        ids.iter()
            .map(|id| Target {
                id: id.to_string(),
                pid: None,
            })
            .collect()
    }

    fn key(app: &mut App, code: KeyCode) -> Vec<Cmd> {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    #[test]
    fn listing_asks_for_stats_of_running_replicas_only() {
        let mut a = app();
        // The stream set was sent with the listing; a new listing with the
        // same set sends nothing.
        let cmds = a.update(Msg::ResyncDue);
        assert!(matches!(&cmds[0], Cmd::Resync { known } if known.len() == 4));
        assert_eq!(cmds[1], Cmd::WatchStats(targets(&["a1", "a2", "c1"])));
        assert_eq!(cmds.len(), 2);
    }

    #[test]
    fn stats_cap_prefers_what_is_on_screen() {
        let mut a = app();
        a.stats_cap = 1;
        // Drill into coordination → coordinator: its replica comes first.
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Enter);
        let cmds = key(&mut a, KeyCode::Enter);
        assert_eq!(cmds, vec![Cmd::WatchStats(targets(&["c1"]))]);
    }

    #[test]
    fn drill_down_and_back() {
        let mut a = app();
        for _ in 0..3 {
            key(&mut a, KeyCode::Char('j'));
        }
        key(&mut a, KeyCode::Enter);
        assert_eq!(
            a.frame().level,
            Level::Services {
                group: "execution".into()
            }
        );
        key(&mut a, KeyCode::Enter);
        assert!(
            matches!(&a.frame().level, Level::Replicas { service, .. } if service.name == "agent-product")
        );
        assert_eq!(a.replicas().len(), 2);
        key(&mut a, KeyCode::End);
        assert_eq!(a.selected_replica().unwrap().id, "a2");
        key(&mut a, KeyCode::Enter);
        assert!(matches!(&a.frame().level, Level::Replica { id, .. } if id == "a2"));
        for _ in 0..3 {
            key(&mut a, KeyCode::Esc);
        }
        assert_eq!(a.frame().level, Level::Groups);
        assert_eq!(a.frame().selected, 3, "selection kept on the way back");
        // Teams has its own stack.
        key(&mut a, KeyCode::Tab);
        assert_eq!((a.pane, a.frame().selected), (Pane::Teams, 0));
        assert_eq!(
            a.rows().iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["product", "development", "qa"]
        );
    }

    #[test]
    fn selection_is_clamped_when_rows_vanish() {
        let mut a = app();
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Char('j'));
        key(&mut a, KeyCode::Enter);
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.replicas().len(), 1);
        a.update(Msg::ContainerEvent {
            id: "c1".into(),
            action: "destroy".into(),
        });
        assert!(a.replicas().is_empty());
        assert_eq!(a.frame().selected, 0);
        assert!(a.selected_replica().is_none());
    }

    #[test]
    fn events_become_inspects_health_updates_or_removals() {
        let mut a = app();
        a.dirty = false;
        assert_eq!(
            a.update(Msg::ContainerEvent {
                id: "a1".into(),
                action: "die".into()
            }),
            vec![Cmd::Inspect("a1".into())]
        );
        // Health probes run as exec_* events: ignored.
        assert!(
            a.update(Msg::ContainerEvent {
                id: "a1".into(),
                action: "exec_start: /agile-sim probe".into()
            })
            .is_empty()
        );
        assert!(!a.dirty);
        // Health changes apply without an inspect.
        let cmds = a.update(Msg::ContainerEvent {
            id: "a1".into(),
            action: "health_status: unhealthy".into(),
        });
        assert!(cmds.is_empty());
        assert!(a.dirty);
        assert_eq!(a.fleet.replicas["a1"].health, Health::Unhealthy);
        let exec = a
            .fleet
            .group_rows(GroupBy::Layer)
            .into_iter()
            .find(|r| r.name == "execution")
            .unwrap();
        assert_eq!(exec.health.unhealthy, 1);
        // An unknown container's health event is inspected.
        assert_eq!(
            a.update(Msg::ContainerEvent {
                id: "zz".into(),
                action: "health_status: healthy".into()
            }),
            vec![Cmd::Inspect("zz".into())]
        );
        // A stopped replica leaves the stream set.
        let mut stopped = a.fleet.replicas["a1"].clone();
        stopped.state = "exited".into();
        let cmds = a.update(Msg::Inspected {
            id: "a1".into(),
            replica: Some(Box::new(stopped)),
        });
        assert_eq!(cmds, vec![Cmd::WatchStats(targets(&["a2", "c1"]))]);
    }

    #[test]
    fn losing_and_regaining_the_daemon() {
        let mut a = app();
        a.update(Msg::SourceError {
            source: "events",
            error: "connection refused".into(),
        });
        assert!(matches!(a.link, Link::Down { .. }));
        assert_eq!(a.fleet.replicas.len(), 4, "the last state is kept");
        // A failed inspect is not the daemon's failure.
        let mut b = app();
        b.update(Msg::SourceError {
            source: "inspect",
            error: "500".into(),
        });
        assert_eq!(b.link, Link::Up);
        let cmds = a.update(Msg::DaemonBack);
        assert_eq!(a.link, Link::Up);
        assert!(matches!(&cmds[0], Cmd::Resync { known } if known.is_empty()));
        assert!(matches!(&cmds[1], Cmd::WatchStats(ids) if ids.len() == 3));
    }

    #[test]
    fn help_and_quit_keys() {
        let mut a = app();
        key(&mut a, KeyCode::Char('?'));
        assert!(a.show_help);
        // q closes the help first; Esc too.
        assert!(key(&mut a, KeyCode::Char('q')).is_empty());
        assert!(!a.show_help);
        assert_eq!(key(&mut a, KeyCode::Char('q')), vec![Cmd::Quit]);
        let mut b = app();
        key(&mut b, KeyCode::Char('?'));
        let ctrl_c = b.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )));
        assert_eq!(ctrl_c, vec![Cmd::Quit]);
    }

    #[test]
    fn a_sample_for_a_stopped_or_unknown_container_is_ignored() {
        let mut a = app();
        a.dirty = false;
        let s = Sample {
            cpu_pct: 5.0,
            counters: crate::stats::Counters {
                at: Some(a.now),
                ..Default::default()
            },
            ..Default::default()
        };
        let one = |id: &str| Msg::Stats {
            at: a.now,
            samples: vec![(id.to_string(), s)],
        };
        let (d1, nope, a1) = (one("d1"), one("nope"), one("a1"));
        assert!(a.update(d1).is_empty());
        a.update(nope);
        assert!(!a.dirty);
        assert_eq!(a.samples_seen, 2);
        a.update(a1);
        assert!(a.dirty);
    }
}
