//! The stats engine: live figures of the watched containers, by one of two
//! paths behind one interface (`watch` the set the app wants).
//!
//! - **cgroup**: when the daemon is local and the cgroup files are
//!   readable, one thread reads every watched container's files once a
//!   refresh and sends one batch. No Docker API call per container, so the
//!   daemon and its shims do no work for us.
//! - **API**: one Docker stats stream per watched container, up to a cap
//!   (a remote daemon, no cgroup access, or a container whose cgroup
//!   cannot be found). The daemon pays for each stream, so the app asks
//!   only for what is on screen or summed, and marks partial aggregates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::cgroup::{self, Files, Layout, Reader, Reading, Source, SystemCpu};
use crate::stats;

/// What the engine tells whoever listens (the app's `Msg` is `From` it):
/// its own message, so the engine does not depend on the app.
#[derive(Debug)]
pub enum Report {
    /// Figures of some containers, read at about the same time.
    Stats {
        at: DateTime<Utc>,
        samples: Vec<(String, stats::Sample)>,
    },
    /// The cgroup reader found no cgroup for these containers.
    NoCgroup(Vec<Target>),
    /// The remote reader (the host's agent) changed state.
    Remote(Remote),
}

/// The state of a remote reader, as the header says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    /// Reading, e.g. "agent 0.1.0, cgroup v2".
    Up(String),
    /// It cannot read this host (not installed, another protocol, no
    /// cgroup files): figures come from Docker's stats streams; why.
    Unusable(String),
    /// Its channel dropped; reconnecting. The host's figures are stale.
    Lost(String),
}

/// Reads the cgroup files of the containers it is given and sends
/// `Report`s: the local sampler thread, or agile-deck's agent on the
/// daemon's machine (over ssh), with the same code there.
pub trait CgroupReader: Send {
    /// Read exactly these from now on.
    fn set(&self, targets: Vec<Target>);
    /// Bytes it has received from another machine, if it reads there.
    fn wire_bytes(&self) -> u64 {
        0
    }
}

/// How often the cgroup path reads every container by default (as
/// `docker stats`, whose streams are fixed at one second).
pub const REFRESH: Duration = Duration::from_secs(1);
/// A new container's second read comes this soon, so its first CPU
/// figure is on screen well before a full refresh.
const FIRST_DELTA: Duration = Duration::from_millis(100);
/// Shortest time between two reads of a container: CPU over a shorter
/// window is mostly noise.
const MIN_WINDOW: Duration = Duration::from_millis(50);

/// Which path to use (`--stats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// cgroup files when the daemon is local and they are readable, else the API.
    Auto,
    /// cgroup files only; refuse to start if they cannot be read.
    Cgroup,
    /// Docker stats streams only.
    Api,
    /// agile-deck's agent on an `ssh://` host (auto does this there);
    /// Docker stats streams while it cannot be used.
    Agent,
}

/// How to read a host's figures, as `choose_path` decides it.
#[derive(Clone, Debug, PartialEq)]
pub enum Chosen {
    Cgroup(Box<Layout>),
    /// Through the agent on the daemon's machine (`ssh://`).
    Agent,
    Api,
}

impl Chosen {
    /// The path for a reader that starts no agent (a one-shot snapshot):
    /// an agent's host takes Docker's stats streams.
    pub fn without_agent(self) -> Path {
        match self {
            Chosen::Cgroup(layout) => Path::Cgroup(*layout),
            Chosen::Agent | Chosen::Api => Path::Api,
        }
    }
}

/// What the engine reads with.
pub enum Path {
    Cgroup(Layout),
    Remote(Box<dyn CgroupReader>),
    Api,
}

/// A container to watch: its id and, if running, its main process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Whose engine takes it (each host has its own).
    pub host: crate::model::HostId,
    pub id: String,
    pub pid: Option<u32>,
}

/// What the engine costs right now, for the engine line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cost {
    /// "cgroup v1", "cgroup v2" or "Docker API".
    pub path: String,
    /// Containers read from cgroup files.
    pub direct: usize,
    /// Docker stats streams open.
    pub streams: usize,
    /// Figures taken per second, both paths (the app counts them).
    pub samples_per_sec: f64,
    /// agile-deck's own CPU (% of one core) and resident memory.
    pub cpu_pct: f64,
    pub rss_bytes: u64,
    /// With several hosts, each one's share: (name, path, direct, streams).
    pub hosts: Vec<(String, String, usize, usize)>,
    /// Bytes the agents sent so far, and per second (the app measures it).
    pub wire_bytes: u64,
    pub wire_per_sec: f64,
}

