//! The config file: `$XDG_CONFIG_HOME/agile-deck/config.toml` (or
//! `~/.config/agile-deck/config.toml`), or `--config FILE`. Flags override
//! it. Secrets are never on the command line: they come from the
//! environment or from files named here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::file_error::{FileError, FileKind, line_of};
use crate::prometheus::Auth;
use crate::rulebook::{Ignore, RuleSetting};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub prometheus: Option<PromConfig>,
    /// The audit journal's file (default in the XDG state dir).
    pub journal: Option<PathBuf>,
    /// No operation on any daemon.
    #[serde(default)]
    pub read_only: bool,
    /// The hosts to watch when no `--host` or `--context` is given, each
    /// with its own settings (which also apply to a flag's host of the
    /// same URL).
    #[serde(default, rename = "host")]
    pub hosts: Vec<HostConfig>,
    /// The topology file (default: built in).
    pub topology: Option<PathBuf>,
    /// A keymap file over the default keymap.
    pub keymap: Option<PathBuf>,
    /// A built-in theme's name or a theme file.
    pub theme: Option<String>,
    /// Seconds between two reads of the figures.
    pub refresh: Option<f64>,
    /// The audit's rules: another severity, or off.
    #[serde(default, rename = "rule")]
    pub audit_rules: Vec<RuleSetting>,
    /// Findings silenced, each for one object, with a reason.
    #[serde(default, rename = "ignore")]
    pub ignores: Vec<toml::Spanned<Ignore>>,
    /// The flight recorder: where, how long, whether the dashboard records.
    #[serde(default)]
    pub record: RecordConfig,
    /// Where alerts go when nobody looks (`agile-deck record`).
    pub alerts: Option<crate::alerting::Sinks>,
}

/// `[record]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// The store (default `$XDG_STATE_HOME/agile-deck/history.db`).
    pub store: Option<PathBuf>,
    /// The dashboard records while it runs (when no one else does).
    #[serde(default = "yes")]
    pub dashboard: bool,
    /// Hours of 5-second frames kept.
    #[serde(default = "fine_hours")]
    pub fine_hours: f64,
    /// Days of 1-minute frames kept.
    #[serde(default = "coarse_days")]
    pub coarse_days: f64,
    /// The most the store may hold, in MiB (the oldest minutes go first).
    #[serde(default = "max_mib")]
    pub max_mib: u64,
    /// Seconds an OOM kill, exit 137 or restart loop alert stays firing
    /// after the last one.
    #[serde(default = "quiet")]
    pub quiet: f64,
}

fn yes() -> bool {
    true
}
fn fine_hours() -> f64 {
    6.0
}
fn coarse_days() -> f64 {
    7.0
}
fn max_mib() -> u64 {
    1024
}
fn quiet() -> f64 {
    300.0
}

impl Default for RecordConfig {
    fn default() -> RecordConfig {
        RecordConfig {
            store: None,
            dashboard: true,
            fine_hours: fine_hours(),
            coarse_days: coarse_days(),
            max_mib: max_mib(),
            quiet: quiet(),
        }
    }
}

