//! The command line (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "agile-deck",
    version,
    about = "A terminal dashboard for live Docker and Swarm deployments",
    long_about = "A terminal dashboard for live Docker and Swarm deployments shaped like the \
                  Agile AI Company reference architecture: layers, agent teams, replicas, health \
                  and live figures.\n\nWith no command it opens the dashboard."
)]
// Flags that change what any command reads (files, paths, the daemon) are
// `global`: they may come after a subcommand (`config check --keymap F`).
pub struct Cli {
    /// Docker daemon address (unix:///path, tcp://host:port, ssh://user@host[:port]),
    /// optionally named (NAME=URL); give it several times to watch several hosts.
    /// Default: the config file's [[host]] tables, then DOCKER_HOST, then the current
    /// docker context, then unix:///var/run/docker.sock.
    #[arg(long, short = 'H', global = true, value_name = "URL")]
    pub host: Vec<String>,

    /// Watch the daemon of this docker context (may be given several times).
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "host")]
    pub context: Vec<String>,

    /// Watch the daemon of every docker context.
    #[arg(long, global = true, conflicts_with_all = ["host", "context"])]
    pub all_contexts: bool,

    /// Start the demo deployment first if it is not running.
    #[arg(long)]
    pub demo: bool,

    /// Topology file mapping containers to layers and teams (default: built in).
    #[arg(long, value_name = "FILE", global = true)]
    pub topology: Option<PathBuf>,

    /// A keymap file over the default one (keymaps/default.toml): the actions
    /// it names get its keys, `[]` unbinds.
    #[arg(long, global = true, value_name = "FILE")]
    pub keymap: Option<PathBuf>,

    /// Theme: a built-in name (default, light, high-contrast, basic16) or a
    /// TOML file (which may `inherits` a built-in one).
    #[arg(long, global = true, value_name = "NAME|FILE")]
    pub theme: Option<PathBuf>,

    /// Where live figures come from: cgroup files (local daemon, nearly free),
    /// Docker stats streams (api), or cgroup when possible (auto).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "PATH",
        default_value = "auto",
        env = "AGILE_DECK_STATS"
    )]
    pub stats: crate::engine::Mode,

    /// Seconds between two reads of the cgroup files (Docker stats streams
    /// always report once a second).
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_refresh)]
    pub refresh: Option<f64>,

    /// Most Docker stats streams open at once (API path); replicas past it show
    /// no figures and aggregates are marked partial (~).
    #[arg(long, global = true, value_name = "N", default_value_t = 256)]
    pub max_streams: usize,

    /// Open with the stats engine line shown (its path and its own cost).
    #[arg(long)]
    pub show_engine: bool,

    /// Config file (default: $XDG_CONFIG_HOME/agile-deck/config.toml, or
    /// ~/.config/agile-deck/config.toml, when it exists). Flags override it.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Prometheus base URL: request rate, error ratio and p99 columns beside
    /// the Docker figures (queries from the topology file). Credentials come
    /// from AGILE_DECK_PROMETHEUS_TOKEN, or AGILE_DECK_PROMETHEUS_USER and
    /// _PASSWORD, or files named in the config; never from the command line.
    /// Without it (and without the demo's Prometheus running) nothing is queried.
    #[arg(long, global = true, value_name = "URL", env = "AGILE_DECK_PROMETHEUS")]
    pub prometheus: Option<String>,

    /// No Prometheus columns and no queries, whatever the config file says
    /// and even when the demo's Prometheus runs.
    #[arg(long, global = true, conflicts_with = "prometheus")]
    pub no_prometheus: bool,

    /// Seconds between two rounds of Prometheus queries (default 5).
    #[arg(long, global = true, value_name = "SECS")]
    pub prometheus_interval: Option<f64>,

    /// Seconds before a Prometheus query counts as failed (default 3).
    #[arg(long, global = true, value_name = "SECS")]
    pub prometheus_timeout: Option<f64>,

    /// No operation can be started (scale, resize, restart, …) and no
    /// changing Docker call is made. Also `read_only` in the config, for all
    /// daemons or per host.
    #[arg(long, global = true)]
    pub read_only: bool,

    /// The audit journal: one JSON line per operation step and result
    /// (default: $XDG_STATE_HOME/agile-deck/journal.jsonl).
    #[arg(long, global = true, value_name = "PATH", env = "AGILE_DECK_JOURNAL")]
    pub journal: Option<PathBuf>,

    /// Most lines the Events timeline keeps (the oldest go first).
    #[arg(long, global = true, value_name = "N", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub events_max: u64,

    /// Most lines a logs pane keeps (the oldest go first).
    #[arg(long, global = true, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub log_lines: u64,

    /// Leave the mouse to the terminal (its own text selection): no click
    /// to select, no wheel to scroll.
    #[arg(long)]
    pub no_mouse: bool,

    /// The history store (default: the config's [record] store, else
    /// $XDG_STATE_HOME/agile-deck/history.db).
    #[arg(long, global = true, value_name = "PATH", env = "AGILE_DECK_STORE")]
    pub store: Option<PathBuf>,

    /// The dashboard does not record (it still reads the store for :at).
    #[arg(long)]
    pub no_record: bool,

    /// Open with the program's log pane shown.
    #[arg(long)]
    pub log: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage the demo deployment (the reference architecture, run by agile-sim).
    Demo {
        #[command(subcommand)]
        action: DemoAction,
    },
    /// Print the fleet view once (layers, teams, replicas needing
    /// attention, figures) and exit: for incident channels and scripts.
    Snapshot {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The fleet as recorded at a moment instead of now: -30m, 03:12,
        /// 03:12:05, an RFC 3339 time (read from the history store).
        #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
        at: Option<String>,
    },
    /// Record the deployment into the history store without a terminal
    /// (figures every 5 s, events, alerts, operation results), and deliver
    /// alerts to the config's [alerts] webhook or command. Stops on
    /// SIGTERM or Ctrl-C.
    Record,
    /// What the history store holds.
    History {
        #[command(subcommand)]
        action: HistoryAction,
    },
    /// Check the live deployment against the reference architecture's
    /// rules (zones, resources, health, identity, security, Swarm) and
    /// print the findings, worst first, with scores per layer and team.
    /// Exit status: 0, or 1 when a finding reaches --fail-on, 2 when the
    /// audit could not run.
    Audit {
        /// JSON (schema: assets/audit.schema.json) instead of text.
        #[arg(long)]
        json: bool,
        /// Exit 1 when a finding (not ignored) is at least this severe.
        #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
        fail_on: Option<crate::rulebook::Severity>,
        /// List the rules (id, severity, where each comes from) and exit.
        #[arg(long)]
        rules: bool,
    },
    /// The config file: check it (with the topology, keymap and theme it
    /// names) or print a commented default.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// agile-deck's agent: reads a host's cgroup files for a dashboard that
    /// reaches the host over ssh (it is started there by the dashboard).
    #[command(args_conflicts_with_subcommands = true)]
    Agent {
        /// Serve one dashboard on stdin and stdout (framed batches of
        /// figures); exit when stdin closes. The dashboard runs this
        /// through ssh.
        #[arg(long)]
        stdio: bool,
        /// Seconds between two reads with --stdio (the dashboard passes its own).
        #[arg(long, value_name = "SECS", value_parser = parse_refresh, requires = "stdio")]
        every: Option<f64>,
        #[command(subcommand)]
        action: Option<AgentAction>,
    },
    /// Shell completions, to source or install: bash, zsh, fish, elvish, powershell.
    Completions { shell: clap_complete::Shell },
    /// The manual page (roff), e.g. `agile-deck man > agile-deck.1`.
    Man,
}