/// agile-deck's own CPU time and memory, from /proc/self, between two
/// measurements: the cost the engine line shows.
pub struct OwnUsage {
    at: Instant,
    cpu_ticks: u64,
    samples: u64,
    wire_bytes: u64,
}

impl OwnUsage {
    pub fn now() -> OwnUsage {
        OwnUsage {
            at: Instant::now(),
            cpu_ticks: proc_self().0,
            samples: 0,
            wire_bytes: 0,
        }
    }

    /// `cost` with its rates filled in since the last call.
    pub fn measure(&mut self, mut cost: Cost, samples_seen: u64) -> Cost {
        let (ticks, rss) = proc_self();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        cost.samples_per_sec = samples_seen.saturating_sub(self.samples) as f64 / secs;
        cost.wire_per_sec = cost.wire_bytes.saturating_sub(self.wire_bytes) as f64 / secs;
        cost.cpu_pct = ticks.saturating_sub(self.cpu_ticks) as f64 / CLOCK_TICKS / secs * 100.0;
        cost.rss_bytes = rss;
        *self = OwnUsage {
            at: Instant::now(),
            cpu_ticks: ticks,
            samples: samples_seen,
            wire_bytes: cost.wire_bytes,
        };
        cost
    }
}

/// USER_HZ: the unit of CPU times in /proc (100 on every Linux platform).
const CLOCK_TICKS: f64 = 100.0;

/// (utime + stime in ticks, resident bytes) of this process.
fn proc_self() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which may contain spaces.
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    // utime + stime
    (field(11) + field(12), rss_kib * 1024)
}

/// Where the daemon runs, as its URL tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A unix socket: this machine.
    Local,
    /// `ssh://`: a machine agile-deck's agent can run on.
    Ssh,
    /// `tcp://`: only the Docker API reaches it.
    Remote,
}

impl Place {
    pub fn of_url(url: &str) -> Place {
        if url.starts_with("unix://") {
            Place::Local
        } else if url.starts_with("ssh://") {
            Place::Ssh
        } else {
            Place::Remote
        }
    }
}

/// How to read a host's figures. Fails only when a path is forced and
/// cannot work there.
pub fn choose_path(mode: Mode, place: Place, cgroup_version: &str) -> Result<Chosen, String> {
    match (mode, place) {
        (Mode::Api, _) => Ok(Chosen::Api),
        (Mode::Auto | Mode::Agent, Place::Ssh) => Ok(Chosen::Agent),
        (Mode::Auto, Place::Remote) => {
            log::info!("stats: the daemon is remote: Docker stats streams");
            Ok(Chosen::Api)
        }
        (Mode::Auto, Place::Local) => Ok(Layout::detect(cgroup_version)
            .inspect_err(|e| log::info!("stats: {e}: Docker stats streams instead"))
            .map_or(Chosen::Api, |l| Chosen::Cgroup(Box::new(l)))),
        (Mode::Cgroup, Place::Local) => Layout::detect(cgroup_version)
            .map(|l| Chosen::Cgroup(Box::new(l)))
            .map_err(|e| format!("--stats cgroup: {e}. Use --stats api or auto.")),
        (Mode::Cgroup, _) => Err(
            "--stats cgroup needs a local daemon (a unix socket): its cgroup files are on \
             its own machine. Use --stats agent (ssh://), api or auto."
                .into(),
        ),
        (Mode::Agent, _) => Err(
            "--stats agent needs an ssh:// host: the agent runs there through ssh. \
             Use --stats auto or api."
                .into(),
        ),
    }
}

pub struct Engine<M> {
    figures: Figures,
    api: StatsWatcher<M>,
    /// Most API streams at once (the cgroup path has no cap).
    api_cap: usize,
    /// What the app asked for last, in priority order.
    targets: Vec<Target>,
    /// Targets the sampler found no cgroup for: streamed from the API.
    no_cgroup: HashSet<Target>,
    direct: usize,
}

