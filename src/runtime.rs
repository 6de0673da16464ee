//! The event loop: gathers messages from the terminal, the sources and the
//! timers into `App::update`, runs the commands it returns, and redraws
//! when the state changed — at most ~30 frames a second, never when idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use chrono::{DateTime, Utc};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::app::{App, Cmd, Msg};
use crate::engine::{self, Chosen, Cost, Engine, Path, Target};
use std::collections::HashMap;

use crate::journal::Journal;
use crate::metrics::CellKey;
use crate::model::{DaemonInfo, HostId};
use crate::ops::exec;
use crate::prometheus;
use crate::sources;
use crate::topology::Topology;
use crate::ui;
use crate::work::Work;

const FRAME: Duration = Duration::from_millis(33);
const RESYNC: Duration = Duration::from_secs(30);
/// How often the engine line's figures are refreshed while it is shown.
const ENGINE_LINE: Duration = Duration::from_secs(2);
/// Messages handled before the loop looks at the terminal again.
const BATCH: usize = 512;

/// One host's side of the runtime. Each host has its own client, event
/// stream, stats engine and inspect permits, and its sources speak
/// through its own channel (wrapped in `Msg::OnHost`): a slow or lost
/// host holds up nothing of the others.
struct HostRt {
    docker: Arc<Docker>,
    tx: mpsc::Sender<Msg>,
    engine: Engine<Msg>,
    /// Inspects containers, one at a time per container.
    inspector: sources::Inspector,
    /// This daemon is a Swarm manager (as of the last `docker info`).
    swarm_manager: Arc<AtomicBool>,
    name: String,
}

pub struct Runtime {
    hosts: Vec<HostRt>,
    topology: Arc<Topology>,
    tx: mpsc::Sender<Msg>,
    started: Instant,
    prom: Option<Arc<prometheus::Client>>,
    /// Cells and charts being asked about: a slow Prometheus is not asked
    /// the same thing again before it answered (or timed out).
    prom_in_flight: Arc<std::sync::Mutex<std::collections::HashSet<(CellKey, bool)>>>,
    prom_permits: Arc<tokio::sync::Semaphore>,
    /// Wakes the Swarm lister (services, tasks, nodes).
    swarm_list: Arc<tokio::sync::Notify>,
    /// Confirmed operations and rollouts, and the journal they write.
    work: Work,
    /// Log streams by logs pane, cancelled when the pane closes.
    log_streams: HashMap<u64, Vec<tokio::task::AbortHandle>>,
    /// The history store `:at` reads, if there is one.
    store: Option<std::path::PathBuf>,
}

impl Runtime {
    fn host(&self, host: HostId) -> &HostRt {
        &self.hosts[host.index()]
    }

    /// Each host's engine takes its own targets (an empty set stops it).
    fn by_host(&self, targets: Vec<Target>) -> Vec<Vec<Target>> {
        let mut split = vec![Vec::new(); self.hosts.len()];
        for t in targets {
            split[t.host.index()].push(t);
        }
        split
    }