#[derive(Subcommand, Debug)]
pub enum HistoryAction {
    /// Figures per replica and events, oldest first.
    Export {
        /// How far back: 90s, 15m, 1h, 2d.
        #[arg(long, value_name = "SPAN", default_value = "1h", value_parser = crate::when::span)]
        since: chrono::Duration,
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Only this service's (or replica's, team's, layer's) figures and events.
        #[arg(long, value_name = "SERVICE")]
        target: Option<String>,
    },
    /// The store: its path, size, span and what it holds.
    Info,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate the config, topology, keymap and theme files; print what is in effect.
    Check,
    /// Print a commented default config file.
    Default,
}

#[derive(Subcommand, Debug)]
pub enum AgentAction {
    /// Copy this binary to HOST over ssh (checksum verified) into a path the
    /// remote user owns, where the dashboard finds it.
    Install {
        /// ssh://user@host[:port], a name from the config's [[host]] tables,
        /// or user@host as ssh takes it.
        host: String,
        /// Where to put it on the host (default: ~/.local/bin/agile-deck).
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
        /// Install this build instead of the running one (a static build
        /// for hosts with an older C library: see the README).
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum DemoAction {
    /// Build the workload image and start every missing piece (idempotent),
    /// and a Prometheus on 127.0.0.1 scraping it when `prometheus` is on PATH.
    Up {
        /// Extra label KEY=VALUE on everything created (the tests mark their runs).
        #[arg(long, value_name = "KEY=VALUE", hide = true)]
        label: Vec<String>,
        /// The reference's production shape as Swarm services on the cluster
        /// of the given hosts (a manager among them), the node labels it needs
        /// after you confirm them.
        #[arg(long)]
        swarm: bool,
        /// Confirm the node labels without asking (--swarm).
        #[arg(long, requires = "swarm")]
        yes: bool,
    },
    /// Remove every container and network the demo created, nothing else,
    /// and stop the demo's Prometheus.
    Down {
        #[arg(long, value_name = "KEY=VALUE", hide = true)]
        label: Vec<String>,
        /// Remove the Swarm demo: its services, networks and the node labels it added.
        #[arg(long)]
        swarm: bool,
    },
}

pub fn parse_refresh(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=60.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: give seconds between 0.1 and 60")),
    }
}

/// Parse `KEY=VALUE` labels.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn parse_labels(labels: &[String]) -> Result<Vec<(String, String)>, String> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("label {l:?} is not KEY=VALUE"))
        })
        .collect()
}

fn parse_severity(s: &str) -> Result<crate::rulebook::Severity, String> {
    match s {
        "warning" | "critical" | "info" => Ok(s.parse().expect("a severity word")),
        _ => Err(format!("{s:?}: use warning or critical (or info)")),
    }
}
