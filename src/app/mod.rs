//! The one owner of state. Every input — keys, Docker events, listings,
//! stats samples, timer ticks — arrives as a `Msg`; `App::update` changes the
//! state and returns the `Cmd`s to run. Drawing (`ui::draw`) reads the state
//! and changes nothing, so all of this is testable without a terminal or a
//! daemon.

mod advice;
pub mod audit;
mod command_line;
pub mod help;
pub mod history;
mod keys;
pub mod layout;
pub mod logview;
mod msg;
mod nav;
pub mod ops;
mod palette;
pub mod prompt;
mod recovery;
pub mod rollouts;
mod targets;
pub mod views;
mod watch;

pub use msg::{Cmd, Msg};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::app::ops::Ops;
use crate::engine::{Cost, Remote, Target};
use crate::filter::{Filter, SortBy};
use crate::fleet::{Fleet, GroupBy, Row};
pub use crate::hosts::{Host, Hosts, Link};
use crate::keymap::{Action, Context, Keymap, Lookup};
use crate::metrics::{CellKey, Request, Scope, Store, Vars};
use crate::model::{DaemonInfo, DockerNetwork, Health, HostId, Replica, ServiceId, SwarmService};
use crate::ops::exec::Progress;
use crate::ops::{Kind, Plan};
use crate::prometheus::{Data, PromError, Query};
use crate::sources::Listing;
use crate::stats::Sample;
use crate::theme::Theme;

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

/// What a key on the ad-hoc answer asks of the app.
#[derive(Debug, PartialEq)]
pub enum AdhocKey {
    /// Ask this (again, or now / over the last 15 minutes).
    Ask(Query),
    /// Edit the query on the command line.
    Edit(String),
    Close,
    /// It took it (scrolled) or ignores it.
    Nothing,
}