    /// What the engines cost: summed, each host's path and share named
    /// when there are several.
    fn cost(&self) -> Cost {
        let costs: Vec<Cost> = self.hosts.iter().map(|h| h.engine.cost()).collect();
        let mut sum = Cost {
            direct: costs.iter().map(|c| c.direct).sum(),
            streams: costs.iter().map(|c| c.streams).sum(),
            wire_bytes: costs.iter().map(|c| c.wire_bytes).sum(),
            ..Cost::default()
        };
        // One path when every host has it ("cgroup v1"), else each host's.
        let mut paths: Vec<&str> = costs.iter().map(|c| c.path.as_str()).collect();
        paths.dedup();
        sum.path = match paths[..] {
            [one] => one.to_string(),
            _ => self
                .hosts
                .iter()
                .zip(&costs)
                .map(|(h, c)| format!("{} {}", h.name, c.path))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if self.hosts.len() > 1 {
            sum.hosts = self
                .hosts
                .iter()
                .zip(costs)
                .map(|(h, c)| (h.name.clone(), c.path, c.direct, c.streams))
                .collect();
        }
        sum
    }

    fn run_cmd(&mut self, cmd: Cmd) {
        let topology = self.topology.clone();
        let tx = self.tx.clone();
        match cmd {
            Cmd::Quit => {}
            Cmd::Inspect { host, id } => {
                let h = self.host(host);
                h.inspector.request(topology, id, h.tx.clone());
            }
            Cmd::Resync { host, known } => {
                let h = self.host(host);
                let (docker, tx, manager) =
                    (h.docker.clone(), h.tx.clone(), h.swarm_manager.clone());
                let (started, name) = (self.started, h.name.clone());
                tokio::spawn(async move {
                    // `docker info` is slow on a big host: ask it alongside
                    // the listing, which uses the role known so far.
                    if known.is_empty()
                        && let Ok(quick) = sources::list_quick(&docker, &topology).await
                    {
                        // A full listing inspects every container: show them
                        // (and start their figures) from `docker ps` first.
                        let _ = tx.send(Msg::Listing(quick)).await;
                    }
                    let was_manager = manager.load(Ordering::Relaxed);
                    let (info, listing) = tokio::join!(
                        crate::connect::daemon_info(&docker),
                        sources::list(&docker, &topology, &known, was_manager)
                    );
                    if let Ok(info) = info {
                        manager.store(info.is_swarm_manager(), Ordering::Relaxed);
                        let _ = tx.send(Msg::Daemon(info)).await;
                    }
                    if known.is_empty() {
                        // A full listing: at start, or after an outage.
                        log::info!(
                            "{name}: inventory listed {} ms after start",
                            started.elapsed().as_millis()
                        );
                    }
                    let msg = match listing {
                        Ok(listing) => Msg::Listing(listing),
                        Err(e) => Msg::SourceError {
                            source: sources::Source::Inventory,
                            error: crate::connect::with_causes(&e),
                        },
                    };
                    let _ = tx.send(msg).await;
                });
            }
            // Asks arriving while a listing runs make one more, not one each.
            Cmd::ListSwarm => self.swarm_list.notify_one(),
            Cmd::ListNetworks(host) => {
                let h = self.host(host);
                let (docker, tx) = (h.docker.clone(), h.tx.clone());
                tokio::spawn(async move {
                    if let Ok(networks) = sources::list_networks(&docker).await {
                        let _ = tx.send(Msg::Networks(networks)).await;
                    }
                });
            }
            Cmd::Remote { host, state } => self.hosts[host.index()].engine.remote(state),
            Cmd::StreamInstead(targets) => {
                for (h, targets) in self.by_host(targets).into_iter().enumerate() {
                    if !targets.is_empty() {
                        self.hosts[h].engine.stream_instead(targets);
                    }
                }
            }
            Cmd::WatchStats(targets) => {
                for (h, targets) in self.by_host(targets).into_iter().enumerate() {
                    self.hosts[h].engine.watch(&targets);
                }
                log::debug!("stats: {:?}", self.cost());
            }
            Cmd::Prom(requests) => {
                let Some(client) = self.prom.clone() else {
                    return;
                };
                let requests: Vec<_> = {
                    let mut busy = self.prom_in_flight.lock().expect("not poisoned");
                    requests
                        .into_iter()
                        .filter(|r| busy.insert((r.key.clone(), r.chart)))
                        .collect()
                };
                if requests.is_empty() {
                    return;
                }
                let (busy, permits) = (self.prom_in_flight.clone(), self.prom_permits.clone());
                tokio::spawn(async move {
                    let asks = requests.into_iter().map(|req| {
                        let (client, permits) = (client.clone(), permits.clone());
                        async move {
                            let _permit = permits.acquire().await;
                            let result = client.run(&req.query).await;
                            (req, result)
                        }
                    });
                    let results = futures_util::future::join_all(asks).await;
                    {
                        let mut busy = busy.lock().expect("not poisoned");
                        for (r, _) in &results {
                            busy.remove(&(r.key.clone(), r.chart));
                        }
                    }
                    let _ = tx.send(Msg::PromResults(results)).await;
                });
            }
            Cmd::FollowLogs { pane, follows } => {
                let streams = self.log_streams.entry(pane).or_default();
                for f in follows {
                    let task = tokio::spawn(sources::follow_logs(
                        (*self.hosts[f.host.index()].docker).clone(),
                        pane,
                        f.source,
                        f.id,
                        f.tail,
                        f.since,
                        tx.clone(),
                    ));
                    streams.push(task.abort_handle());
                }
            }
            Cmd::StopLogs(pane) => {
                for s in self.log_streams.remove(&pane).unwrap_or_default() {
                    s.abort();
                }
            }
            Cmd::Exec { .. } => {} // run by the loop: it needs the terminal
            Cmd::SaveLogs { path, text, lines } => {
                tokio::task::spawn_blocking(move || {
                    let said = crate::logs::write_file(&path, &text)
                        .map(|()| format!("saved {lines} lines to {}", path.display()));
                    let _ = tx.blocking_send(Msg::LogsSaved(said));
                });
            }
            Cmd::RunOp { .. }
            | Cmd::CancelOp(_)
            | Cmd::StartRollout { .. }
            | Cmd::RolloutControl { .. }
            | Cmd::CloseInterrupted { .. } => {
                self.work.handle(cmd, &tx);
            }
            Cmd::Backfill { events } => {
                let Some(path) = self.store.clone() else {
                    return;
                };
                tokio::task::spawn_blocking(move || {
                    let now = Utc::now();
                    let read = crate::history::Reader::open(&path).and_then(|r| {
                        let cpu = r.recent_cpu(now)?;
                        // Docker's events, alerts and operation results; a
                        // dead replica's last words stay in `:at`.
                        let mut recorded =
                            r.events(now - chrono::Duration::hours(1), now, events)?;
                        recorded.retain(|e| e.source != "log");
                        Ok((cpu, recorded))
                    });
                    match read {
                        Ok((cpu, events)) => {
                            let _ = tx.blocking_send(Msg::Backfill { cpu, events });
                        }
                        Err(e) => log::debug!("history: {e:#}"),
                    }
                });
            }
            Cmd::ReadSeries { kind, name } => {
                let Some(path) = self.store.clone() else {
                    return;
                };
                tokio::task::spawn_blocking(move || {
                    let to = Utc::now();
                    let read = crate::history::Reader::open(&path)
                        .and_then(|r| r.series(kind, &name, to - chrono::Duration::hours(1), to));
                    match read {
                        Ok(series) => {
                            let points = series
                                .into_iter()
                                .map(|(t, g)| (t, g.figures.cpu_pct))
                                .collect();
                            let _ = tx.blocking_send(Msg::Series { kind, name, points });
                        }
                        Err(e) => log::debug!("history: {e:#}"),
                    }
                });
            }
            Cmd::Travel(asked) => {
                let Some(path) = self.store.clone() else {
                    let _ = tx.try_send(Msg::Moment {
                        asked,
                        moment: Err("no history store: recording is off (see --store)".into()),
                    });
                    return;
                };
                tokio::task::spawn_blocking(move || {
                    let moment = crate::history::Reader::open(&path)
                        .and_then(|r| r.moment(asked))
                        .map(|m| m.map(Box::new))
                        .map_err(|e| format!("{e:#}"));
                    let _ = tx.blocking_send(Msg::Moment { asked, moment });
                });
            }
            Cmd::PromAdhoc(query) => {
                let Some(client) = self.prom.clone() else {
                    return;
                };
                tokio::spawn(async move {
                    let result = client.run(&query).await;
                    let _ = tx.send(Msg::PromAdhoc { query, result }).await;
                });
            }
        }
    }
}

/// Task states on the way to running, which no event announces the end of.
const SETTLING: [&str; 7] = [
    "new",
    "allocated",
    "assigned",
    "accepted",
    "preparing",
    "ready",
    "starting",
];

/// The Swarm lister: lists services (with their tasks) and nodes from
/// the first host that is a Swarm manager, each time it is woken. A Swarm
/// with many tasks asks for it on every task container's start and stop;
/// woken while it lists, it lists once more.
fn swarm_lister(
    hosts: Vec<(Arc<Docker>, Arc<AtomicBool>)>,
    topology: Arc<Topology>,
    tx: mpsc::Sender<Msg>,
) -> Arc<tokio::sync::Notify> {
    let wake = Arc::new(tokio::sync::Notify::new());
    let woken = wake.clone();
    tokio::spawn(async move {
        loop {
            woken.notified().await;
            let Some((docker, _)) = hosts.iter().find(|(_, m)| m.load(Ordering::Relaxed)) else {
                continue;
            };
            let (services, nodes) = tokio::join!(
                sources::list_services(docker, &topology),
                sources::list_nodes(docker)
            );
            // A task on its way to running (its health check not passed
            // yet) says so only here: look again in a second until none is.
            let settling = services.as_ref().is_ok_and(|services| {
                services
                    .iter()
                    .flat_map(|s| &s.tasks)
                    .any(|t| SETTLING.contains(&t.state.as_str()))
            });
            if let Ok(services) = services
                && tx.send(Msg::Services(services)).await.is_err()
            {
                return;
            }
            if settling {
                let again = woken.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    again.notify_one();
                });
            }
            if let Ok(nodes) = nodes
                && tx.send(Msg::Nodes(nodes)).await.is_err()
            {
                return;
            }
        }
    });
    wake
}

