//! Everything that reaches the app (`Msg`) and everything it asks the
//! runtime to do (`Cmd`); the reports of the layers below become `Msg`s.

use super::*;

#[derive(Debug)]
pub enum Msg {
    /// A message from one host's sources (events, listings, inspects,
    /// its stats engine); the runtime wraps each host's channel in it.
    OnHost(HostId, Box<Msg>),
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
    Nodes(Vec<crate::model::SwarmNode>),
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
    /// The runtime is up: how many containers its stats engine takes at
    /// most, what it costs so far, and the local clock's offset.
    Started {
        stats_cap: usize,
        cost: Cost,
        local_offset: chrono::FixedOffset,
    },
    /// The state as it is now is on screen.
    Drawn,
    /// The cgroup reader found no cgroup for these containers.
    NoCgroup(Vec<Target>),
    /// The host's agent changed state.
    Remote(crate::engine::Remote),
    SourceError {
        source: crate::sources::Source,
        error: String,
    },
    /// The daemon answers again after an error.
    DaemonBack,
    /// Time to ask Prometheus about what is on screen again.
    PromDue,
    /// Answers to `Cmd::Prom`.
    PromResults(Vec<(Request, Result<Data, PromError>)>),
    /// What the recorder has written so far (the engine line says it).
    Recording(crate::history::Status),
    /// The store's recent CPU per (host, container), for the histories
    /// of replicas running now, and its last hour of events, oldest first
    /// (`Cmd::Backfill`).
    Backfill {
        cpu: crate::history::read::CpuByReplica,
        events: Vec<crate::history::Event>,
    },
    /// The store's answer to `Cmd::ReadSeries`: a row's CPU, last hour.
    Series {
        kind: &'static str,
        name: String,
        points: Vec<(chrono::DateTime<chrono::Utc>, f64)>,
    },
    /// The store's answer to `Cmd::Travel`: the fleet as recorded then.
    Moment {
        asked: chrono::DateTime<chrono::Utc>,
        moment: Result<Option<Box<crate::history::Moment>>, String>,
    },
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
    /// Saving the logs pane's lines (`Cmd::SaveLogs`) ended: what to say.
    LogsSaved(Result<String, String>),
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

// The layers below report in their own words; these put them in the app's.

impl From<crate::engine::Report> for Msg {
    fn from(r: crate::engine::Report) -> Msg {
        use crate::engine::Report;
        match r {
            Report::Stats { at, samples } => Msg::Stats { at, samples },
            Report::NoCgroup(targets) => Msg::NoCgroup(targets),
            Report::Remote(state) => Msg::Remote(state),
        }
    }
}

impl From<crate::sources::Feed> for Msg {
    fn from(f: crate::sources::Feed) -> Msg {
        use crate::sources::Feed;
        match f {
            Feed::Timeline(raw) => Msg::Timeline(raw),
            Feed::Container { id, action } => Msg::ContainerEvent { id, action },
            Feed::Swarm { action } => Msg::SwarmEvent { action },
            Feed::Network { action, container } => Msg::NetworkEvent { action, container },
            Feed::Inspected { id, replica } => Msg::Inspected { id, replica },
            Feed::Failed { source, error } => Msg::SourceError { source, error },
            Feed::DaemonBack => Msg::DaemonBack,
            Feed::LogLines { pane, lines } => Msg::LogLines { pane, lines },
            Feed::LogEnded { pane, source, why } => Msg::LogEnded { pane, source, why },
        }
    }
}

impl From<crate::ops::exec::Report> for Msg {
    fn from(r: crate::ops::exec::Report) -> Msg {
        use crate::ops::exec::Report;
        match r {
            Report::Op { op, progress } => Msg::Op { op, progress },
            Report::Journaled(e) => Msg::Journaled(e),
        }
    }
}

impl From<crate::driver::Report> for Msg {
    fn from(r: crate::driver::Report) -> Msg {
        use crate::driver::Report;
        match r {
            Report::View(view) => Msg::Rollout(view),
            Report::Journaled(e) => Msg::Journaled(e),
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Cmd {
    Quit,
    Inspect {
        host: HostId,
        id: String,
    },
    /// List everything on `host`; `known` lets the lister skip unchanged containers.
    Resync {
        host: HostId,
        known: HashMap<String, (crate::model::State, Health)>,
    },
    /// List the Swarm's services and nodes (a manager's view).
    ListSwarm,
    ListNetworks(HostId),
    /// The containers to take figures of, in priority order.
    WatchStats(Vec<Target>),
    /// Stream these from the Docker API: their cgroup files are not found.
    StreamInstead(Vec<Target>),
    /// The host's agent changed state: its engine reads through it, or
    /// from Docker's streams while it cannot be used.
    Remote {
        host: HostId,
        state: crate::engine::Remote,
    },
    /// Questions for Prometheus (cells and charts on screen).
    Prom(Vec<Request>),
    PromAdhoc(Query),
    /// Read the replicas' recent CPU and the last hour's events (at most
    /// `events`) from the store (a host's first listing).
    Backfill {
        events: usize,
    },
    /// Read a row's last hour of CPU from the store (its detail chart).
    ReadSeries {
        kind: &'static str,
        name: String,
    },
    /// Read the fleet as recorded at a moment (`:at`, `[`, `]`).
    Travel(chrono::DateTime<chrono::Utc>),
    /// Run a confirmed plan as operation `op`.
    RunOp {
        op: u64,
        host: HostId,
        plan: Plan,
    },
    /// Stop operation `op` between steps.
    CancelOp(u64),
    /// Hand a confirmed rollout to its driver.
    StartRollout {
        host: HostId,
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
        follows: Vec<crate::app::logview::Follow>,
    },
    /// Cancel every stream of logs pane `pane`.
    StopLogs(u64),
    /// Write the logs pane's lines shown (`lines` of them) to `path`.
    SaveLogs {
        path: std::path::PathBuf,
        text: String,
        lines: usize,
    },
    /// Run a command in a replica with this terminal (the dashboard steps aside).
    Exec {
        host: HostId,
        id: String,
        name: String,
        command: Vec<String>,
    },
    /// Write a result line for an interrupted operation the user dismissed
    /// (run, op, what to say).
    CloseInterrupted {
        /// The host label it was journalled against.
        host: String,
        run: String,
        op: u64,
        operation: String,
        target: String,
        detail: String,
    },
}