impl Adhoc {
    /// Its keys: `r` flips between now and the last 15 minutes, Enter
    /// asks again, the moves scroll, `:`/`P` edit the query, Back, Quit
    /// and Help close it.
    pub fn on_key(&mut self, key: &KeyEvent, action: Option<Action>) -> AdhocKey {
        match (key.code, action) {
            (crossterm::event::KeyCode::Char('r'), _) => {
                let expr = self.query.expr().to_string();
                AdhocKey::Ask(match self.query {
                    Query::Instant { .. } => Query::Range {
                        expr,
                        span: crate::metrics::CHART_SPAN,
                        step: crate::metrics::CHART_STEP,
                    },
                    Query::Range { .. } => Query::Instant { expr },
                })
            }
            (_, Some(Action::Up)) => {
                self.scroll = self.scroll.saturating_sub(1);
                AdhocKey::Nothing
            }
            (_, Some(Action::Down)) => {
                self.scroll += 1;
                AdhocKey::Nothing
            }
            (_, Some(Action::Enter)) => AdhocKey::Ask(self.query.clone()),
            (_, Some(Action::PromQL | Action::Command)) => {
                AdhocKey::Edit(format!("promql {}", self.query.expr()))
            }
            (_, Some(Action::Back | Action::Quit | Action::Help)) => AdhocKey::Close,
            _ => AdhocKey::Nothing,
        }
    }
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

pub struct App {
    pub fleet: Fleet,
    /// The Docker hosts watched, their daemons and links.
    pub hosts: Hosts,
    pub pane: Pane,
    /// Drill-down stack per pane; never empty.
    stacks: [Vec<Frame>; 2],
    /// The help overlay (`?`).
    pub help: help::Help,
    pub show_log: bool,
    pub keymap: Keymap,
    pub theme: Theme,
    pub now: DateTime<Utc>,
    /// When this session began: what the store holds from before is
    /// history to show (`Msg::Backfill`); what came after, it saw itself.
    pub started: DateTime<Utc>,
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
    /// The command line (`:`).
    pub prompt: prompt::Prompt,
    /// A one-line message in the footer until the next key.
    pub flash: Option<String>,
    /// The table filter (`/`), and the order (`o`, `O`).
    pub filter: Option<Filter>,
    pub sort: (SortBy, bool),
    /// Keys of a sequence under way (`g` of `g g`).
    pending_keys: Vec<crate::keymap::Key>,
    /// Operations: the dialog, running and finished ones, undo, journal.
    pub ops: Ops,
    /// The Events and Networks views.
    pub views: crate::app::views::Views,
    /// The findings against the reference's rules, kept current.
    pub audit: crate::audit::Audit,
    pub audit_view: audit::AuditView,
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
    /// What the last frame drew that the state needs to know.
    pub drawn: Drawn,
    /// Looking at the past (`:at`): the fleet and timeline as recorded.
    pub past: Option<history::Past>,
    /// A history store can be read (`:at`, the detail's hour of CPU).
    pub history_store: bool,
    /// Hosts whose replicas' histories were filled from the store.
    backfilled: std::collections::HashSet<HostId>,
    /// The selected row's recorded hour of CPU.
    pub recorded: history::Recorded,
    /// What the recorder has written, when this process records.
    pub recording: Option<crate::history::Status>,
}

/// What only drawing can know, recorded by `ui::draw` for the next key.
#[derive(Debug, Default)]
pub struct Drawn {
    /// Lines of the replica page, which scrolls by line.
    pub replica_lines: std::cell::Cell<usize>,
}

/// What the user chose at start (flags, config file, journal) that the
/// app holds.
#[derive(Debug, Default)]
pub struct Options {
    pub show_log: bool,
    pub show_engine: bool,
    /// Most lines the logs pane keeps.
    pub log_cap: usize,
    /// Most events the Events timeline keeps.
    pub events_max: usize,
    pub read_only: bool,
    /// The Prometheus asked, by URL.
    pub prometheus: Option<String>,
    /// What an earlier agile-deck left unfinished, from the journal.
    pub interrupted: Vec<crate::recovery::Interrupted>,
    /// The config's `[[rule]]` and `[[ignore]]` for the audit.
    pub audit: crate::audit::Settings,
}

impl App {
    /// The app as the user started it.
    pub fn with(mut self, o: Options) -> App {
        (self.show_log, self.show_engine, self.log_cap) = (o.show_log, o.show_engine, o.log_cap);
        self.views.timeline = crate::events::Timeline::new(o.events_max);
        (self.ops.read_only, self.ops.interrupted) = (o.read_only, o.interrupted);
        self.prom = o.prometheus.map(|url| Prom {
            url,
            ..Default::default()
        });
        self.audit = crate::audit::Audit::new(o.audit);
        self
    }

    pub fn new(fleet: Fleet, keymap: Keymap, theme: Theme, hosts: Hosts) -> App {
        let root = || {
            vec![Frame {
                level: Level::Groups,
                selected: 0,
            }]
        };
        App {
            fleet,
            hosts,
            pane: Pane::Layers,
            stacks: [root(), root()],
            help: Default::default(),
            show_log: false,
            keymap,
            theme,
            now: Utc::now(),
            started: Utc::now(),
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
            prompt: Default::default(),
            flash: None,
            filter: None,
            sort: (SortBy::Name, false),
            pending_keys: Vec::new(),
            ops: Ops::default(),
            views: Default::default(),
            audit: Default::default(),
            audit_view: Default::default(),
            logs: None,
            log_panes: 0,
            log_cap: crate::logs::DEFAULT_CAP,
            quitting: false,
            quit_armed: false,
            dirty: true,
            drawn: Drawn::default(),
            past: None,
            history_store: false,
            backfilled: Default::default(),
            recorded: Default::default(),
            recording: None,
        }
    }

    /// The daemon the screen speaks of: the focused host's, else the first's.
    pub fn daemon(&self) -> &DaemonInfo {
        let host = self.fleet.focus().unwrap_or_default();
        &self.hosts.get(host).daemon
    }

