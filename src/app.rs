//! The one owner of state. Every input — keys, Docker events, listings,
//! stats samples, timer ticks — arrives as a `Msg`; `App::update` changes the
//! state and returns the `Cmd`s to run. Drawing (`ui::draw`) reads the state
//! and changes nothing, so all of this is testable without a terminal or a
//! daemon.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

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
    Stats {
        id: String,
        sample: Sample,
        at: DateTime<Utc>,
    },
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
    /// The containers whose stats should stream, in priority order.
    WatchStats(Vec<String>),
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
    /// Most stats streams open at once.
    pub stats_cap: usize,
    watched: Vec<String>,
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
                if now.format("%H:%M").to_string() != self.now.format("%H:%M").to_string() {
                    self.dirty = true;
                }
                self.now = now;
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
                    self.dirty |= self.fleet.upsert(r);
                }
                if let Some(services) = listing.services {
                    self.dirty |= self.fleet.swarm_services != services;
                    self.fleet.swarm_services = services;
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
                if self.fleet.swarm_services != services {
                    self.fleet.swarm_services = services;
                    self.dirty = true;
                }
            }
            Msg::Stats { id, sample, at } => {
                // The hot path: a sample changes no row count and no stream
                // set, so skip the bookkeeping below.
                self.dirty |= self.fleet.record(&id, sample, at);
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

    /// Running replicas to stream stats for: what is on screen first, then
    /// the rest the aggregates need, up to the cap.
    fn stats_targets(&self) -> Vec<String> {
        let on_screen: Vec<String> = match &self.frame().level {
            Level::Replicas { .. } | Level::Replica { .. } => {
                self.replicas().iter().map(|r| r.id.clone()).collect()
            }
            _ => Vec::new(),
        };
        let mut running: Vec<&Replica> = self
            .fleet
            .replicas
            .values()
            .filter(|r| r.is_running())
            .collect();
        running.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<String> = Vec::new();
        for id in on_screen
            .iter()
            .filter(|id| {
                self.fleet
                    .replicas
                    .get(*id)
                    .is_some_and(Replica::is_running)
            })
            .chain(running.iter().map(|r| &r.id))
        {
            if out.len() >= self.stats_cap {
                break;
            }
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        out.sort();
        out
    }

    fn stats_targets_if_changed(&mut self) -> Option<Vec<String>> {
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