impl RecordConfig {
    /// Values that cannot mean anything are the config's mistake: said
    /// before anything starts.
    pub fn check(&self) -> Result<(), String> {
        let r = self;
        if r.fine_hours > 0.0 && r.coarse_days > 0.0 && r.max_mib > 0 && r.quiet >= 0.0 {
            Ok(())
        } else {
            Err(
                "[record]: fine_hours, coarse_days and max_mib must be above 0, quiet 0 or more"
                    .into(),
            )
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Its name on screen and in `host=` (default: from the URL).
    pub name: Option<String>,
    /// `unix:///path`, `tcp://host:port` or `ssh://user@host[:port]`.
    pub url: String,
    /// TLS files for a `tcp://` daemon (all three, or none).
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    #[serde(default)]
    pub read_only: bool,
    /// How to take its figures (default: `--stats`).
    pub stats: Option<crate::engine::Mode>,
    /// `ssh://`: where agile-deck's agent is on it, when neither on the
    /// remote PATH nor in `~/.local/bin`.
    pub agent_path: Option<String>,
}

impl Config {
    /// Read-only for this daemon: everywhere, or for its URL.
    pub fn read_only_for(&self, url: &str) -> bool {
        self.read_only || self.hosts.iter().any(|h| h.read_only && h.url == url)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromConfig {
    pub url: Option<String>,
    /// Seconds between two rounds of queries.
    pub interval: Option<f64>,
    /// Seconds before a query counts as failed.
    pub timeout: Option<f64>,
    /// A file holding a bearer token.
    pub token_file: Option<PathBuf>,
    /// Basic auth: the user, and a file holding the password.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Where the config file is looked for when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    crate::dirs::config_file()
}

impl Config {
    pub fn parse(text: &str, origin: &str) -> Result<Config, FileError> {
        let err = |line: usize, reason: String| FileError {
            kind: FileKind::Config,
            origin: origin.to_string(),
            line,
            reason,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            err(
                e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
                e.message().to_string(),
            )
        })?;
        // A silenced finding says why, or it is not silenced.
        if let Some(i) = config
            .ignores
            .iter()
            .find(|i| i.get_ref().reason.trim().is_empty())
        {
            return Err(err(
                line_of(text, i.span().start),
                format!(
                    "[[ignore]] of {} on {} needs a reason: say why it is accepted",
                    i.get_ref().rule,
                    i.get_ref().object
                ),
            ));
        }
        Ok(config)
    }

    /// `--config FILE` must exist; the default file may not.
    pub fn load(explicit: Option<&Path>) -> Result<Config, FileError> {
        let (path, required) = match explicit {
            Some(p) => (p.to_path_buf(), true),
            None => match default_path() {
                Some(p) => (p, false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text, &path.display().to_string()),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Config::default())
            }
            Err(e) => Err(FileError {
                kind: FileKind::Config,
                origin: path.display().to_string(),
                line: 0,
                reason: format!("cannot read it: {e}"),
            }),
        }
    }
}

/// A commented config file with every setting at its default.
pub const DEFAULT_TEXT: &str = r#"# agile-deck config: $XDG_CONFIG_HOME/agile-deck/config.toml, or
# ~/.config/agile-deck/config.toml, or --config FILE. Flags override it.
# Check a file with: agile-deck config check [--config FILE]

# No operation (scale, resize, restart, …) on any daemon.
read_only = false

# The topology (layers, teams, metrics, profiles, policies, zones; default: built in).
# topology = "/etc/agile-deck/topology.toml"

# Keys: a file over the default keymap (what it names is rebound, [] unbinds).
# keymap = "~/.config/agile-deck/keys.toml"

# Theme: default, light, high-contrast, basic16, or a file.
# theme = "default"

# Seconds between two reads of the figures (0.1 to 60).
# refresh = 1.0

# The audit journal (default: $XDG_STATE_HOME/agile-deck/journal.jsonl).
# journal = "/var/log/agile-deck/journal.jsonl"

# The hosts to watch when no --host or --context is given (one table each);
# a --host of the same URL takes its settings too.
# [[host]]
# name = "prod-1"                 # default: from the URL
# url = "tcp://prod-1:2376"       # or unix:///path, ssh://user@host[:port]
# tls_ca = "/etc/agile-deck/prod/ca.pem"
# tls_cert = "/etc/agile-deck/prod/cert.pem"
# tls_key = "/etc/agile-deck/prod/key.pem"
# read_only = true                # watch production, change nothing
# stats = "api"                   # auto, cgroup, agent or api
# [[host]]
# name = "web-2"
# url = "ssh://ops@web-2"         # figures through agile-deck's agent over ssh
# agent_path = "/opt/agile-deck/bin/agile-deck"   # default: PATH, then ~/.local/bin

# Service metrics beside the Docker figures (queries: the topology's [[metric]]).
# Secrets: AGILE_DECK_PROMETHEUS_TOKEN, or _USER and _PASSWORD, or the files below.
# [prometheus]
# url = "http://127.0.0.1:9090"
# interval = 5        # seconds between rounds of queries
# timeout = 3         # seconds before a query counts as failed
# token_file = "/run/secrets/prometheus-token"
# username = "ops"
# password_file = "/run/secrets/prometheus-password"

# The audit (`agile-deck audit`, the Audit view): another severity for a
# rule (critical, warning, info, or off), and findings accepted for one
# object (a container, service, network or node; host/name for one host's)
# with the reason the view shows. `agile-deck audit --rules` lists the rules.
# [[rule]]
# id = "identity.naming"
# severity = "off"
# [[ignore]]
# rule = "security.root"
# object = "agile-cache-redis-master"
# reason = "the redis image needs root to chown /data; tracked in OPS-123"

# The flight recorder (`agile-deck record`, and the dashboard while it runs).
# [record]
# store = "/var/lib/agile-deck/history.db"   # default: $XDG_STATE_HOME/agile-deck/history.db
# dashboard = true      # the dashboard records when no `record` holds the store
# fine_hours = 6        # 5-second frames kept this long
# coarse_days = 7       # then 1-minute frames this long
# max_mib = 1024        # the oldest minutes go first past this size
# quiet = 300           # seconds an OOM / exit 137 / restart loop alert stays firing

# Alerts from `agile-deck record` (firing and resolved, rate-limited, retried).
# [alerts]
# webhook = "https://hooks.slack.com/services/T000/B000/XXXX"   # JSON POST with a `text` field
# command = "/usr/local/bin/page-oncall"                       # the alert as JSON on stdin
# per_minute = 20       # at most this many a minute; more wait their turn
# attempts = 6          # tries of one delivery, with backoff
# backoff = 2           # seconds before the first retry, doubled each time
"#;

/// Prometheus as it will be used.
#[derive(Debug, PartialEq)]
pub struct PromSettings {
    pub url: String,
    pub auth: Auth,
    pub interval: Duration,
    pub timeout: Duration,
}

pub const DEFAULT_PROM_INTERVAL: f64 = 5.0;
pub const DEFAULT_PROM_TIMEOUT: f64 = 3.0;

/// What the command line says about Prometheus.
#[derive(Debug, Default)]
pub struct PromFlags {
    pub url: Option<String>,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
}

fn read_secret(path: &Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the Prometheus {what} from {}: {e}",
            path.display()
        )
    })?;
    let secret = text.trim().to_string();
    if secret.is_empty() {
        return Err(format!(
            "the Prometheus {what} file {} is empty",
            path.display()
        ));
    }
    Ok(secret)
}