    /// Some host's replicas are known: there is something to show.
    pub fn listed(&self) -> bool {
        self.hosts.any_listed()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        // A host's sources speak through `Msg::OnHost`; a bare message is
        // the first host's (one host, and the tests).
        let (host, msg) = match msg {
            Msg::OnHost(host, msg) => (host, *msg),
            msg => (HostId::default(), msg),
        };
        match msg {
            Msg::OnHost(..) => unreachable!("a host's message is never wrapped twice"),
            Msg::Key(k) => {
                self.on_key(k, &mut cmds);
                self.dirty = true;
                self.ask_prometheus_about_new_rows(&mut cmds);
                self.ask_recorded_chart(&mut cmds);
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
                self.ask_recorded_chart(&mut cmds);
                return cmds;
            }
            Msg::ResyncDue => {
                for host in self.hosts.ids() {
                    cmds.push(Cmd::Resync {
                        host,
                        known: self.known(host),
                    });
                }
                // Reopen any stats stream that ended on its own.
                cmds.push(Cmd::WatchStats(self.watched.clone()));
            }
            Msg::Daemon(info) => {
                let daemon = &mut self.hosts.get_mut(host).daemon;
                // Found to be a manager (a host not heard from at start, or
                // one promoted): list the Swarm from it now.
                if info.is_swarm_manager() && !daemon.is_swarm_manager() {
                    cmds.push(Cmd::ListSwarm);
                }
                if *daemon != info {
                    *daemon = info;
                    self.dirty = true;
                }
            }
            Msg::Listing(listing) => {
                let present: std::collections::HashSet<&String> = listing.present.iter().collect();
                // A host's listing speaks for that host only.
                let gone: Vec<String> = self
                    .fleet
                    .replicas
                    .values()
                    .filter(|r| r.host == host && !present.contains(&r.id))
                    .map(|r| r.id.clone())
                    .collect();
                // What we know beats a sketch.
                let fresh: Vec<Replica> = listing
                    .inspected
                    .into_iter()
                    .filter(|r| !listing.provisional || !self.fleet.replicas.contains_key(&r.id))
                    .map(|r| Replica { host, ..r })
                    .collect();
                self.dirty |= self.fleet.apply(&gone, fresh);
                if let Some(services) = listing.services {
                    self.set_swarm_services(services);
                }
                if let Some(nodes) = listing.nodes {
                    self.dirty |= self.fleet.set_nodes(nodes);
                }
                self.dirty |= self.fleet.set_networks(host, listing.networks);
                self.audit_all();
                let h = self.hosts.get_mut(host);
                if !h.listed || h.link != Link::Up {
                    self.dirty = true;
                }
                (h.listed, h.link) = (true, Link::Up);
                if !listing.provisional {
                    self.seed_timeline(host);
                    if self.history_store && self.backfilled.insert(host) {
                        cmds.push(Cmd::Backfill {
                            events: self.views.timeline.max,
                        });
                    }
                }
                self.ask_prometheus_about_new_rows(&mut cmds);
                self.ask_recorded_chart(&mut cmds);
            }
            Msg::Inspected { id, replica } => {
                let running = replica.as_ref().is_some_and(|r| r.is_running());
                // A Swarm task's container started or stopped: its service's
                // and node's task counts changed (no Swarm event says so).
                let task_moved = replica.as_ref().is_some_and(|r| {
                    r.placement.service.kind == crate::model::ServiceKind::Swarm
                        && self.fleet.replicas.get(&id).map(|was| &was.state) != Some(&r.state)
                });
                if task_moved && self.hosts.manager().is_some() {
                    cmds.push(Cmd::ListSwarm);
                }
                if let Some(r) = &replica {
                    self.views.timeline.probe_result(&id, r);
                }
                let before = self.fleet.replicas.get(&id).cloned();
                self.dirty |= match replica {
                    Some(r) => self.fleet.upsert(Replica { host, ..*r }),
                    None => self.fleet.remove(&id),
                };
                self.audit_container(before.as_ref(), &id);
                if running {
                    self.logs_pickup(&mut cmds);
                }
            }
            Msg::ContainerEvent { id, action } => {
                if let Some(status) = action.strip_prefix("health_status: ") {
                    // Events report health changes; apply at once, no inspect needed.
                    if let Some(r) = self.fleet.replicas.get(&id) {
                        // A Swarm task runs once healthy: its service's
                        // task list changed (no Swarm event says so).
                        if r.placement.service.kind == crate::model::ServiceKind::Swarm
                            && self.hosts.manager().is_some()
                        {
                            cmds.push(Cmd::ListSwarm);
                        }
                        let mut r = r.clone();
                        r.health = Health::parse(status.trim());
                        self.dirty |= self.fleet.upsert(r);
                        // The failing probe's output is only in inspect.
                        if status.trim() == "unhealthy" {
                            cmds.push(Cmd::Inspect { host, id });
                        }
                    } else {
                        cmds.push(Cmd::Inspect { host, id });
                    }
                } else if action == "destroy" {
                    let before = self.fleet.replicas.get(&id).cloned();
                    self.dirty |= self.fleet.remove(&id);
                    self.audit_container(before.as_ref(), &id);
                } else if !action.starts_with("exec_") {
                    // Health probes are exec_* events: noise at every interval.
                    cmds.push(Cmd::Inspect { host, id });
                }
            }
            Msg::SwarmEvent { .. } => cmds.push(Cmd::ListSwarm),
            Msg::NetworkEvent { action, container } => {
                if matches!(action.as_str(), "create" | "destroy" | "remove") {
                    cmds.push(Cmd::ListNetworks(host));
                }
                if let Some(id) = container.filter(|id| self.fleet.replicas.contains_key(id)) {
                    cmds.push(Cmd::Inspect { host, id });
                }
            }
            Msg::Networks(networks) => {
                self.dirty |= self.fleet.set_networks(host, networks);
                self.audit_cluster();
            }
            Msg::Services(services) => {
                self.set_swarm_services(services);
                self.audit_cluster();
            }
            Msg::Nodes(nodes) => {
                self.dirty |= self.fleet.set_nodes(nodes);
                self.audit_cluster();
            }
            Msg::Stats { at, samples } => {
                // A lost host's cgroup files may still be read, but what its
                // replicas are is unknown: they stay stale, with no figures.
                if self.hosts.get(host).stale_since().is_some() {
                    return cmds;
                }
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
            Msg::Remote(state) => {
                let h = self.hosts.get_mut(host);
                match &state {
                    Remote::Up(what) => log::info!("{}: figures through the {what}", h.name),
                    // Its replicas stay, stale, until it is back.
                    Remote::Lost(_) => self.fleet.forget_figures(host),
                    // Said by the header; the link logged it.
                    Remote::Unusable(_) => {}
                }
                let since = match &h.agent {
                    Some((old, since)) if *old == state => *since,
                    _ => self.now,
                };
                h.agent = Some((state.clone(), since));
                self.dirty = true;
                // The engine reads what is watched by the path that works.
                cmds.push(Cmd::Remote { host, state });
            }
            Msg::Started {
                stats_cap,
                cost,
                local_offset,
            } => {
                (self.stats_cap, self.engine, self.local_offset) = (stats_cap, cost, local_offset);
                self.dirty = true;
                return cmds;
            }
            Msg::Drawn => {
                self.dirty = false;
                return cmds;
            }
            Msg::Engine(cost) => {
                self.dirty |= self.show_engine && self.engine != cost;
                self.engine = cost;
                return cmds;
            }
            Msg::SourceError { source, error } => {
                let h = self.hosts.get_mut(host);
                // A lost daemon is probed every 2 s: say it once.
                if h.lost_since().is_none() || !source.is_the_daemons() {
                    log::warn!("{}: {}: {error}", h.name, source.word());
                }
                if source.is_the_daemons() {
                    let error = format!("{}: {error}", source.word());
                    let since = h.lost_since().unwrap_or(self.now);
                    h.link = Link::Down { error, since };
                    // Its replicas stay, marked stale: their last figures
                    // are not shown as if they were current.
                    self.fleet.forget_figures(host);
                    self.dirty = true;
                }
            }
            Msg::DaemonBack => {
                let h = self.hosts.get_mut(host);
                log::info!("{}: the Docker daemon answers again; resyncing", h.name);
                h.link = Link::Up;
                self.dirty = true;
                cmds.push(Cmd::Resync {
                    host,
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
                    self.dirty |= self.views.view == views::View::Logs;
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
            Msg::Recording(status) => {
                self.dirty |= self.show_engine;
                self.recording = Some(status);
                return cmds;
            }
            Msg::Backfill { cpu, events } => {
                // What happened before anyone looked: the Events view
                // starts with the last hour as recorded.
                let started = self.started;
                self.views.timeline.earlier(
                    events
                        .iter()
                        .filter(|e| e.at < started)
                        .map(history::line_of),
                );
                let ids: Vec<(String, String)> = self
                    .fleet
                    .replicas
                    .values()
                    .map(|r| (self.hosts.name(r.host).to_string(), r.id.clone()))
                    .collect();
                for (host, id) in ids {
                    if let Some(points) = cpu.get(&(host, id.clone())) {
                        self.fleet.backfill(&id, points);
                    }
                }
                self.dirty = true;
                return cmds;
            }
            Msg::Series { kind, name, points } => {
                self.on_series(kind, name, points);
                return cmds;
            }
            Msg::Moment { asked, moment } => {
                self.on_moment(asked, moment.map(|m| m.map(|m| *m)));
                self.dirty = true;
                return cmds;
            }
            Msg::LogsSaved(said) => {
                self.flash = Some(said.unwrap_or_else(|e| e));
                self.dirty = true;
                return cmds;
            }
            Msg::ExecDone(line) => {
                log::info!("{line}");
                self.flash = Some(line);
                self.dirty = true;
                return cmds;
            }
            Msg::Timeline(raw) => {
                self.timeline_event(host, &raw);
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
            Hosts::single("test", "unix:///test.sock"),
        );
        app.update(Msg::Listing(Listing {
            present: replicas.iter().map(|r| r.id.clone()).collect(),
            inspected: replicas,
            provisional: false,
            services: None,
            nodes: None,
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
            nodes: None,
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
                host: HostId(0),
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
        assert!(matches!(&cmds[0], Cmd::Resync { known, .. } if known.len() == 4));
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
            vec![Cmd::Inspect {
                host: HostId(0),
                id: "a1".into()
            }]
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
        assert_eq!(
            cmds,
            vec![Cmd::Inspect {
                host: HostId(0),
                id: "a1".into()
            }]
        );
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
            vec![Cmd::Inspect {
                host: HostId(0),
                id: "zz".into()
            }]
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
            source: crate::sources::Source::Events,
            error: "connection refused".into(),
        });
        assert!(matches!(a.hosts.first().link, Link::Down { .. }));
        assert_eq!(a.fleet.replicas.len(), 4, "the last state is kept");
        // A failed inspect is not the daemon's failure.
        let mut b = app();
        b.update(Msg::SourceError {
            source: crate::sources::Source::Inspect,
            error: "500".into(),
        });
        assert_eq!(b.hosts.first().link, Link::Up);
        let cmds = a.update(Msg::DaemonBack);
        assert_eq!(a.hosts.first().link, Link::Up);
        assert!(matches!(&cmds[0], Cmd::Resync { known, .. } if known.is_empty()));
        assert!(matches!(&cmds[1], Cmd::WatchStats(ids) if ids.len() == 3));
    }

    /// A Swarm task's container that starts or stops changes its service's
    /// and node's task counts, which no Swarm event reports: the Swarm is
    /// listed again (the runtime coalesces a burst into one listing).
    #[test]
    fn a_task_container_that_starts_or_stops_relists_the_swarm() {
        let mut a = app();
        a.hosts.get_mut(HostId(0)).daemon.swarm = crate::model::SwarmRole::Manager;
        let t = Topology::default_topology();
        let mut task = test_replica(
            &t,
            "t1",
            "vsvc.1.abc",
            &[("com.docker.swarm.service.name", "vsvc")],
            "running",
        );
        assert_eq!(
            task.placement.service.kind,
            crate::model::ServiceKind::Swarm
        );
        let inspected = |r: &Replica| Msg::Inspected {
            id: r.id.clone(),
            replica: Some(Box::new(r.clone())),
        };
        assert!(a.update(inspected(&task)).contains(&Cmd::ListSwarm));
        assert!(
            !a.update(inspected(&task)).contains(&Cmd::ListSwarm),
            "no change"
        );
        task.state = crate::model::State::Exited;
        assert!(a.update(inspected(&task)).contains(&Cmd::ListSwarm));
        // Not a manager: nothing to list.
        a.hosts.get_mut(HostId(0)).daemon.swarm = crate::model::SwarmRole::Worker;
        task.state = crate::model::State::Running;
        assert!(!a.update(inspected(&task)).contains(&Cmd::ListSwarm));
    }

    /// Issue 17, point 5: a task Swarm cannot place goes on the timeline
    /// once per reason (no Docker event says it); a task merely starting
    /// does not.
    #[test]
    fn a_task_swarm_cannot_place_goes_on_the_timeline_once() {
        use crate::model::{Placement, ServiceId, ServiceKind, SwarmService, SwarmTask};
        let mut a = app();
        let service = |state: &str, error: &str| SwarmService {
            rules: Default::default(),
            lifecycle: Default::default(),
            id: "s1".into(),
            name: "stuckdb".into(),
            image: "i".into(),
            replicas: Some(1),
            running_tasks: 0,
            desired_tasks: 1,
            pending: None,
            tasks: vec![SwarmTask {
                slot: Some(1),
                desired: "running".into(),
                state: state.into(),
                error: error.into(),
                ..SwarmTask::default()
            }],
            labels: Default::default(),
            placement: Placement {
                layer: Some("data".into()),
                team: None,
                service: ServiceId {
                    kind: ServiceKind::Swarm,
                    name: "stuckdb".into(),
                },
            },
        };
        let pending = |a: &App| {
            a.event_lines()
                .iter()
                .filter(|l| l.event == "pending")
                .map(|l| l.detail.clone())
                .collect::<Vec<_>>()
        };
        a.update(Msg::Services(vec![service("starting", "")]));
        assert!(pending(&a).is_empty(), "starting is no reason");
        let why = "no suitable node (scheduling constraints not satisfied on 1 node)";
        a.update(Msg::Services(vec![service("pending", why)]));
        a.update(Msg::Services(vec![service("pending", why)]));
        assert_eq!(pending(&a), [format!("1 not running: {why}")]);
        let line = &a.event_lines()[0];
        assert_eq!(
            (line.service.as_str(), line.layer.as_str()),
            ("stuckdb", "data")
        );
        a.update(Msg::Services(vec![service(
            "rejected",
            "No such image: x:1",
        )]));
        assert_eq!(pending(&a).len(), 2, "a new reason is a new line");
    }

    #[test]
    fn help_and_quit_keys() {
        let mut a = app();
        key(&mut a, KeyCode::Char('?'));
        assert!(a.help.shown());
        // q closes the help first; Esc too.
        assert!(key(&mut a, KeyCode::Char('q')).is_empty());
        assert!(!a.help.shown());
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

    #[test]
    fn saving_the_logs_is_the_runtimes_work_and_its_word_is_shown() {
        let mut a = app();
        let mut logs = crate::logs::Logs::new("logs".into(), "web/1".into(), 100);
        for text in ["one", "two"] {
            logs.push(crate::logs::LogLine {
                at: a.now,
                source: 0,
                stderr: false,
                text: text.into(),
                marker: false,
            });
        }
        a.logs = Some((1, logs));
        a.views.view = views::View::Logs;
        let cmds = key(&mut a, KeyCode::Char('s'));
        let Some(Cmd::SaveLogs { path, text, lines }) = cmds.into_iter().next() else {
            panic!("no SaveLogs");
        };
        assert_eq!(lines, 2);
        assert!(text.ends_with("one\n") || text.contains(" one\n"), "{text}");
        assert!(path.to_string_lossy().contains("logs-web_1-"), "{path:?}");
        assert!(!path.exists(), "update writes no file");
        a.update(Msg::LogsSaved(Ok("saved 2 lines to x".into())));
        assert_eq!(a.flash.as_deref(), Some("saved 2 lines to x"));
    }

    #[test]
    fn no_advice_while_looking_at_the_past() {
        use crate::history::Moment;
        use crate::history::frame::{Entry, Identity};
        let mut a = app();
        let layers = a.fleet.group_rows(GroupBy::Layer);
        let at = layers
            .iter()
            .position(|r| r.name == "coordination")
            .unwrap();
        for _ in 0..at {
            key(&mut a, KeyCode::Down);
        }
        key(&mut a, KeyCode::Enter);
        let coordinator = |a: &App| {
            a.rows()
                .into_iter()
                .find(|r| r.name == "coordinator")
                .unwrap()
        };
        assert!(
            a.advice(&coordinator(&a)).is_some(),
            "1 replica under min 2"
        );
        // The same service as recorded: a Compose project the store does
        // not keep, so the live fleet's service would not be found.
        let now = a.now;
        let who = Identity {
            host: "test".into(),
            container: "c1".into(),
            name: "p-coordinator-1".into(),
            image: "agile-sim".into(),
            service: "coordinator".into(),
            service_kind: "compose".into(),
            layer: Some("coordination".into()),
            team: None,
        };
        let entry = Entry {
            state: crate::model::State::Running,
            health: crate::model::Health::Healthy,
            restarts: 0,
            exit_code: 0,
            oom_killed: false,
            figures: None,
        };
        let moment = Moment {
            asked: now,
            at: now,
            res: 5,
            replicas: vec![(who, entry)],
            gone: Default::default(),
            events: Vec::new(),
            cpu: Default::default(),
            metrics: Default::default(),
            services: Vec::new(),
        };
        a.update(Msg::Moment {
            asked: now,
            moment: Ok(Some(Box::new(moment))),
        });
        assert!(a.past.is_some());
        let row = coordinator(&a);
        assert_eq!(row.running, 1);
        assert!(a.advice(&row).is_none(), "advice is about now");
    }

    #[test]
    fn operation_results_are_recorded_under_the_names_the_fleet_uses() {
        let a = app();
        let line = |target: &str| {
            serde_json::from_str::<crate::journal::Entry>(&format!(
                r#"{{"time":"2026-11-30T23:06:29.509Z","run":"r","op":1,"kind":"result","user":"uid 0",
                "host":"local (unix:///var/run/docker.sock)","operation":"scale","target":"{target}",
                "params":{{}},"outcome":"done","detail":"2 of 2 steps took effect"}}"#
            ))
            .unwrap()
        };
        let events = a.results_of(vec![
            line("service development-team"),
            line("service web (swarm)"),
            line("team product"),
            line("replica agile-db-1"),
            line("node n2"),
        ]);
        let placed: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.host.as_str(),
                    e.layer.as_str(),
                    e.team.as_str(),
                    e.service.as_str(),
                    e.container.as_str(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("local", "", "", "development-team", ""),
                ("local", "", "", "web", ""),
                ("local", "", "product", "", ""),
                ("local", "", "", "", "agile-db-1"),
                ("local", "", "", "node n2", ""),
            ]
        );
        assert_eq!(events[0].detail, "done: 2 of 2 steps took effect");
    }

    #[test]
    fn the_events_view_starts_with_the_last_hour_as_recorded() {
        let mut a = app();
        let now = a.now;
        let at = |secs: i64| now - chrono::Duration::seconds(secs);
        let recorded = |t, event: &str, severity: &str| crate::history::Event {
            at: t,
            source: "docker",
            severity: severity.into(),
            host: "test".into(),
            layer: "data".into(),
            team: String::new(),
            service: "postgres".into(),
            container: "p-postgres-1".into(),
            container_id: Some("d1".into()),
            event: event.into(),
            detail: String::new(),
        };
        // This session already saw one line, 10 s ago.
        a.views.timeline.push(crate::events::Line {
            time: at(10),
            host: "test".into(),
            layer: "data".into(),
            team: String::new(),
            service: "postgres".into(),
            container: "p-postgres-1".into(),
            id: Some("d1".into()),
            event: "start".into(),
            detail: String::new(),
            severity: crate::events::Severity::Info,
        });
        let cursor = a.views.timeline.inserted;
        a.update(Msg::Backfill {
            cpu: Default::default(),
            events: vec![
                recorded(at(1800), "oom", "critical"),
                recorded(at(1799), "die", "critical"),
                // Seen live too (our own recorder wrote it): not twice.
                recorded(at(10), "start", "info"),
                // Recorded by this session (an alert at its first frame).
                recorded(now + chrono::Duration::seconds(1), "alert", "warning"),
            ],
        });
        let t = &a.views.timeline;
        let events: Vec<&str> = t.lines.iter().map(|l| l.event.as_str()).collect();
        assert_eq!(events, ["oom", "die", "start"]);
        assert_eq!(t.lines[0].severity, crate::events::Severity::Critical);
        assert_eq!(t.from_recording(), 2);
        // History, not news: no alert, and nothing for the recorder.
        assert_eq!(t.alert_total(), 0);
        assert_eq!(t.inserted, cursor);
        // A second host's backfill reads the same hour: nothing doubles.
        a.update(Msg::Backfill {
            cpu: Default::default(),
            events: vec![recorded(at(1800), "oom", "critical")],
        });
        assert_eq!(a.views.timeline.lines.len(), 3);
    }

    #[test]
    fn alerts_are_recorded_where_the_fleet_places_their_target() {
        use crate::alerting::{Kind, Notice, Status};
        let a = app();
        let notice = |kind: Kind, target: &str, status: Status| Notice {
            status,
            kind,
            target: target.into(),
            severity: "critical",
            summary: "1 in the last 5 min".into(),
            metric: None,
            started_at: a.now,
            ended_at: None,
            source: "recorder-machine".into(),
            text: String::new(),
        };
        let placed = |n: Notice| {
            let e = a.alert_event(&n, a.now);
            let cols = [e.host, e.layer, e.team, e.service, e.container];
            (cols, e.detail, e.severity)
        };
        let s = |v: [&str; 5]| v.map(String::from);
        // Where it runs, not the recording machine's name.
        assert_eq!(
            placed(notice(Kind::Oom, "coordinator", Status::Firing)),
            (
                s(["test", "coordination", "", "coordinator", ""]),
                "firing oom: 1 in the last 5 min".to_string(),
                "critical".to_string()
            )
        );
        assert_eq!(
            placed(notice(Kind::Unhealthy, "product", Status::Resolved)).0,
            s(["test", "execution", "product", "", ""])
        );
        assert_eq!(
            placed(notice(Kind::ZoneBreach, "p-postgres-1", Status::Firing)).0,
            s(["test", "", "", "", "p-postgres-1"])
        );
        assert_eq!(
            placed(notice(Kind::Metric, "execution", Status::Firing)).0,
            s(["test", "execution", "", "", ""])
        );
        // Removed since: named as the notice names it.
        assert_eq!(
            placed(notice(Kind::Policy, "gone-service", Status::Firing)).0,
            s(["", "", "", "gone-service", ""])
        );
        assert_eq!(
            placed(notice(Kind::Oom, "coordinator", Status::Resolved)).2,
            "ok"
        );
    }
}