impl<M: From<Report> + Send + 'static> Engine<M> {
    /// `host_mem` caps memory limits as the daemon does. With a layout,
    /// the sampler starts reading every container it finds in the cgroup
    /// tree at once, while the app is still waiting for `docker ps` to
    /// name them.
    pub fn new(
        path: Path,
        refresh: Duration,
        host_mem: u64,
        docker: Arc<Docker>,
        tx: Sender<M>,
        api_cap: usize,
    ) -> Engine<M> {
        let figures = match path {
            Path::Cgroup(l) => Figures::Local {
                version: l.version(),
                sampler: Sampler::start(l, tx.clone(), refresh, host_mem),
            },
            Path::Remote(r) => Figures::Remote {
                reader: r,
                state: None,
            },
            Path::Api => Figures::Api,
        };
        Engine {
            figures,
            api: StatsWatcher::new(docker, tx),
            api_cap,
            targets: Vec::new(),
            no_cgroup: HashSet::new(),
            direct: 0,
        }
    }

    /// The most containers the app should ask for: the cgroup path reads
    /// them all; streams cost the daemon, so they are capped.
    pub fn target_cap(&self) -> usize {
        if self.figures.cgroup().is_some() {
            usize::MAX
        } else {
            self.api_cap
        }
    }

    pub fn path_name(&self) -> String {
        match &self.figures {
            Figures::Local { version, .. } => format!("cgroup v{version}"),
            Figures::Remote {
                state: Some(Remote::Up(what)),
                ..
            } => what.clone(),
            Figures::Remote {
                state: Some(Remote::Lost(_)),
                ..
            } => "agent (reconnecting)".into(),
            Figures::Remote {
                state: Some(Remote::Unusable(_)),
                ..
            } => "Docker API (no agent)".into(),
            Figures::Remote { state: None, .. } => "agent (starting)".into(),
            Figures::Api => "Docker API".into(),
        }
    }

    /// The remote reader's new state: while it cannot be used, Docker's
    /// stats streams take its containers. (While it reconnects they wait:
    /// the host is lost, and a stream per container is what the agent
    /// spares the host.)
    pub fn remote(&mut self, now: Remote) {
        if let Figures::Remote { state, .. } = &mut self.figures {
            *state = Some(now);
            self.apply();
        }
    }

    /// Watch exactly `targets`, in priority order: the sampler reads the
    /// ones whose cgroup it finds, the API streams the others (up to the
    /// cap), the rest are stopped.
    pub fn watch(&mut self, targets: &[Target]) {
        self.targets = targets.to_vec();
        self.apply();
    }

    /// The sampler found no cgroup for `targets`: stream them instead.
    pub fn stream_instead(&mut self, targets: Vec<Target>) {
        for t in &targets {
            log::info!(
                "stats: no cgroup found for {}: streaming it from the API",
                &t.id[..t.id.len().min(12)]
            );
        }
        self.no_cgroup.extend(targets);
        self.apply();
    }

    fn apply(&mut self) {
        let Some(sampler) = self.figures.cgroup() else {
            let ids: Vec<String> = self
                .targets
                .iter()
                .take(self.api_cap)
                .map(|t| t.id.clone())
                .collect();
            self.api.watch(&ids);
            return;
        };
        let wanted: HashSet<&Target> = self.targets.iter().collect();
        self.no_cgroup.retain(|t| wanted.contains(t));
        let (streamed, direct): (Vec<&Target>, Vec<&Target>) = self
            .targets
            .iter()
            .partition(|t| self.no_cgroup.contains(*t));
        self.direct = direct.len();
        sampler.set(direct.into_iter().cloned().collect());
        let ids: Vec<String> = streamed
            .into_iter()
            .take(self.api_cap)
            .map(|t| t.id.clone())
            .collect();
        self.api.watch(&ids);
    }

    pub fn cost(&self) -> Cost {
        Cost {
            path: self.path_name(),
            direct: self.direct,
            streams: self.api.open_streams(),
            wire_bytes: match &self.figures {
                Figures::Remote { reader, .. } => reader.wire_bytes(),
                _ => 0,
            },
            ..Cost::default()
        }
    }
}

/// What reads the cgroup files, if anything does.
enum Figures {
    Local {
        version: u8,
        sampler: Sampler,
    },
    Remote {
        reader: Box<dyn CgroupReader>,
        /// None until it says.
        state: Option<Remote>,
    },
    Api,
}

impl Figures {
    /// Where the cgroup figures come from now, if they do.
    fn cgroup(&self) -> Option<&dyn CgroupReader> {
        match self {
            Figures::Local { sampler, .. } => Some(sampler),
            Figures::Remote {
                state: Some(Remote::Unusable(_)),
                ..
            } => None,
            Figures::Remote { reader, .. } => Some(reader.as_ref()),
            Figures::Api => None,
        }
    }
}