fn seconds(v: f64, what: &str) -> Result<Duration, String> {
    if v.is_finite() && (0.1..=3600.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "Prometheus {what} {v}: give seconds between 0.1 and 3600"
        ))
    }
}

/// Flags over the environment over the file. `env` reads a variable (the
/// tests pass their own). None: Prometheus is not configured.
pub fn prometheus_settings(
    flags: &PromFlags,
    file: Option<&PromConfig>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<PromSettings>, String> {
    let file_url = file.and_then(|f| f.url.clone());
    let Some(url) = flags.url.clone().or(file_url).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let token = match env("AGILE_DECK_PROMETHEUS_TOKEN").filter(|t| !t.is_empty()) {
        Some(t) => Some(t),
        None => file
            .and_then(|f| f.token_file.as_deref())
            .map(|p| read_secret(p, "token"))
            .transpose()?,
    };
    let user = env("AGILE_DECK_PROMETHEUS_USER")
        .filter(|u| !u.is_empty())
        .or_else(|| file.and_then(|f| f.username.clone()));
    let password = match env("AGILE_DECK_PROMETHEUS_PASSWORD") {
        Some(p) => Some(p),
        None => file
            .and_then(|f| f.password_file.as_deref())
            .map(|p| read_secret(p, "password"))
            .transpose()?,
    };
    let auth = match (token, user, password) {
        (Some(_), Some(_), _) => {
            return Err(
                "Prometheus: both a bearer token and a basic-auth user are set; keep one".into(),
            );
        }
        (Some(t), None, _) => Auth::Bearer(t),
        (None, Some(user), Some(password)) => Auth::Basic { user, password },
        (None, Some(user), None) => {
            return Err(format!(
                "Prometheus user {user:?} has no password: set AGILE_DECK_PROMETHEUS_PASSWORD \
                 or password_file in the config"
            ));
        }
        (None, None, _) => Auth::None,
    };
    let interval = flags
        .interval
        .or(file.and_then(|f| f.interval))
        .unwrap_or(DEFAULT_PROM_INTERVAL);
    let timeout = flags
        .timeout
        .or(file.and_then(|f| f.timeout))
        .unwrap_or(DEFAULT_PROM_TIMEOUT);
    Ok(Some(PromSettings {
        url,
        auth,
        interval: seconds(interval, "interval")?,
        timeout: seconds(timeout, "timeout")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn broken_files_name_line_and_reason() {
        let e = Config::parse("[prometheus]\nurl = \"x\"\ntimout = 3\n", "c.toml").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("unknown field `timout`"), "{e}");
        assert!(e.to_string().starts_with("config c.toml, line 3: "));
        let e = Config::parse("[prometheus]\ninterval = \"5s\"\n", "c.toml").unwrap_err();
        assert_eq!(e.line, 2);
        let missing = Config::load(Some(Path::new("/nonexistent/agile.toml"))).unwrap_err();
        assert!(missing.reason.starts_with("cannot read it"), "{missing}");
    }

    #[test]
    fn the_default_text_is_a_valid_config() {
        let c = Config::parse(DEFAULT_TEXT, "default").unwrap();
        assert!(!c.read_only && c.prometheus.is_none() && c.hosts.is_empty());
        // Every commented setting parses too.
        let uncommented: String = DEFAULT_TEXT
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains('=') || r.starts_with('['))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = Config::parse(&uncommented, "uncommented").unwrap();
        assert!(c.read_only_for("tcp://prod-1:2376"));
        assert_eq!(c.prometheus.unwrap().interval, Some(5.0));
    }

    #[test]
    fn read_only_everywhere_or_per_host() {
        let c = Config::parse(
            "[[host]]\nurl = \"tcp://prod:2376\"\nread_only = true\n[[host]]\nurl = \"unix:///var/run/docker.sock\"\n",
            "c.toml",
        )
        .unwrap();
        assert!(c.read_only_for("tcp://prod:2376"));
        assert!(!c.read_only_for("unix:///var/run/docker.sock"));
        let c = Config::parse("read_only = true\n", "c.toml").unwrap();
        assert!(c.read_only_for("anything"));
    }

    #[test]
    fn flags_win_over_env_and_file() {
        let file = Config::parse(
            "[prometheus]\nurl = \"http://file:9090\"\ninterval = 10\ntimeout = 2\n",
            "c.toml",
        )
        .unwrap()
        .prometheus
        .unwrap();
        let s = prometheus_settings(&PromFlags::default(), Some(&file), no_env)
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "http://file:9090");
        assert_eq!(s.interval, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_secs(2));
        let flags = PromFlags {
            url: Some("http://flag:9090".into()),
            interval: Some(1.0),
            timeout: None,
        };
        let s = prometheus_settings(&flags, Some(&file), no_env)
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "http://flag:9090");
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(
            prometheus_settings(&PromFlags::default(), None, no_env).unwrap(),
            None
        );
        let bad = PromFlags {
            url: Some("http://x".into()),
            interval: Some(0.0),
            timeout: None,
        };
        assert!(prometheus_settings(&bad, None, no_env).is_err());
    }

    #[test]
    fn secrets_come_from_env_or_files() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "abc\n").unwrap();
        let flags = PromFlags {
            url: Some("http://x".into()),
            ..Default::default()
        };
        let file = PromConfig {
            token_file: Some(token.clone()),
            ..Default::default()
        };
        let s = prometheus_settings(&flags, Some(&file), no_env)
            .unwrap()
            .unwrap();
        assert_eq!(s.auth, Auth::Bearer("abc".into()));
        // The environment wins over the file.
        let env = |k: &str| (k == "AGILE_DECK_PROMETHEUS_TOKEN").then(|| "env".to_string());
        let s = prometheus_settings(&flags, Some(&file), env)
            .unwrap()
            .unwrap();
        assert_eq!(s.auth, Auth::Bearer("env".into()));
        let env = |k: &str| match k {
            "AGILE_DECK_PROMETHEUS_USER" => Some("ops".to_string()),
            "AGILE_DECK_PROMETHEUS_PASSWORD" => Some("pw".to_string()),
            _ => None,
        };
        let s = prometheus_settings(&flags, None, env).unwrap().unwrap();
        assert_eq!(
            s.auth,
            Auth::Basic {
                user: "ops".into(),
                password: "pw".into()
            }
        );
        // A token and a user: ambiguous, refused.
        assert!(prometheus_settings(&flags, Some(&file), env).is_err());
        let only_user = |k: &str| (k == "AGILE_DECK_PROMETHEUS_USER").then(|| "ops".to_string());
        assert!(prometheus_settings(&flags, None, only_user).is_err());
        let missing = PromConfig {
            token_file: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let e = prometheus_settings(&flags, Some(&missing), no_env).unwrap_err();
        assert!(e.contains("cannot read the Prometheus token"), "{e}");
    }
}
