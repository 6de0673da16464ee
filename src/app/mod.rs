//! The one owner of state. Every input — keys, Docker events, listings,
//! stats samples, timer ticks — arrives as a `Msg`; `App::update` changes the
//! state and returns the `Cmd`s to run. Drawing (`ui::draw`) reads the state
//! and changes nothing, so all of this is testable without a terminal or a
//! daemon.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::engine::{Cost, Target};
use crate::filter::{Filter, SortBy};
use crate::fleet::{Fleet, GroupBy, Row};
use crate::keymap::{Action, Context, Keymap, Lookup};
use crate::metrics::{CellKey, Request, Scope, Store, Vars};
use crate::model::{DaemonInfo, DockerNetwork, Health, Replica, ServiceId, SwarmService};
use crate::ops::desk::Ops;
use crate::ops::exec::Progress;
use crate::ops::{Kind, Plan};
use crate::prometheus::{Data, PromError, Query};
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
    /// The cgroup reader found no cgroup for these containers.
    NoCgroup(Vec<Target>),
    SourceError {
        source: &'static str,
        error: String,
    },
    /// The daemon answers again after an error.
    DaemonBack,
    /// Time to ask Prometheus about what is on screen again.
    PromDue,
    /// Answers to `Cmd::Prom`.
    PromResults(Vec<(Request, Result<Data, PromError>)>),
    /// The answer to an ad-hoc query.
    PromAdhoc {
        query: Query,
        result: Result<Data, PromError>,
    },
    /// How operation `op` goes.
    Op {
        op: u64,
        progress: Progress,
    },
    /// A line the journal just took.
    Journaled(Box<crate::journal::Entry>),
    /// How a rollout goes (its driver's latest view).
    Rollout(Box<crate::rollout::View>),
    /// A Docker event for the timeline.
    Timeline(Box<crate::events::RawEvent>),
    /// Lines for logs pane `pane`.
    LogLines {
        pane: u64,
        lines: Vec<crate::logs::LogLine>,
    },
    /// A followed replica's stream ended.
    LogEnded {
        pane: u64,
        source: usize,
        why: String,
    },
    /// A command run in a replica (`:exec`) ended: how.
    ExecDone(String),
    /// A click (column, row) or the wheel (`up`).
    Click {
        column: u16,
        row: u16,
    },
    Wheel {
        up: bool,
    },
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
    /// Stream these from the Docker API: their cgroup files are not found.
    StreamInstead(Vec<Target>),
    /// Questions for Prometheus (cells and charts on screen).
    Prom(Vec<Request>),
    PromAdhoc(Query),
    /// Run a confirmed plan as operation `op`.
    RunOp {
        op: u64,
        plan: Plan,
    },
    /// Stop operation `op` between steps.
    CancelOp(u64),
    /// Hand a confirmed rollout to its driver.
    StartRollout {
        request: Box<crate::rollout::Request>,
        view: Box<crate::rollout::View>,
    },
    /// Tell rollout `id` to pause, resume, roll back or abort.
    RolloutControl {
        id: u64,
        control: crate::rollout::Control,
    },
    /// Open log streams for logs pane `pane`.
    FollowLogs {
        pane: u64,
        follows: Vec<crate::logview::Follow>,
    },
    /// Cancel every stream of logs pane `pane`.
    StopLogs(u64),
    /// Run a command in a replica with this terminal (the dashboard steps aside).
    Exec {
        id: String,
        name: String,
        command: Vec<String>,
    },
    /// Write a result line for an interrupted operation the user dismissed
    /// (run, op, what to say).
    CloseInterrupted {
        run: String,
        op: u64,
        operation: String,
        target: String,
        detail: String,
    },
}

/// Prometheus in the dashboard; None without `--prometheus`, and then no
/// column shows and nothing is asked.
#[derive(Debug, Default)]
pub struct Prom {
    pub url: String,
    pub store: Store,
}