/// The thread that reads cgroup files.
pub struct Sampler {
    set: std_mpsc::Sender<Vec<Target>>,
}

impl Sampler {
    /// Read `layout`'s files in a thread of its own, sending to `tx`.
    pub fn start<M: From<Report> + Send + 'static>(
        layout: Layout,
        tx: Sender<M>,
        refresh: Duration,
        host_mem: u64,
    ) -> Sampler {
        let (set, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("cgroup-sampler".into())
            .spawn(move || {
                let mut s = SamplerState::new(layout, host_mem);
                s.warm_up();
                sample_loop(s, rx, tx, refresh)
            })
            .expect("spawn the cgroup sampler thread");
        Sampler { set }
    }
}

impl CgroupReader for Sampler {
    fn set(&self, targets: Vec<Target>) {
        // Fails only when the thread ended with the app's channel.
        let _ = self.set.send(targets);
    }
}

/// One tracked container of the sampler.
struct Tracked {
    /// The main process the app knows of (None: from `docker ps`, or warm).
    pid: Option<u32>,
    files: Files,
    reader: Reader,
    last: Option<Reading>,
    /// No figures sent yet: due for its quick second read.
    fresh: bool,
}

/// What the sampler thread owns.
struct SamplerState {
    layout: Layout,
    host_mem: u64,
    tracked: HashMap<String, Tracked>,
    /// Read once before the app named them (see `warm_up`); the first set
    /// takes what it wants, the rest is closed.
    warm: HashMap<String, Tracked>,
    /// Descriptors the readers may hold open, and /proc/stat.
    budget: usize,
    stat: Source,
    buf: Vec<u8>,
}

impl SamplerState {
    fn new(layout: Layout, host_mem: u64) -> SamplerState {
        let mut budget = cgroup::descriptor_budget();
        let stat = SystemCpu::source(&mut budget);
        SamplerState {
            layout,
            host_mem,
            tracked: HashMap::new(),
            warm: HashMap::new(),
            budget,
            stat,
            buf: Vec::new(),
        }
    }

    fn system(&mut self) -> SystemCpu {
        SystemCpu::read(&self.stat, &mut self.buf)
    }

    /// Open and read every container of the cgroup tree once, before
    /// `docker ps` answers (a few hundred ms with 500 containers): the
    /// opens are most of a first read's cost, and the first figures need
    /// two reads.
    fn warm_up(&mut self) {
        let system = self.system();
        let mut spare = self.budget;
        for (id, rel) in self.layout.containers() {
            let Some(files) = self.layout.files_in(&rel, None) else {
                continue;
            };
            let t = self.start(None, files, system, &mut spare);
            // Not a container after all (its files cannot be read): forget it.
            if t.last.is_some() {
                self.warm.insert(id, t);
            }
        }
    }

    fn start(
        &mut self,
        pid: Option<u32>,
        files: Files,
        system: SystemCpu,
        spare: &mut usize,
    ) -> Tracked {
        let reader = files.open(spare);
        Tracked {
            pid,
            last: read(&reader, system, &mut self.buf),
            reader,
            files,
            fresh: true,
        }
    }

    /// Track exactly `targets`; returns those whose cgroup is not found,
    /// and when the earliest container without figures is due for its
    /// quick second read.
    fn set(&mut self, targets: Vec<Target>) -> (Vec<Target>, Option<Instant>) {
        // Warm readings the set does not take are closed on return.
        let mut warm = std::mem::take(&mut self.warm);
        let mut next: HashMap<String, Tracked> = HashMap::with_capacity(targets.len());
        let mut new = Vec::new();
        for target in targets {
            let old = self
                .tracked
                .remove(&target.id)
                .or_else(|| warm.remove(&target.id));
            match old {
                Some(t) if t.pid == target.pid => {
                    next.insert(target.id, t);
                }
                old => new.push((target, old)),
            }
        }
        // Containers no longer watched close their files here, before the
        // new ones count what is left of the budget.
        self.tracked = next;
        let held = |m: &HashMap<String, Tracked>| m.values().map(|t| t.reader.held()).sum();
        let mut spare = self
            .budget
            .saturating_sub(held(&self.tracked))
            .saturating_sub(held(&warm));
        let system = self.system();
        let mut no_cgroup = Vec::new();
        for (target, old) in new {
            let Some(files) = self.layout.resolve(&target.id, target.pid) else {
                no_cgroup.push(target);
                continue;
            };
            // The same files, read under another pid: go on from there.
            let t = match old.filter(|t| t.files == files) {
                Some(mut t) => {
                    t.pid = target.pid;
                    t
                }
                None => self.start(target.pid, files, system, &mut spare),
            };
            self.tracked.insert(target.id, t);
        }
        let quick = self
            .tracked
            .values()
            .filter(|t| t.fresh)
            .map(|t| t.last.map_or_else(Instant::now, |l| l.mono + FIRST_DELTA))
            .min();
        (no_cgroup, quick)
    }
}