/// One host as `main` left it: a client (whose daemon may not answer
/// yet), what the daemon said if it did, and how to take its figures.
pub struct HostConn {
    pub docker: Docker,
    /// None: it did not answer at start; it is listed when it does.
    pub info: Option<DaemonInfo>,
    /// From `engine::choose_path`.
    pub path: Chosen,
    /// Where its agent is (`agent_path`), if not found by itself.
    pub agent_path: Option<String>,
}

/// How the runtime takes figures.
pub struct Settings {
    pub refresh: Duration,
    pub max_streams: usize,
    /// Prometheus and how often to ask it.
    pub prometheus: Option<(prometheus::Client, Duration)>,
    /// Where operations are recorded.
    pub journal: Journal,
    /// The flight recorder, its store and its alerts.
    pub history: History,
}

/// The flight recorder as the runtime runs it.
#[derive(Default)]
pub struct History {
    /// The store `:at` reads (recorded by us or by another process).
    pub store: Option<std::path::PathBuf>,
    /// Recording into it: we hold its lock.
    pub recorder: Option<crate::history::Recorder>,
    /// Where alerts go (only the recording process delivers them).
    pub alerts: Option<crate::alerting::Sinks>,
    /// How long an OOM, exit 137 or restart loop stays firing.
    pub quiet: chrono::Duration,
    /// The deployment's name in notices (this machine's host name).
    pub source: String,
}