/// An ad-hoc query (`:promql EXPR`) and its answer.
#[derive(Debug, PartialEq)]
pub struct Adhoc {
    pub query: Query,
    /// None while it runs.
    pub result: Option<Result<Data, PromError>>,
    pub scroll: usize,
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
    /// First line of the help overlay shown.
    pub help_scroll: usize,
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
    /// When the first figures arrived: the history covers no earlier.
    pub watching_since: Option<DateTime<Utc>>,
    /// The engine line is shown, with its latest figures.
    pub show_engine: bool,
    pub engine: Cost,
    pub prom: Option<Prom>,
    pub adhoc: Option<Adhoc>,
    /// The command line, while open (`:`): what was typed so far.
    pub prompt: Option<String>,
    /// A one-line message in the footer until the next key.
    pub flash: Option<String>,
    /// The table filter (`/`), and the order (`o`, `O`).
    pub filter: Option<Filter>,
    pub sort: (SortBy, bool),
    /// Lines run on the command line, oldest first, and where ↑↓ are.
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
    /// Keys of a sequence under way (`g` of `g g`).
    pending_keys: Vec<crate::keymap::Key>,
    /// Operations: the dialog, running and finished ones, undo, journal.
    pub ops: Ops,
    /// The Events and Networks views.
    pub views: crate::views::Views,
    /// The logs pane (its number, so late lines of a closed one are dropped).
    pub logs: Option<(u64, crate::logs::Logs)>,
    pub log_panes: u64,
    /// Most lines the logs pane keeps.
    pub log_cap: usize,
    pub quitting: bool,
    /// Quit was asked while something was changing the deployment: the
    /// next quit goes through.
    quit_armed: bool,
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
            help_scroll: 0,
            show_log: false,
            keymap,
            theme,
            now: Utc::now(),
            local_offset: chrono::FixedOffset::east_opt(0).expect("zero offset"),
            viewport: (80, 24),
            stats_cap: 256,
            watched: Vec::new(),
            samples_seen: 0,
            watching_since: None,
            show_engine: false,
            engine: Cost::default(),
            prom: None,
            adhoc: None,
            prompt: None,
            flash: None,
            history: Vec::new(),
            filter: None,
            sort: (SortBy::Name, false),
            history_pos: None,
            pending_keys: Vec::new(),
            ops: Ops::default(),
            views: Default::default(),
            logs: None,
            log_panes: 0,
            log_cap: crate::logs::DEFAULT_CAP,
            quitting: false,
            quit_armed: false,
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

    /// Replace the current pane's drill-down (jumps from other views).
    pub fn set_stack(&mut self, stack: Vec<Frame>) {
        if !stack.is_empty() {
            let i = self.pane_index();
            self.stacks[i] = stack;
            self.clamp_selection();
        }
    }