/// Read every tracked container once per `refresh`, send one batch. Blocks
/// (no work at all) while nothing is watched; ends when the app is gone.
fn sample_loop<M: From<Report>>(
    mut s: SamplerState,
    rx: std_mpsc::Receiver<Vec<Target>>,
    tx: Sender<M>,
    refresh: Duration,
) {
    let mut next_refresh = Instant::now() + refresh;
    let mut quick: Option<Instant> = None;
    loop {
        let set = if s.tracked.is_empty() {
            match rx.recv() {
                Ok(set) => {
                    next_refresh = Instant::now() + refresh;
                    Some(set)
                }
                Err(_) => return,
            }
        } else {
            let due = quick.map_or(next_refresh, |q| q.min(next_refresh));
            match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(set) => Some(set),
                Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        if let Some(mut set) = set {
            // Only the newest set matters.
            while let Ok(newer) = rx.try_recv() {
                set = newer;
            }
            let (no_cgroup, due) = s.set(set);
            quick = due;
            if !no_cgroup.is_empty()
                && tx
                    .blocking_send(Report::NoCgroup(no_cgroup).into())
                    .is_err()
            {
                return;
            }
            continue;
        }
        let now = Instant::now();
        let full = now >= next_refresh;
        if full {
            next_refresh += refresh;
            if next_refresh <= now {
                next_refresh = now + refresh; // we were suspended: do not catch up
            }
        }
        let at = Utc::now();
        // Once per batch: every container's CPU is over the same system time.
        let system = s.system();
        let mut samples = Vec::with_capacity(if full { s.tracked.len() } else { 8 });
        let mut vanished = Vec::new();
        for (id, t) in s.tracked.iter_mut().filter(|(_, t)| full || t.fresh) {
            if t.last
                .is_some_and(|l| now.duration_since(l.mono) < MIN_WINDOW)
            {
                continue; // just read (joined a moment ago): next time
            }
            let Some(reading) = read(&t.reader, system, &mut s.buf) else {
                vanished.push(id.clone());
                continue;
            };
            if let Some(prev) = &t.last {
                samples.push((id.clone(), cgroup::sample(prev, &reading, s.host_mem)));
                t.fresh = false;
            }
            t.last = Some(reading);
        }
        // A container removed between reads: its directory went with it.
        // Events take it off the screen; stop reading it.
        for id in vanished {
            s.tracked.remove(&id);
        }
        // Read too recently to give a figure yet (joined during a long
        // read): try again shortly rather than at the next refresh.
        quick = s
            .tracked
            .values()
            .any(|t| t.fresh)
            .then(|| Instant::now() + MIN_WINDOW);
        if !samples.is_empty()
            && tx
                .blocking_send(Report::Stats { at, samples }.into())
                .is_err()
        {
            return;
        }
    }
}

fn read(reader: &Reader, system: SystemCpu, buf: &mut Vec<u8>) -> Option<Reading> {
    let raw = reader.read(buf).ok()?;
    Some(Reading {
        raw,
        system,
        mono: Instant::now(),
        at: Utc::now(),
    })
}

/// Stream stats of one container until it stops or the task is aborted.
async fn stream_stats<M: From<Report>>(docker: Docker, id: String, tx: Sender<M>) {
    let mut stream = docker.stats(
        &id,
        Some(StatsOptions {
            stream: true,
            one_shot: false,
        }),
    );
    let mut prev: Option<stats::Counters> = None;
    while let Some(Ok(s)) = stream.next().await {
        let counters = stats::counters(&s);
        // A stopped container keeps sending zeroed readings: stop there.
        let Some(at) = counters.at else { break };
        let sample = stats::sample(&s, prev.as_ref());
        prev = Some(counters);
        // The first reading has no CPU figure yet: wait for the second.
        let Some(sample) = sample else { continue };
        let report = Report::Stats {
            at,
            samples: vec![(id.clone(), sample)],
        };
        if tx.send(report.into()).await.is_err() {
            return;
        }
    }
}

/// Keeps one stats stream open per watched container, and no others.
pub struct StatsWatcher<M> {
    docker: Arc<Docker>,
    tx: Sender<M>,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl<M: From<Report> + Send + 'static> StatsWatcher<M> {
    pub fn new(docker: Arc<Docker>, tx: Sender<M>) -> StatsWatcher<M> {
        StatsWatcher {
            docker,
            tx,
            tasks: HashMap::new(),
        }
    }

    /// Open streams for `wanted` that are not open (or ended), close the rest.
    pub fn watch(&mut self, wanted: &[String]) {
        let wanted_set: HashSet<&String> = wanted.iter().collect();
        self.tasks.retain(|id, task| {
            let keep = wanted_set.contains(id) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for id in wanted {
            if !self.tasks.contains_key(id) {
                let task = tokio::spawn(stream_stats(
                    (*self.docker).clone(),
                    id.clone(),
                    self.tx.clone(),
                ));
                self.tasks.insert(id.clone(), task);
            }
        }
    }

    pub fn open_streams(&self) -> usize {
        self.tasks.values().filter(|t| !t.is_finished()).count()
    }
}

impl<M> Drop for StatsWatcher<M> {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::tests::{FAKE_ID, fake_tree};

    #[test]
    fn paths_by_mode_and_place() {
        use Place::*;
        assert_eq!(Place::of_url("ssh://ops@web-2"), Ssh);
        assert_eq!(Place::of_url("unix:///var/run/docker.sock"), Local);
        assert_eq!(Place::of_url("tcp://db-1:2376"), Remote);
        for place in [Local, Ssh, Remote] {
            assert_eq!(choose_path(Mode::Api, place, "2"), Ok(Chosen::Api));
        }
        assert_eq!(choose_path(Mode::Auto, Ssh, ""), Ok(Chosen::Agent));
        assert_eq!(choose_path(Mode::Agent, Ssh, ""), Ok(Chosen::Agent));
        assert_eq!(choose_path(Mode::Auto, Remote, ""), Ok(Chosen::Api));
        assert!(
            choose_path(Mode::Agent, Local, "")
                .unwrap_err()
                .contains("ssh://")
        );
        assert!(
            choose_path(Mode::Cgroup, Ssh, "")
                .unwrap_err()
                .contains("--stats agent")
        );
        // Without the agent (a one-shot), its host takes Docker's streams.
        assert!(matches!(Chosen::Agent.without_agent(), Path::Api));
    }

    #[test]
    fn the_first_set_goes_on_from_the_warm_up_and_reports_what_it_cannot_read() {
        let (_root, layout) = fake_tree(false);
        let mut s = SamplerState::new(layout, 0);
        s.warm_up();
        let warm_read = s.warm[FAKE_ID].last.unwrap().mono;
        let other = Target {
            host: Default::default(),
            id: "f".repeat(64),
            pid: None,
        };
        let (no_cgroup, due) = s.set(vec![
            Target {
                host: Default::default(),
                id: FAKE_ID.into(),
                pid: None,
            },
            other.clone(),
        ]);
        assert_eq!(no_cgroup, vec![other], "no cgroup: streamed instead");
        // Taken over from the warm-up: not read again, so its second read
        // (the first figures) is due soon after the warm read.
        let t = &s.tracked[FAKE_ID];
        assert_eq!(t.last.unwrap().mono, warm_read);
        assert_eq!(due, Some(warm_read + FIRST_DELTA));
        assert!(s.warm.is_empty(), "the rest of the warm-up is closed");
        assert!(t.reader.held() > 0);
        // The full listing knows its pid: same files, same reading.
        let (no_cgroup, _) = s.set(vec![Target {
            host: Default::default(),
            id: FAKE_ID.into(),
            pid: Some(u32::MAX),
        }]);
        assert!(no_cgroup.is_empty());
        assert_eq!(s.tracked[FAKE_ID].last.unwrap().mono, warm_read);
        // Unwatched: its files are closed.
        s.set(Vec::new());
        assert!(s.tracked.is_empty());
    }
}