/// Prometheus queries at once: enough for a screen of cells within a
/// timeout, few enough not to load it.
const PROM_CONCURRENCY: usize = 4;

/// Run the dashboard until the user quits. The terminal is already in TUI
/// mode; the caller restores it.
pub async fn run(
    mut terminal: Option<&mut ratatui::DefaultTerminal>,
    mut app: App,
    conns: Vec<HostConn>,
    settings: Settings,
) -> std::io::Result<()> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let topology = app.fleet.topology.clone();
    let prom = settings
        .prometheus
        .as_ref()
        .map(|(c, _)| Arc::new(c.clone()));
    let context = exec::Context {
        // The pid tells a later agile-deck whether this run still runs.
        run: format!(
            "{}-p{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            std::process::id()
        ),
        user: crate::journal::os_user(),
        host: app.hosts.first().label(),
    };
    let mut hosts = Vec::new();
    let mut infos = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let id = HostId(i as u16);
        let docker = Arc::new(conn.docker);
        // Not heard from yet: a local daemon has this machine's memory.
        let mem_total = match &conn.info {
            Some(i) => i.mem_total,
            None => crate::cgroup::local_memory(),
        };
        let manager = conn.info.as_ref().is_some_and(|i| i.is_swarm_manager());
        let htx = sources::wrapping(tx.clone(), move |m| Msg::OnHost(id, Box::new(m)));
        let path = match conn.path {
            Chosen::Cgroup(layout) => Path::Cgroup(*layout),
            Chosen::Api => Path::Api,
            Chosen::Agent => Path::Remote(Box::new(crate::agent::link::start(
                crate::agent::link::Settings {
                    url: app.hosts.get(id).url.clone(),
                    name: app.hosts.name(id).to_string(),
                    agent_path: conn.agent_path,
                    every: settings.refresh,
                },
                htx.clone(),
            ))),
        };
        hosts.push(HostRt {
            engine: Engine::new(
                path,
                settings.refresh,
                mem_total,
                docker.clone(),
                htx.clone(),
                settings.max_streams,
            ),
            inspector: sources::Inspector::new(docker.clone()),
            docker,
            tx: htx,
            swarm_manager: Arc::new(AtomicBool::new(manager)),
            name: app.hosts.name(id).to_string(),
        });
        infos.push((id, conn.info));
    }
    let mut work = Work::new(
        hosts
            .iter()
            .zip(app.hosts.iter())
            .map(|(h, (_, host))| (h.docker.clone(), host.label()))
            .collect(),
        topology.clone(),
        Arc::new(settings.journal),
        context,
    );
    work.prom = prom.clone();
    let lister_hosts = hosts
        .iter()
        .map(|h| (h.docker.clone(), h.swarm_manager.clone()))
        .collect();
    let mut rt = Runtime {
        hosts,
        topology,
        tx: tx.clone(),
        started,
        prom,
        prom_in_flight: Default::default(),
        prom_permits: Arc::new(tokio::sync::Semaphore::new(PROM_CONCURRENCY)),
        swarm_list: swarm_lister(lister_hosts, app.fleet.topology.clone(), tx.clone()),
        work,
        log_streams: HashMap::new(),
        store: settings.history.store.clone(),
    };
    for e in Journal::tail(&rt.work.journal.path, 200) {
        app.ops.journaled(e);
    }
    // Without Prometheus the timer never fires (a day is as good as never).
    let prom_every = settings
        .prometheus
        .as_ref()
        .map(|(_, every)| *every)
        .unwrap_or(Duration::from_secs(86_400));
    let mut prom_tick = tokio::time::interval(prom_every);
    prom_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    app.update(Msg::Started {
        stats_cap: rt
            .hosts
            .iter()
            .map(|h| h.engine.target_cap())
            .fold(0, usize::saturating_add),
        cost: rt.cost(),
        local_offset: *chrono::Local::now().offset(),
    });
    log::info!("stats: {}", app.engine.path);
    let mut own = engine::OwnUsage::now();
    let mut engine_line = tokio::time::interval(ENGINE_LINE);
    engine_line.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Headless, a tall screen: every row counts as on screen, so every
    // row's Prometheus cells are asked (for the alerts' thresholds).
    let size = match terminal.as_mut() {
        Some(t) => t.size()?,
        None => ratatui::layout::Size::new(240, 2000),
    };
    app.update(Msg::Resize {
        width: size.width,
        height: size.height,
    });
    let mut history = settings.history;
    let notifier = match (&history.recorder, history.alerts.take()) {
        (Some(_), Some(sinks)) if !sinks.is_empty() => {
            Some(crate::alerting::Notifier::start(sinks))
        }
        _ => None,
    };
    let mut tracker = match (&history.recorder, &rt.store) {
        (Some(_), Some(path)) => crate::alerting::Tracker::resume(alerts_recorded(path)),
        _ => crate::alerting::Tracker::default(),
    };
    let mut lines_seen = app.views.timeline.inserted;
    let mut journal_news = crate::journal::Follower::at_end(&rt.work.journal.path);
    let mut record_tick = tokio::time::interval(crate::history::EVERY);
    record_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    use tokio::signal::unix::{SignalKind, signal};
    let mut stop = signal(SignalKind::terminate())?;
    // The operator's SSH session dropped (or tmux's pane closed): end as
    // on `q`, so the recording is finished and the relays' folders and ssh
    // connections go, rather than dying where the signal found us. Unless
    // started under `nohup` (a `record` meant to outlive its session).
    let mut hangup = match hangup_ignored() {
        true => None,
        false => Some(signal(SignalKind::hangup())?),
    };
    for (host, info) in infos {
        let h = rt.host(host);
        tokio::spawn(sources::follow_events(
            (*h.docker).clone(),
            h.tx.clone(),
            info.is_some(),
        ));
        // One that did not answer at start is listed when its events
        // stream says it is back.
        if let Some(info) = info {
            app.update(Msg::OnHost(host, Box::new(Msg::Daemon(info))));
            rt.run_cmd(Cmd::Resync {
                host,
                known: Default::default(),
            });
        }
    }

    let mut input = terminal.is_some().then(EventStream::new);
    let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
    // The clock on screen shows minutes: wake once a minute, not every second.
    let next_minute = || {
        let into = Utc::now().timestamp().rem_euclid(60) as u64;
        tokio::time::Instant::now() + Duration::from_secs(60 - into)
    };
    let clock = tokio::time::sleep_until(next_minute());
    tokio::pin!(clock);
    let mut last_draw = Instant::now() - FRAME;
    let mut first_full_screen = false;
    // Lets the end-to-end test prove the terminal is restored after a panic.
    let panic_after_first_frame = std::env::var_os("AGILE_DECK_TEST_PANIC").is_some();

    loop {
        if app.dirty
            && last_draw.elapsed() >= FRAME
            && let Some(terminal) = terminal.as_mut()
        {
            // Ages and the CPU history window are relative to now.
            app.update(Msg::Tick(Utc::now()));
            if let Err(e) = terminal.draw(|f| ui::draw(f, &app)) {
                // Hung up before the signal was read: end as on SIGHUP.
                if crate::terminal::gone() {
                    crate::terminal::hung_up();
                    break;
                }
                return Err(e);
            }
            app.update(Msg::Drawn);
            last_draw = Instant::now();
            if panic_after_first_frame {
                panic!("AGILE_DECK_TEST_PANIC is set: panicking after the first frame");
            }
            if !first_full_screen
                && app.hosts.all_listed()
                && app.fleet.running() > 0
                && app.fleet.all_running_sampled()
            {
                first_full_screen = true;
                log::info!(
                    "first full screen ({} running containers with figures) after {} ms",
                    app.fleet.running(),
                    started.elapsed().as_millis()
                );
            }
        }
        let frame_due = tokio::time::sleep_until((last_draw + FRAME).into());
        let mut cmds = Vec::new();
        let key = async {
            match input.as_mut() {
                Some(i) => i.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = key => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => cmds = app.update(Msg::Key(k)),
                Some(Ok(Event::Resize(w, h))) => cmds = app.update(Msg::Resize { width: w, height: h }),
                Some(Ok(Event::Mouse(m))) => {
                    use crossterm::event::{MouseButton, MouseEventKind};
                    let msg = match m.kind {
                        MouseEventKind::Down(MouseButton::Left) => Some(Msg::Click { column: m.column, row: m.row }),
                        MouseEventKind::ScrollUp => Some(Msg::Wheel { up: true }),
                        MouseEventKind::ScrollDown => Some(Msg::Wheel { up: false }),
                        _ => None,
                    };
                    if let Some(msg) = msg {
                        cmds = app.update(msg);
                    }
                }
                Some(Ok(_)) => {}
                // The input ends when the terminal hangs up, often before
                // SIGHUP is read: end as on it.
                Some(Err(_)) | None if crate::terminal::gone() => {
                    crate::terminal::hung_up();
                    break;
                }
                Some(Err(e)) => return Err(e),
                None => break,
            },
            Some(msg) = rx.recv() => {
                cmds = app.update(msg);
                // Drain what is already queued before drawing: one frame per burst.
                for _ in 0..BATCH {
                    match rx.try_recv() {
                        Ok(msg) => cmds.extend(app.update(msg)),
                        Err(_) => break,
                    }
                }
            }
            _ = resync.tick() => cmds = app.update(Msg::ResyncDue),
            _ = prom_tick.tick(), if rt.prom.is_some() => cmds = app.update(Msg::PromDue),
            // Only while the engine line is shown: idle means no work.
            _ = engine_line.tick(), if app.show_engine => {
                let cost = own.measure(rt.cost(), app.samples_seen);
                cmds = app.update(Msg::Engine(cost));
            }
            _ = &mut clock => {
                cmds = app.update(Msg::Tick(Utc::now()));
                clock.as_mut().reset(next_minute());
            }
            _ = frame_due, if app.dirty && terminal.is_some() => {}
            _ = record_tick.tick(), if history.recorder.is_some() => {
                let now = Utc::now();
                app.update(Msg::Tick(now));
                let rec = history.recorder.as_ref().expect("recording");
                rec.frame(crate::history::Frame::of(&app.fleet, &app.hosts, now));
                let mut events = app.recorded_since(&mut lines_seen);
                last_words(&rt, &app, rec.events_sink(), &events);
                events.extend(app.results_of(journal_news.appended()));
                let notices = tracker.update(now, app.alert_conditions(history.quiet), &history.source);
                for n in notices {
                    events.push(app.alert_event(&n, now));
                    if let Some(notifier) = &notifier {
                        notifier.send(n);
                    }
                }
                rec.events(events);
                rec.metrics(now, app.metric_values());
                app.update(Msg::Recording(rec.status()));
            }
            _ = stop.recv() => break,
            _ = next_hangup(&mut hangup) => {
                // A `kill -HUP` with the terminal still there leaves it
                // restored as on `q`.
                if crate::terminal::gone() {
                    crate::terminal::hung_up();
                }
                break;
            }
            _ = tokio::signal::ctrl_c(), if terminal.is_none() => break,
        }
        // A burst (hundreds of inspects returning) may ask for several
        // stats sets: only the last one matters.
        let last_watch = cmds.iter().rposition(|c| matches!(c, Cmd::WatchStats(_)));
        for (i, cmd) in cmds.into_iter().enumerate() {
            if cmd == Cmd::Quit {
                if let Some(r) = history.recorder.take() {
                    r.finish();
                }
                return Ok(());
            }
            if matches!(cmd, Cmd::WatchStats(_)) && Some(i) != last_watch {
                continue;
            }
            // A command in a replica takes the terminal until it ends.
            if let Cmd::Exec {
                host,
                id,
                name,
                command,
            } = &cmd
            {
                let (Some(input), Some(terminal)) = (input.as_mut(), terminal.as_mut()) else {
                    continue;
                };
                let docker = rt.host(*host).docker.clone();
                let line = match crate::shell::session(&docker, input, id, name, command).await {
                    Ok(s) | Err(s) => s,
                };
                terminal.clear()?;
                app.update(Msg::ExecDone(line));
                continue;
            }
            rt.run_cmd(cmd);
        }
    }
    if let Some(r) = history.recorder.take() {
        r.finish();
    }
    Ok(())
}