    /// Rows of the current level (empty for a single replica's detail).
    pub fn rows(&self) -> Vec<Row> {
        let by = self.pane.group_by();
        let mut rows = match &self.frame().level {
            Level::Groups => self.fleet.group_rows(by),
            Level::Services { group } => self.fleet.service_rows(by, group),
            Level::Replicas { .. } | Level::Replica { .. } => Vec::new(),
        };
        if let Some(f) = &self.filter {
            rows.retain(|r| {
                f.row(
                    &r.name,
                    r.replicas
                        .iter()
                        .filter_map(|id| self.fleet.replicas.get(id)),
                )
            });
        }
        let (by, desc) = self.sort;
        let key = |r: &Row| match by {
            SortBy::Name => 0.0,
            SortBy::Services => r.services as f64,
            SortBy::Running => r.running as f64,
            SortBy::Health => (r.health.unhealthy * 1000 + r.health.starting) as f64,
            SortBy::Cpu => r.figures.cpu_pct,
            SortBy::Memory => r.figures.mem_used as f64,
            SortBy::Net => r.figures.net_rx_rate + r.figures.net_tx_rate,
            SortBy::Block => r.figures.blk_read_rate + r.figures.blk_write_rate,
            SortBy::Pids => r.figures.pids as f64,
        };
        if by != SortBy::Name {
            rows.sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
        if desc {
            rows.reverse();
        }
        rows
    }

    /// Replicas listed at the current level (replica levels only).
    pub fn replicas(&self) -> Vec<&Replica> {
        let by = self.pane.group_by();
        let mut reps = match &self.frame().level {
            Level::Replicas { group, service } => self.fleet.replicas_of(by, group, service),
            Level::Replica { id, .. } => return self.fleet.replicas.get(id).into_iter().collect(),
            _ => Vec::new(),
        };
        if let Some(f) = &self.filter {
            reps.retain(|r| f.replica(r));
        }
        let (by, desc) = self.sort;
        let live = |r: &Replica| self.fleet.live.get(&r.id).map(|l| l.sample);
        let key = |r: &Replica| {
            let s = live(r);
            let fig = |f: fn(&crate::stats::Sample) -> f64| s.as_ref().map(f).unwrap_or(0.0);
            match by {
                SortBy::Name | SortBy::Services => 0.0,
                SortBy::Running => f64::from(u8::from(r.is_running())),
                SortBy::Health => match r.health {
                    crate::model::Health::Unhealthy => 2.0,
                    crate::model::Health::Starting => 1.0,
                    _ => 0.0,
                },
                SortBy::Cpu => fig(|s| s.cpu_pct),
                SortBy::Memory => fig(|s| s.mem_used as f64),
                SortBy::Net => fig(|s| s.net_rx_rate + s.net_tx_rate),
                SortBy::Block => fig(|s| s.blk_read_rate + s.blk_write_rate),
                SortBy::Pids => fig(|s| s.pids as f64),
            }
        };
        if !matches!(by, SortBy::Name | SortBy::Services) {
            reps.sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
        if desc {
            reps.reverse();
        }
        reps
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
                self.ask_prometheus_about_new_rows(&mut cmds);
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
                // What we know beats a sketch.
                let fresh: Vec<Replica> = listing
                    .inspected
                    .into_iter()
                    .filter(|r| !listing.provisional || !self.fleet.replicas.contains_key(&r.id))
                    .collect();
                self.dirty |= self.fleet.apply(&gone, fresh);
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
                if !listing.provisional {
                    self.seed_timeline();
                }
                self.ask_prometheus_about_new_rows(&mut cmds);
            }
            Msg::Inspected { id, replica } => {
                let running = replica.as_ref().is_some_and(|r| r.is_running());
                if let Some(r) = &replica {
                    self.views.timeline.probe_result(&id, r);
                }
                self.dirty |= match replica {
                    Some(r) => self.fleet.upsert(*r),
                    None => self.fleet.remove(&id),
                };
                if running {
                    self.logs_pickup(&mut cmds);
                }
            }
            Msg::ContainerEvent { id, action } => {
                if let Some(status) = action.strip_prefix("health_status: ") {
                    // Events report health changes; apply at once, no inspect needed.
                    if let Some(r) = self.fleet.replicas.get(&id) {
                        let mut r = r.clone();
                        r.health = Health::parse(status.trim());
                        self.dirty |= self.fleet.upsert(r);
                        // The failing probe's output is only in inspect.
                        if status.trim() == "unhealthy" {
                            cmds.push(Cmd::Inspect(id));
                        }
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
                self.watching_since.get_or_insert(at);
                for (id, sample) in samples {
                    self.dirty |= self.fleet.record(&id, sample, at);
                }
                return cmds;
            }
            Msg::NoCgroup(targets) => return vec![Cmd::StreamInstead(targets)],
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
            Msg::PromDue => {
                let asks = self.prom_requests();
                if !asks.is_empty() {
                    cmds.push(Cmd::Prom(asks));
                }
                // An open ad-hoc table follows too.
                if let Some(a) = self.adhoc.as_ref().filter(|a| a.result.is_some()) {
                    cmds.push(Cmd::PromAdhoc(a.query.clone()));
                }
                return cmds;
            }
            Msg::PromResults(results) => {
                if let Some(prom) = &mut self.prom {
                    let (changed, log) = prom.store.apply(&self.fleet.topology.metrics, results);
                    for line in log {
                        log::warn!("prometheus: {line}");
                    }
                    self.dirty |= changed;
                }
                return cmds;
            }
            Msg::Op { op, progress } => {
                self.op_progress(op, progress, &mut cmds);
                return cmds;
            }
            Msg::LogLines { pane, lines } => {
                if let Some((p, l)) = self.logs.as_mut()
                    && *p == pane
                {
                    for line in lines {
                        l.push(line);
                    }
                    self.dirty |= self.views.view == crate::views::View::Logs;
                }
                return cmds;
            }
            Msg::LogEnded { pane, source, why } => {
                if let Some((p, l)) = self.logs.as_mut()
                    && *p == pane
                {
                    let name = l
                        .sources
                        .get(source)
                        .map(|s| s.short.clone())
                        .unwrap_or_default();
                    l.ended(source, self.now, &format!("{name}: {why}"));
                    self.dirty = true;
                }
                return cmds;
            }
            Msg::Click { column, row } => {
                self.click(column, row, &mut cmds);
                self.dirty = true;
            }
            Msg::Wheel { up } => {
                let code = if up {
                    crossterm::event::KeyCode::Up
                } else {
                    crossterm::event::KeyCode::Down
                };
                let key = KeyEvent::new(code, crossterm::event::KeyModifiers::NONE);
                self.on_key(key, &mut cmds);
                self.dirty = true;
            }
            Msg::ExecDone(line) => {
                log::info!("{line}");
                self.flash = Some(line);
                self.dirty = true;
                return cmds;
            }
            Msg::Timeline(raw) => {
                self.timeline_event(&raw);
                return cmds;
            }
            Msg::Rollout(view) => {
                self.rollout_report(*view, &mut cmds);
                return cmds;
            }
            Msg::Journaled(entry) => {
                self.ops.journaled(*entry);
                self.dirty |= self.ops.show_journal;
                return cmds;
            }
            Msg::PromAdhoc { query, result } => {
                if let Some(a) = self.adhoc.as_mut().filter(|a| a.query == query) {
                    if let Err(e) = &result {
                        log::warn!("prometheus: {}: {e}", query.expr());
                    }
                    a.result = Some(result);
                    self.dirty = true;
                }
                return cmds;
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

    /// Ask at once about cells and charts on screen that have no answer
    /// yet (after a move, a drill-down, the first listing), rather than at
    /// the next interval.
    fn ask_prometheus_about_new_rows(&self, cmds: &mut Vec<Cmd>) {
        let Some(prom) = &self.prom else { return };
        let missing: Vec<Request> = self
            .prom_requests()
            .into_iter()
            .filter(|r| {
                if r.chart {
                    !prom.store.charts.contains_key(&r.key)
                } else {
                    !prom.store.cells.contains_key(&r.key)
                }
            })
            .collect();
        if !missing.is_empty() {
            cmds.push(Cmd::Prom(missing));
        }
    }

    /// What to ask Prometheus: every metric cell of the rows that can be on
    /// screen, and the charts of the selected row.
    pub fn prom_requests(&self) -> Vec<Request> {
        let metrics = &self.fleet.topology.metrics;
        if self.prom.is_none() || metrics.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (scope, row, vars, selected) in self.prom_rows() {
            // "ungrouped" is no layer or team a target could be labelled with.
            if matches!(scope, Scope::Layer | Scope::Team) && row == crate::fleet::UNGROUPED {
                continue;
            }
            for (i, m) in metrics.iter().enumerate() {
                if !m.applies_to(scope, &row) {
                    continue;
                }
                let Some(expr) = m.expand(&vars) else {
                    continue;
                };
                let key = CellKey {
                    scope,
                    row: row.clone(),
                    metric: i,
                };
                if selected {
                    out.push(Request::chart(key.clone(), expr.clone()));
                }
                out.push(Request::cell(key, expr));
            }
        }
        out
    }

    /// The scope of the rows at the current level.
    pub fn prom_scope(&self) -> Scope {
        match (&self.frame().level, self.pane) {
            (Level::Groups, Pane::Layers) => Scope::Layer,
            (Level::Groups, Pane::Teams) => Scope::Team,
            (Level::Services { .. }, _) => Scope::Service,
            _ => Scope::Replica,
        }
    }

    /// Rows that can be on screen (the table keeps the selection visible,
    /// so at most a page either side of it), with their placeholder values
    /// and whether each is the selected one.
    fn prom_rows(&self) -> Vec<(Scope, String, Vars, bool)> {
        let sel = self.frame().selected;
        let page = self.page();
        let window = |n: usize| (sel + 1).saturating_sub(page)..(sel + page).min(n);
        let scope = self.prom_scope();
        match &self.frame().level {
            Level::Groups => {
                let rows = self.rows();
                window(rows.len())
                    .map(|i| {
                        let name = rows[i].name.clone();
                        let vars = if scope == Scope::Layer {
                            Vars {
                                layer: Some(name.clone()),
                                ..Default::default()
                            }
                        } else {
                            Vars {
                                team: Some(name.clone()),
                                ..Default::default()
                            }
                        };
                        (scope, name, vars, i == sel)
                    })
                    .collect()
            }
            Level::Services { group } => {
                let rows = self.rows();
                window(rows.len())
                    .map(|i| {
                        let r = &rows[i];
                        let first = r
                            .replicas
                            .first()
                            .and_then(|id| self.fleet.replicas.get(id));
                        let mut vars = first.map(replica_vars).unwrap_or_default();
                        vars.container = None;
                        vars.instance = None;
                        vars.service = Some(r.name.clone());
                        match self.pane {
                            Pane::Layers => vars.layer = Some(group.clone()),
                            Pane::Teams => vars.team = Some(group.clone()),
                        }
                        (scope, r.name.clone(), vars, i == sel)
                    })
                    .collect()
            }
            Level::Replicas { .. } => {
                let reps = self.replicas();
                window(reps.len())
                    .map(|i| (scope, reps[i].name.clone(), replica_vars(reps[i]), i == sel))
                    .collect()
            }
            Level::Replica { .. } => self
                .replicas()
                .first()
                .map(|r| vec![(scope, r.name.clone(), replica_vars(r), true)])
                .unwrap_or_default(),
        }
    }

    /// A click: on the tabs, switch; on a table row, select it (a second
    /// click on the selected row drills down).
    fn click(&mut self, column: u16, row: u16, cmds: &mut Vec<Cmd>) {
        if self.prompt.is_some() || self.ops.pending.is_some() || self.adhoc.is_some() {
            return;
        }
        if row == 1 {
            // " Layers │ Teams │ …": each tab is its title and 3 separators.
            let mut x = 1u16;
            let alerts = self.alert_total();
            for (i, (_, _, title)) in crate::views::TABS.iter().enumerate() {
                let mut w = title.chars().count() as u16 + 2;
                if *title == "Events" && alerts > 0 {
                    w += alerts.to_string().len() as u16 + 2; // " 3!"
                }
                if (x..x + w).contains(&column) {
                    while self.tab_index() != i {
                        self.next_tab(true);
                    }
                    return;
                }
                x += w + 3;
            }
            return;
        }
        // Table rows start under the border and the header (row 4). The
        // table scrolls only past a page, so within the first page the row
        // on screen is the index.
        if self.views.view != crate::views::View::Fleet || row < 4 {
            return;
        }
        let i = (row - 4) as usize;
        if i >= self.page() || i >= self.row_count() {
            return;
        }
        if matches!(self.frame().level, Level::Replica { .. }) {
            return;
        }
        if self.frame().selected == i {
            self.drill_down();
            self.ask_prometheus_about_new_rows(cmds);
        } else {
            self.frame_mut().selected = i;
        }
    }

    /// `:exec REPLICA [COMMAND…]` (default `sh`): refused in read-only mode.
    fn exec(&mut self, rest: &str, cmds: &mut Vec<Cmd>) {
        if self.ops.read_only {
            self.flash = Some(crate::ops::desk::READ_ONLY.into());
            return;
        }
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else {
            self.flash = Some("usage: :exec REPLICA [COMMAND]".into());
            return;
        };
        let mut command: Vec<String> = words.map(String::from).collect();
        if command.is_empty() {
            command.push("sh".into());
        }
        match self.fleet.replicas.values().find(|r| r.name == name) {
            Some(r) if r.is_running() => cmds.push(Cmd::Exec {
                id: r.id.clone(),
                name: r.name.clone(),
                command,
            }),
            Some(r) => {
                self.flash = Some(format!(
                    "{} is {}: nothing to run a command in",
                    r.name, r.state
                ))
            }
            None => self.flash = Some(format!("no replica is called {name:?}")),
        }
    }

    fn start_adhoc(&mut self, query: Query, cmds: &mut Vec<Cmd>) {
        if self.prom.is_none() {
            self.flash =
                Some("Prometheus is not configured: start agile-deck with --prometheus URL".into());
            return;
        }
        cmds.push(Cmd::PromAdhoc(query.clone()));
        self.adhoc = Some(Adhoc {
            query,
            result: None,
            scroll: 0,
        });
    }

    /// Run what was typed on the command line.
    fn run_command(&mut self, line: &str, cmds: &mut Vec<Cmd>) {
        let line = line.trim();
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "" => {}
            "q" | "q!" | "quit" => self.quit(cmds),
            "promql" if rest.trim().is_empty() => {
                self.flash = Some("usage: :promql EXPR".into());
            }
            "promql" => self.start_adhoc(
                Query::Instant {
                    expr: rest.trim().to_string(),
                },
                cmds,
            ),
            "theme" => match crate::theme::Theme::named(rest.trim()) {
                Some(t) => {
                    self.theme = if crate::theme::no_color_requested() {
                        t.without_colour()
                    } else {
                        t
                    };
                    self.flash = Some(format!("theme {}", rest.trim()));
                }
                None => {
                    self.flash = Some(format!(
                        "no theme {:?}; the themes are {}",
                        rest.trim(),
                        crate::theme::Theme::names().join(", ")
                    ))
                }
            },
            _ if self.operation_command(word, rest) => {}
            _ if self.rollout_command(word, rest, cmds) => {}
            _ if self.view_command(word, rest) => {}
            _ if self.views.view == crate::views::View::Logs && self.logs_command(word, rest) => {}
            "sort" => {
                let mut words = rest.split_whitespace();
                match (words.next().and_then(SortBy::parse), words.next()) {
                    (Some(by), None | Some("asc")) => self.sort = (by, false),
                    (Some(by), Some("desc")) => self.sort = (by, true),
                    _ => {
                        self.flash = Some(format!(
                            "usage: :sort COLUMN [asc|desc]; columns: {}",
                            SortBy::ALL.map(SortBy::word).join(", ")
                        ))
                    }
                }
            }
            "filter" => match Filter::parse(rest) {
                Ok(f) if f.text.is_empty() => self.filter = None,
                Ok(f) => {
                    self.filter = Some(f);
                    self.frame_mut().selected = 0;
                }
                Err(e) => self.flash = Some(e),
            },
            "logs" if rest.trim().is_empty() => self.logs_key(cmds),
            "exec" => self.exec(rest, cmds),
            "logs" => self.open_logs(rest.trim(), cmds),
            "search" => {
                self.flash =
                    Some(":search TEXT searches the logs: open them first (:logs TARGET)".into())
            }
            other => {
                self.flash = Some(format!(
                    "unknown command {other:?}; the commands: {} (? lists them with what they take)",
                    crate::commands::COMMANDS.map(|c| c.name).join(", ")
                ))
            }
        }
    }

    /// Keys while the command line is open: it takes the text.
    fn on_prompt_key(&mut self, key: KeyEvent, cmds: &mut Vec<Cmd>) {
        use crossterm::event::{KeyCode, KeyModifiers};
        let Some(text) = self.prompt.as_mut() else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Enter => {
                let line = self.prompt.take().unwrap_or_default();
                self.remember(&line);
                self.run_command(&line, cmds);
            }
            KeyCode::Tab => self.complete_prompt(),
            KeyCode::Up => self.prompt_history(true),
            KeyCode::Down => self.prompt_history(false),
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char('c') if ctrl => self.prompt = None,
            KeyCode::Char(c) if !ctrl => text.push(c),
            _ => {}
        }
    }

    /// Keys while an ad-hoc answer is shown.
    fn on_adhoc_key(&mut self, key: KeyEvent, action: Option<Action>, cmds: &mut Vec<Cmd>) {
        use crossterm::event::KeyCode;
        let Some(a) = self.adhoc.as_mut() else {
            return;
        };
        match (key.code, action) {
            // `r` flips between now and the last 15 minutes.
            (KeyCode::Char('r'), _) => {
                let expr = a.query.expr().to_string();
                let query = match a.query {
                    Query::Instant { .. } => Query::Range {
                        expr,
                        span: crate::metrics::CHART_SPAN,
                        step: crate::metrics::CHART_STEP,
                    },
                    Query::Range { .. } => Query::Instant { expr },
                };
                self.start_adhoc(query, cmds);
            }
            (_, Some(Action::Up)) => a.scroll = a.scroll.saturating_sub(1),
            (_, Some(Action::Down)) => a.scroll += 1,
            (_, Some(Action::Enter)) => {
                let query = a.query.clone();
                self.start_adhoc(query, cmds);
            }
            (_, Some(Action::PromQL | Action::Command)) => {
                self.prompt = Some(format!("promql {}", a.query.expr()));
            }
            (_, Some(Action::Back | Action::Quit | Action::Help)) => self.adhoc = None,
            _ => {}
        }
    }

    /// The action the keys pressed so far make in `context`. While a
    /// sequence (`g g`) is under way it says so and waits (Err); a key
    /// that continues no sequence starts afresh.
    fn press(&mut self, context: Context, key: &KeyEvent) -> Result<Option<Action>, ()> {
        let Some(k) = crate::keymap::Key::from_event(key) else {
            self.pending_keys.clear();
            return Ok(None);
        };
        self.pending_keys.push(k);
        let mut found = self.keymap.lookup(context, &self.pending_keys);
        if found == Lookup::None && self.pending_keys.len() > 1 {
            self.pending_keys = vec![k];
            found = self.keymap.lookup(context, &self.pending_keys);
        }
        match found {
            Lookup::Prefix => {
                self.flash = Some(format!(
                    "{} …",
                    crate::keymap::Keys(self.pending_keys.clone())
                ));
                Err(())
            }
            Lookup::Action(a) => {
                self.pending_keys.clear();
                Ok(Some(a))
            }
            Lookup::None => {
                self.pending_keys.clear();
                Ok(None)
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent, cmds: &mut Vec<Cmd>) {
        self.flash = None;
        if self.prompt.is_some() && self.ops.pending.is_none() {
            return self.on_prompt_key(key, cmds);
        }
        let context = if self.ops.pending.is_some() {
            Context::Dialog
        } else if self.views.view == crate::views::View::Logs && self.logs.is_some() {
            Context::Logs
        } else {
            match self.views.view {
                crate::views::View::Rollouts => Context::Rollouts,
                crate::views::View::Events => Context::Events,
                crate::views::View::Networks => Context::Networks,
                _ => Context::Table,
            }
        };
        let Ok(action) = self.press(context, &key) else {
            return;
        };
        if self.ops.pending.is_some() {
            return self.on_dialog_key(action, cmds);
        }
        if self.on_logs_key(action, cmds) {
            return;
        }
        if self.adhoc.is_some() {
            let ctrl_c = key.code == crossterm::event::KeyCode::Char('c')
                && key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL);
            if !ctrl_c {
                return self.on_adhoc_key(key, action, cmds);
            }
        }
        let Some(action) = action else {
            return;
        };
        if self.show_help {
            // The help overlay closes on its own key, Back or Quit's keys;
            // the moves scroll it (as far as its lines go).
            let help_lines =
                self.keymap.help().len() + Context::ALL.len() + crate::commands::COMMANDS.len() + 4;
            match action {
                Action::Help | Action::Back => self.show_help = false,
                Action::Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                Action::Down => self.help_scroll = (self.help_scroll + 1).min(help_lines),
                Action::PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                Action::PageDown => self.help_scroll = (self.help_scroll + 10).min(help_lines),
                Action::Top => self.help_scroll = 0,
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
        if self.on_view_key(action) {
            return;
        }
        if self.views.view == crate::views::View::Rollouts && self.on_rollouts_key(action, cmds) {
            return;
        }
        let n = self.row_count();
        let page = self.page();
        match action {
            Action::Quit => self.quit(cmds),
            Action::Help => {
                self.show_help = true;
                self.help_scroll = 0;
            }
            Action::ToggleLog => self.show_log = !self.show_log,
            Action::ToggleEngine => self.show_engine = !self.show_engine,
            Action::Command => self.prompt = Some(String::new()),
            Action::PromQL => self.prompt = Some("promql ".into()),
            Action::Scale => self.operation_key(Kind::Scale),
            Action::Resize => self.operation_key(Kind::Resize),
            Action::Restart => self.operation_key(Kind::Restart),
            Action::StopOp => self.operation_key(Kind::Stop),
            Action::StartOp => self.operation_key(Kind::Start),
            Action::Undo => self.operation_key(Kind::Undo),
            Action::CancelOp => self.cancel_operation(cmds),
            Action::ToggleJournal => self.ops.show_journal = !self.ops.show_journal,
            Action::Advise => {
                if self.ops.read_only {
                    self.flash = Some(crate::ops::desk::READ_ONLY.into());
                } else {
                    self.apply_advice();
                }
            }
            Action::NextPane | Action::PrevPane => self.next_tab(action == Action::NextPane),
            Action::AckAlerts => self.acknowledge_alerts(),
            Action::FollowLogs => self.logs_key(cmds),
            Action::Exec => match self.selected_replica().map(|r| r.name.clone()) {
                Some(name) => self.exec(&name, cmds),
                None => self.flash = Some("select a replica first (Enter down to one)".into()),
            },
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
            // Esc clears a filter before it goes back up.
            Action::Back if self.filter.is_some() => self.filter = None,
            Action::Back => {
                let i = self.pane_index();
                if self.stacks[i].len() > 1 {
                    self.stacks[i].pop();
                }
            }
            Action::Filter => {
                let now = self
                    .filter
                    .as_ref()
                    .map(|f| f.text.clone())
                    .unwrap_or_default();
                self.prompt = Some(format!("filter {now}"));
            }
            Action::SortNext => {
                self.sort.0 = self.sort.0.next();
                self.flash = Some(format!("order by {}", self.sort.0.word()));
            }
            Action::SortReverse => self.sort.1 = !self.sort.1,
            Action::Rollout => {
                if self.ops.read_only {
                    self.flash = Some(crate::ops::desk::READ_ONLY.into());
                } else {
                    self.rollout_key();
                }
            }
            // Their own view's keys (handled above).
            Action::RolloutPause
            | Action::RolloutResume
            | Action::RolloutBack
            | Action::RolloutAbort
            | Action::Switch
            | Action::Retire => {
                self.flash = Some("those keys work in the Rollouts tab (Tab to it)".into())
            }
            // The logs pane's and the dialog's own (handled above).
            Action::LogTimestamps
            | Action::LogWrap
            | Action::LogPause
            | Action::LogFilter
            | Action::LogSearch
            | Action::LogNext
            | Action::LogPrev
            | Action::LogSave
            | Action::Confirm
            | Action::ConfirmAnyway
            | Action::Cancel => {}
        }
    }

    fn quit(&mut self, cmds: &mut Vec<Cmd>) {
        // A rollout agile-deck drives stops with the program, maybe between
        // a replica's removal and its replacement: say so once.
        let busy = self.ops.running().count()
            + self
                .ops
                .rollouts
                .iter()
                .filter(|r| !r.phase.finished() && !r.what.starts_with("swarm"))
                .count();
        if busy > 0 && !self.quit_armed {
            self.quit_armed = true;
            self.flash = Some(format!(
                "{busy} operation(s) or rollout(s) under way stop if agile-deck quits (maybe mid-batch): pause or abort first, or quit again to quit anyway"
            ));
            return;
        }
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

/// What a replica fills placeholders with. `$instance` is its first
/// published port as Prometheus scrapes it from the host (`0.0.0.0` and
/// `::` listen on 127.0.0.1 too).
fn replica_vars(r: &Replica) -> Vars {
    let instance = r.ports.iter().find(|p| !p.host_port.is_empty()).map(|p| {
        let ip = match p.host_ip.as_str() {
            "" | "0.0.0.0" | "::" => "127.0.0.1",
            ip => ip,
        };
        format!("{ip}:{}", p.host_port)
    });
    Vars {
        layer: r.placement.layer.clone(),
        team: r.placement.team.clone(),
        service: Some(r.placement.service.name.clone()),
        container: Some(r.name.clone()),
        instance,
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
        // Health changes apply at once; turning unhealthy also asks for an
        // inspect, for the failing probe's output.
        let cmds = a.update(Msg::ContainerEvent {
            id: "a1".into(),
            action: "health_status: unhealthy".into(),
        });
        assert_eq!(cmds, vec![Cmd::Inspect("a1".into())]);
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
