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
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::app::Msg;
use crate::cgroup::{self, Files, Layout, Reading, SystemCpu};
use crate::stats;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// cgroup files when the daemon is local and they are readable, else the API.
    Auto,
    /// cgroup files only; refuse to start if they cannot be read.
    Cgroup,
    /// Docker stats streams only.
    Api,
}

/// A container to watch: its id and, if running, its main process.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
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
}

/// agile-deck's own CPU time and memory, from /proc/self, between two
/// measurements: the cost the engine line shows.
pub struct OwnUsage {
    at: Instant,
    cpu_ticks: u64,
    samples: u64,
}

impl OwnUsage {
    pub fn now() -> OwnUsage {
        OwnUsage {
            at: Instant::now(),
            cpu_ticks: proc_self().0,
            samples: 0,
        }
    }

    /// `cost` with its rates filled in since the last call.
    pub fn measure(&mut self, mut cost: Cost, samples_seen: u64) -> Cost {
        let (ticks, rss) = proc_self();
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        cost.samples_per_sec = samples_seen.saturating_sub(self.samples) as f64 / secs;
        cost.cpu_pct = ticks.saturating_sub(self.cpu_ticks) as f64 / CLOCK_TICKS / secs * 100.0;
        cost.rss_bytes = rss;
        *self = OwnUsage {
            at: Instant::now(),
            cpu_ticks: ticks,
            samples: samples_seen,
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

/// The cgroup layout to read, or None for the API path. Fails only when
/// the cgroup path is forced and cannot work here. `local`: the daemon
/// runs on this machine (a unix socket).
pub fn choose_path(
    mode: Mode,
    local: bool,
    cgroup_version: &str,
) -> Result<Option<Layout>, String> {
    match mode {
        Mode::Api => Ok(None),
        Mode::Auto if !local => {
            log::info!("stats: the daemon is remote: Docker stats streams");
            Ok(None)
        }
        Mode::Auto => Ok(Layout::detect(cgroup_version)
            .inspect_err(|e| log::info!("stats: {e}: Docker stats streams instead"))
            .ok()),
        Mode::Cgroup if !local => Err(
            "--stats cgroup needs a local daemon (a unix socket): its cgroup files are on \
             its own machine. Use --stats api or auto."
                .into(),
        ),
        Mode::Cgroup => Layout::detect(cgroup_version)
            .map(Some)
            .map_err(|e| format!("--stats cgroup: {e}. Use --stats api or auto.")),
    }
}

pub struct Engine {
    layout: Option<Layout>,
    sampler: Option<Sampler>,
    api: StatsWatcher,
    /// Most API streams at once (the cgroup path has no cap).
    api_cap: usize,
    /// Found files per (container, pid); None: not readable, use the API.
    files: HashMap<Target, Option<Files>>,
    direct: usize,
}

impl Engine {
    /// `layout` from `choose_path`; `host_mem` caps memory limits as the
    /// daemon does.
    pub fn new(
        layout: Option<Layout>,
        refresh: Duration,
        host_mem: u64,
        docker: Arc<Docker>,
        tx: Sender<Msg>,
        api_cap: usize,
    ) -> Engine {
        let sampler = layout
            .as_ref()
            .map(|_| Sampler::start(tx.clone(), refresh, host_mem));
        Engine {
            layout,
            sampler,
            api: StatsWatcher::new(docker, tx),
            api_cap,
            files: HashMap::new(),
            direct: 0,
        }
    }

    /// The most containers the app should ask for: the cgroup path reads
    /// them all; streams cost the daemon, so they are capped.
    pub fn target_cap(&self) -> usize {
        if self.layout.is_some() {
            usize::MAX
        } else {
            self.api_cap
        }
    }

    pub fn path_name(&self) -> String {
        match &self.layout {
            Some(l) => format!("cgroup v{}", l.version()),
            None => "Docker API".into(),
        }
    }

    /// Watch exactly `targets`, in priority order: read the ones whose
    /// cgroup is found, stream the others (up to the cap), stop the rest.
    pub fn watch(&mut self, targets: &[Target]) {
        let Some(layout) = &self.layout else {
            let ids: Vec<String> = targets
                .iter()
                .take(self.api_cap)
                .map(|t| t.id.clone())
                .collect();
            self.api.watch(&ids);
            return;
        };
        let wanted: HashSet<&Target> = targets.iter().collect();
        self.files.retain(|t, _| wanted.contains(t));
        let mut direct = Vec::new();
        let mut streamed = Vec::new();
        for t in targets {
            let files = self.files.entry(t.clone()).or_insert_with(|| {
                let f = layout.resolve(&t.id, t.pid);
                if f.is_none() {
                    log::info!(
                        "stats: no cgroup found for {}: streaming it from the API",
                        &t.id[..t.id.len().min(12)]
                    );
                }
                f
            });
            match files {
                Some(f) => direct.push((t.id.clone(), f.clone())),
                None if streamed.len() < self.api_cap => streamed.push(t.id.clone()),
                None => {}
            }
        }
        self.direct = direct.len();
        if let Some(s) = &self.sampler {
            s.set(direct);
        }
        self.api.watch(&streamed);
    }

    pub fn cost(&self) -> Cost {
        Cost {
            path: self.path_name(),
            direct: self.direct,
            streams: self.api.open_streams(),
            ..Cost::default()
        }
    }
}

/// The thread that reads cgroup files.
struct Sampler {
    set: std_mpsc::Sender<Vec<(String, Files)>>,
}

impl Sampler {
    fn start(tx: Sender<Msg>, refresh: Duration, host_mem: u64) -> Sampler {
        let (set, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("cgroup-sampler".into())
            .spawn(move || sample_loop(rx, tx, refresh, host_mem))
            .expect("spawn the cgroup sampler thread");
        Sampler { set }
    }

    fn set(&self, files: Vec<(String, Files)>) {
        // Fails only when the thread ended with the app's channel.
        let _ = self.set.send(files);
    }
}

/// One tracked container of the sampler.
struct Tracked {
    files: Files,
    last: Option<Reading>,
    /// No figures sent yet: due for its quick second read.
    fresh: bool,
}

/// Read every tracked container once per `refresh`, send one batch. Blocks
/// (no work at all) while nothing is watched; ends when the app is gone.
fn sample_loop(
    rx: std_mpsc::Receiver<Vec<(String, Files)>>,
    tx: Sender<Msg>,
    refresh: Duration,
    host_mem: u64,
) {
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut buf = String::with_capacity(4096);
    let mut next_refresh = Instant::now() + refresh;
    let mut quick: Option<Instant> = None;
    loop {
        let set = if tracked.is_empty() {
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
            let mut next: HashMap<String, Tracked> = HashMap::with_capacity(set.len());
            // The second read is due a short while after the first began:
            // reading hundreds of containers takes a while itself.
            let begun = Instant::now();
            let system = SystemCpu::read(&mut buf);
            for (id, files) in set {
                let t = match tracked.remove(&id) {
                    Some(t) if t.files == files => t,
                    _ => {
                        // New: a first read now, the second soon.
                        quick = Some(begun + FIRST_DELTA);
                        Tracked {
                            last: read(&files, system, &mut buf),
                            files,
                            fresh: true,
                        }
                    }
                };
                next.insert(id, t);
            }
            tracked = next;
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
        let system = SystemCpu::read(&mut buf);
        let mut samples = Vec::with_capacity(if full { tracked.len() } else { 8 });
        let mut vanished = Vec::new();
        for (id, t) in tracked.iter_mut().filter(|(_, t)| full || t.fresh) {
            if t.last
                .is_some_and(|l| now.duration_since(l.mono) < MIN_WINDOW)
            {
                continue; // just read (joined a moment ago): next time
            }
            let Some(reading) = read(&t.files, system, &mut buf) else {
                vanished.push(id.clone());
                continue;
            };
            if let Some(prev) = &t.last {
                samples.push((id.clone(), cgroup::sample(prev, &reading, host_mem)));
                t.fresh = false;
            }
            t.last = Some(reading);
        }
        // A container removed between reads: its directory went with it.
        // Events take it off the screen; stop reading it.
        for id in vanished {
            tracked.remove(&id);
        }
        // Read too recently to give a figure yet (joined during a long
        // read): try again shortly rather than at the next refresh.
        quick = tracked
            .values()
            .any(|t| t.fresh)
            .then(|| Instant::now() + MIN_WINDOW);
        if !samples.is_empty() && tx.blocking_send(Msg::Stats { at, samples }).is_err() {
            return;
        }
    }
}

fn read(files: &Files, system: SystemCpu, buf: &mut String) -> Option<Reading> {
    let raw = files.read(buf).ok()?;
    Some(Reading {
        raw,
        system,
        mono: Instant::now(),
        at: Utc::now(),
    })
}

/// Stream stats of one container until it stops or the task is aborted.
async fn stream_stats(docker: Docker, id: String, tx: Sender<Msg>) {
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
        let msg = Msg::Stats {
            at,
            samples: vec![(id.clone(), sample)],
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// Keeps one stats stream open per watched container, and no others.
pub struct StatsWatcher {
    docker: Arc<Docker>,
    tx: Sender<Msg>,
    tasks: HashMap<String, JoinHandle<()>>,
}

impl StatsWatcher {
    pub fn new(docker: Arc<Docker>, tx: Sender<Msg>) -> StatsWatcher {
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

impl Drop for StatsWatcher {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}