/// The alert notices recorded in the store at `path`, oldest first, for
/// the tracker to go on from (none, and a warning, if it cannot be read).
fn alerts_recorded(
    path: &std::path::Path,
) -> Vec<(
    DateTime<Utc>,
    crate::alerting::Status,
    crate::alerting::Condition,
)> {
    match crate::history::Reader::open(path).and_then(|r| r.alerts()) {
        Ok(events) => events
            .iter()
            .filter_map(|e| {
                crate::alerting::recorded(e.subject(), &e.severity, &e.detail)
                    .map(|(status, c)| (e.at, status, c))
            })
            .collect(),
        Err(e) => {
            log::warn!(
                "history: the alerts recorded before cannot be read ({e:#}): those still firing are sent again"
            );
            Vec::new()
        }
    }
}

/// Whether SIGHUP is ignored, as `nohup` leaves it.
fn hangup_ignored() -> bool {
    // SAFETY: with no new action, sigaction only writes the current one
    // into `old`, a zeroed sigaction it owns.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// The next hang-up, or never when it is not ours to act on.
async fn next_hangup(hangup: &mut Option<tokio::signal::unix::Signal>) {
    match hangup {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Lines of a dead replica's log the recorder keeps.
const LAST_WORDS: usize = 40;

/// A replica that died (or was OOM-killed) since the last frame: its last
/// log lines go into the store as `log` events, so what it said before it
/// died is there after it is gone. Fetched on its host's client, off the
/// loop; a container already removed has nothing to give.
fn last_words(
    rt: &Runtime,
    app: &App,
    sink: crate::history::Sink,
    events: &[crate::history::Event],
) {
    let mut seen = std::collections::HashSet::new();
    for e in events {
        let Some(id) = e.container_id.as_deref() else {
            continue;
        };
        if !matches!(e.event.as_str(), "die" | "oom") || !seen.insert(id.to_string()) {
            continue;
        }
        let Some(host) = app.hosts.by_name(&e.host) else {
            continue;
        };
        let docker = rt.host(host).docker.clone();
        let (id, who) = (id.to_string(), e.clone());
        let sink = sink.clone();
        tokio::spawn(async move {
            let Ok(lines) = sources::last_lines(&docker, &id, LAST_WORDS).await else {
                return;
            };
            sink.events(
                lines
                    .into_iter()
                    .map(|(at, stderr, text)| crate::history::Event {
                        at,
                        source: "log",
                        severity: if stderr { "warning" } else { "info" }.to_string(),
                        event: if stderr { "log !" } else { "log" }.to_string(),
                        detail: text,
                        ..who.clone()
                    })
                    .collect(),
            );
        });
    }
}
