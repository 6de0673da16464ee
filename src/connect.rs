//! Which daemon to talk to and how, in Docker's own order: `--host`, then
//! `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`), then the
//! current context (`DOCKER_CONTEXT` or `currentContext` in
//! `~/.docker/config.json`, endpoint from `contexts/meta/*/meta.json`), then
//! the local socket. Failures say what was tried and how to fix it.

use std::path::{Path, PathBuf};

use bollard::{API_DEFAULT_VERSION, Docker};
use serde::Deserialize;

use crate::model::DaemonInfo;

pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// Seconds before a request without an answer fails (streams are not cut).
const REQUEST_TIMEOUT: u64 = 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A daemon address and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    /// "--host", "DOCKER_HOST", "context NAME" or "default".
    pub source: String,
    pub tls: Option<Tls>,
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(rename = "currentContext")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints")]
    endpoints: std::collections::HashMap<String, ContextEndpoint>,
}

#[derive(Deserialize)]
struct ContextEndpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
}

fn tls_from_dir(dir: &Path) -> Tls {
    Tls {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

/// Find the endpoint of a named context under `docker_dir` (`~/.docker`).
fn context_endpoint(docker_dir: &Path, name: &str) -> Result<Endpoint, String> {
    let meta_dir = docker_dir.join("contexts").join("meta");
    let entries = std::fs::read_dir(&meta_dir)
        .map_err(|e| format!("context {name:?}: cannot read {}: {e}", meta_dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let meta: ContextMeta = serde_json::from_str(&text)
            .map_err(|e| format!("context {name:?}: {} is not valid: {e}", path.display()))?;
        if meta.name != name {
            continue;
        }
        let host = meta
            .endpoints
            .get("docker")
            .and_then(|e| e.host.clone())
            .ok_or_else(|| {
                format!(
                    "context {name:?} has no docker endpoint in {}",
                    path.display()
                )
            })?;
        let tls_dir = docker_dir
            .join("contexts")
            .join("tls")
            .join(entry.file_name())
            .join("docker");
        let tls = tls_dir
            .join("ca.pem")
            .exists()
            .then(|| tls_from_dir(&tls_dir));
        return Ok(Endpoint {
            url: host,
            source: format!("context {name}"),
            tls,
        });
    }
    Err(format!(
        "context {name:?} is selected but not found under {}; run `docker context ls`",
        meta_dir.display()
    ))
}

/// The docker CLI's folder: `DOCKER_CONFIG`, else `~/.docker`.
fn docker_dir(env: &dyn Fn(&str) -> Option<String>, home: Option<&Path>) -> Option<PathBuf> {
    env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".docker")))
}

/// Decide the endpoint. `env` reads environment variables and `home` is the
/// user's home directory: both injected so this is testable.
pub fn resolve_endpoint(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Endpoint, String> {
    let tls_from_env = || {
        let verify = env("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0");
        verify.then(|| {
            let dir = env("DOCKER_CERT_PATH")
                .map(PathBuf::from)
                .or_else(|| home.map(|h| h.join(".docker")))
                .unwrap_or_else(|| PathBuf::from(".docker"));
            tls_from_dir(&dir)
        })
    };
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return Ok(Endpoint {
            url: h.to_string(),
            source: "--host".into(),
            tls: tls_from_env(),
        });
    }
    if let Some(h) = env("DOCKER_HOST").filter(|h| !h.is_empty()) {
        return Ok(Endpoint {
            url: h,
            source: "DOCKER_HOST".into(),
            tls: tls_from_env(),
        });
    }
    if let Some(dir) = docker_dir(env, home) {
        let context = env("DOCKER_CONTEXT").filter(|c| !c.is_empty()).or_else(|| {
            let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
            serde_json::from_str::<DockerConfig>(&text)
                .ok()?
                .current_context
        });
        if let Some(name) = context.filter(|c| c != "default") {
            return context_endpoint(&dir, &name);
        }
    }
    Ok(Endpoint {
        url: DEFAULT_SOCKET.into(),
        source: "default".into(),
        tls: None,
    })
}

/// Every context under `docker_dir` (`~/.docker`), by name, with the
/// built-in `default` (the local socket) first.
fn all_contexts(docker_dir: &Path) -> Result<Vec<(String, Endpoint)>, String> {
    let mut out = vec![(
        "default".to_string(),
        Endpoint {
            url: DEFAULT_SOCKET.into(),
            source: "context default".into(),
            tls: None,
        },
    )];
    let meta_dir = docker_dir.join("contexts").join("meta");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&meta_dir).into_iter().flatten().flatten() {
        let path = entry.path().join("meta.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let meta: ContextMeta = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not valid: {e}", path.display()))?;
            names.push(meta.name);
        }
    }
    names.sort();
    for name in names {
        out.push((name.clone(), context_endpoint(docker_dir, &name)?));
    }
    Ok(out)
}

/// A host to watch, as chosen at start: its name on screen, where it is,
/// and its own settings.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    pub name: String,
    pub endpoint: Endpoint,
    pub read_only: bool,
    /// Its own stats path (None: `--stats`).
    pub stats: Option<crate::engine::Mode>,
    /// Where its agent is (`ssh://`), when not found by itself.
    pub agent_path: Option<String>,
}

/// What the command line asked for.
#[derive(Clone, Debug, Default)]
pub struct Choice<'a> {
    /// `--host`, each `URL` or `NAME=URL`.
    pub hosts: &'a [String],
    /// `--context NAME`, any number.
    pub contexts: &'a [String],
    pub all_contexts: bool,
}

/// A short name for a host from its URL: `local` for the usual socket, the
/// socket's folder for another (`/run/n1/docker.sock` is `n1`), the host
/// name for `tcp://` and `ssh://`.
pub fn name_from_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("unix://") {
        let p = Path::new(path);
        if ["/var/run/docker.sock", "/run/docker.sock"].contains(&path) {
            return "local".into();
        }
        let dir = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str());
        return match dir {
            Some(d) if !["run", "var", "tmp", ""].contains(&d) => d.to_string(),
            _ => p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("local")
                .to_string(),
        };
    }
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host.split('/').next().unwrap_or(host);
    // `host:port`, or `[v6]:port`.
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    host.to_string()
}

/// The hosts to watch: `--host` (any number), else `--context` /
/// `--all-contexts`, else the config file's `[[host]]` tables, else the
/// one endpoint Docker's own order gives (`DOCKER_HOST`, the current
/// context, the local socket). A config table of the same URL gives a
/// flag's host its name, TLS files, read-only and stats settings. Names
/// are made unique (`web`, `web-2`).
pub fn resolve_hosts(
    choice: &Choice,
    config: &[crate::config::HostConfig],
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Vec<HostSpec>, String> {
    let docker_dir = || {
        docker_dir(env, home)
            .ok_or_else(|| "no home directory to find docker contexts in".to_string())
    };
    let from_config = |c: &crate::config::HostConfig| -> Result<HostSpec, String> {
        let tls = match (&c.tls_ca, &c.tls_cert, &c.tls_key) {
            (Some(ca), Some(cert), Some(key)) => Some(Tls {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None, None) => None,
            _ => {
                return Err(format!(
                    "host {}: give tls_ca, tls_cert and tls_key together, or none",
                    c.url
                ));
            }
        };
        Ok(HostSpec {
            name: c.name.clone().unwrap_or_else(|| name_from_url(&c.url)),
            endpoint: Endpoint {
                url: c.url.clone(),
                source: "config".into(),
                tls,
            },
            read_only: c.read_only,
            stats: c.stats,
            agent_path: c.agent_path.clone(),
        })
    };
    // A flag's or a context's endpoint takes the config's settings for its URL.
    let with_settings = |name: Option<String>, endpoint: Endpoint| -> Result<HostSpec, String> {
        let mut spec = match config.iter().find(|c| c.url == endpoint.url) {
            Some(c) => from_config(c)?,
            None => HostSpec {
                name: name_from_url(&endpoint.url),
                endpoint: endpoint.clone(),
                read_only: false,
                stats: None,
                agent_path: None,
            },
        };
        spec.endpoint.source = endpoint.source;
        if spec.endpoint.tls.is_none() {
            spec.endpoint.tls = endpoint.tls;
        }
        if let Some(n) = name {
            spec.name = n;
        }
        Ok(spec)
    };
    let mut specs = Vec::new();
    if !choice.hosts.is_empty() {
        for h in choice.hosts {
            // `NAME=URL`: a URL has no `=` before its `://`.
            let (name, url) = match h.split_once('=') {
                Some((n, u)) if !n.contains("://") && u.contains("://") => (Some(n.to_string()), u),
                _ => (None, h.as_str()),
            };
            let endpoint = resolve_endpoint(Some(url), env, home)?;
            specs.push(with_settings(name, endpoint)?);
        }
    } else if choice.all_contexts || !choice.contexts.is_empty() {
        let all = all_contexts(&docker_dir()?)?;
        let wanted: Vec<(String, Endpoint)> = if choice.all_contexts {
            all
        } else {
            choice
                .contexts
                .iter()
                .map(|name| {
                    all.iter().find(|(n, _)| n == name).cloned().ok_or_else(|| {
                        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
                        format!(
                            "no docker context {name:?}; the contexts are {}",
                            names.join(", ")
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        for (name, endpoint) in wanted {
            specs.push(with_settings(Some(name), endpoint)?);
        }
    } else if !config.is_empty() {
        for c in config {
            specs.push(from_config(c)?);
        }
    } else {
        let endpoint = resolve_endpoint(None, env, home)?;
        specs.push(with_settings(None, endpoint)?);
    }
    // Unique names, in order: the second `web` is `web-2`.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for spec in &mut specs {
        let n = seen.entry(spec.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            spec.name = format!("{}-{n}", spec.name);
        }
    }
    Ok(specs)
}

/// The hosts for this process's environment and home directory.
pub fn hosts_from_environment(
    choice: &Choice,
    config: &[crate::config::HostConfig],
) -> Result<Vec<HostSpec>, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    resolve_hosts(choice, config, &|k| std::env::var(k).ok(), home.as_deref())
}

/// The endpoint for this process's environment and home directory.
pub fn endpoint_from_environment(flag: Option<&str>) -> Result<Endpoint, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    resolve_endpoint(flag, &|k| std::env::var(k).ok(), home.as_deref())
}

/// Why a connection failed, in words an operator can act on.
pub fn explain(endpoint: &Endpoint, error: &str) -> String {
    let mut msg = format!(
        "Cannot reach the Docker daemon at {} (from {}): {error}\n",
        endpoint.url, endpoint.source
    );
    if let Some(path) = endpoint.url.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            msg += &format!(
                "  The socket {path} does not exist: is dockerd running? Start it (`sudo systemctl start docker`, or `sudo dockerd &`),\n  or point agile-deck elsewhere with --host or DOCKER_HOST.\n"
            );
        } else if error.to_ascii_lowercase().contains("permission") {
            msg += &format!(
                "  You may not use {path}: add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again) or run with sudo.\n"
            );
        } else {
            msg += "  The socket exists but the daemon does not answer: check `docker info` and the dockerd logs.\n";
        }
    } else if endpoint.url.starts_with("ssh://") {
        msg += "  agile-deck runs your own ssh (batch mode: keys or an agent, never a password prompt), then `docker system dial-stdio` there.\n  Check `ssh HOST docker version` works without a prompt, and the host key is in known_hosts.\n";
    } else {
        msg += "  Check that the daemon listens there (`docker -H URL info`), the network path and, for TLS, DOCKER_CERT_PATH.\n";
    }
    msg += "  agile-deck tries --host, then DOCKER_HOST, then the current docker context, then unix:///var/run/docker.sock.";
    msg
}

/// An error and its causes, on one line: bollard's own message for a
/// failed connection hides what ssh or the socket said.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !out.contains(&c_text) {
            out += &format!(": {c_text}");
        }
        cause = c.source();
    }
    out
}

/// A client of a relay socket (`ssh://`) that keeps its connections
/// between requests. bollard's unix client keeps none (a connection per
/// request, nearly free on a local socket); through the relay each new
/// connection is an ssh channel and a `docker system dial-stdio` process
/// on the host — 100 inspects at start made 108 of them.
fn pooled(socket: std::path::PathBuf) -> Result<Docker, bollard::errors::Error> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client =
        std::sync::Arc::new(Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector));
    Docker::connect_with_custom_transport(
        move |req: bollard::BollardRequest| {
            let (client, socket) = (client.clone(), socket.clone());
            async move {
                let (mut parts, body) = req.into_parts();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                parts.uri = hyperlocal::Uri::new(&socket, path).into();
                client
                    .request(bollard::BollardRequest::from_parts(parts, body))
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some("unix://relay"),
        REQUEST_TIMEOUT,
        API_DEFAULT_VERSION,
    )
}

/// Open a client for the endpoint (no request is made yet: a daemon that
/// is not there yet is found when it is asked).
pub fn client(endpoint: &Endpoint) -> Result<Docker, String> {
    let url = endpoint.url.as_str();
    let result = if let Some(path) = url.strip_prefix("unix://") {
        // The Docker client refuses a path that is not there: a daemon
        // down at start is reached through a relay that dials it later.
        let path = if Path::new(path).exists() {
            path.to_string()
        } else {
            crate::relay::socket_for(url)?.display().to_string()
        };
        Docker::connect_with_unix(&path, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
    } else if url.starts_with("tcp://") || url.starts_with("http://") || url.starts_with("https://")
    {
        let addr = url
            .replacen("tcp://", "", 1)
            .replacen("http://", "", 1)
            .replacen("https://", "", 1);
        match &endpoint.tls {
            Some(tls) => {
                for f in [&tls.ca, &tls.cert, &tls.key] {
                    if !f.exists() {
                        return Err(format!(
                            "TLS is on (DOCKER_TLS_VERIFY) but {} is missing; set DOCKER_CERT_PATH",
                            f.display()
                        ));
                    }
                }
                Docker::connect_with_ssl(
                    &format!("https://{addr}"),
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    REQUEST_TIMEOUT,
                    API_DEFAULT_VERSION,
                )
            }
            None => Docker::connect_with_http(
                &format!("http://{addr}"),
                REQUEST_TIMEOUT,
                API_DEFAULT_VERSION,
            ),
        }
    } else if url.starts_with("ssh://") {
        // As the docker CLI does it, through a local socket (`relay.rs`).
        pooled(crate::relay::socket_for(url)?)
    } else {
        return Err(format!(
            "unsupported address {url:?}; use unix:///path or tcp://host:port"
        ));
    };
    result.map_err(|e| e.to_string())
}

/// Connect, negotiate the API version (bollard does not send one otherwise)
/// and read what the daemon says of itself.
pub async fn connect(endpoint: &Endpoint) -> Result<(Docker, DaemonInfo), String> {
    if let Some(path) = endpoint.url.strip_prefix("unix://")
        && !Path::new(path).exists()
    {
        return Err(format!("no such socket: {path}"));
    }
    let docker = client(endpoint)?;
    let docker = docker.negotiate_version().await.map_err(|e| {
        // Through ssh, what ssh said is the cause that matters.
        match crate::relay::said(&endpoint.url) {
            Some(ssh) if ssh.starts_with("ssh:") => ssh,
            Some(ssh) => format!("ssh: {ssh}"),
            None => with_causes(&e),
        }
    })?;
    let info = daemon_info(&docker).await?;
    Ok((docker, info))
}

pub async fn daemon_info(docker: &Docker) -> Result<DaemonInfo, String> {
    let info = docker.info().await.map_err(|e| e.to_string())?;
    use crate::model::SwarmRole;
    let swarm = match info.swarm.as_ref() {
        None => SwarmRole::Inactive,
        Some(s) => match s.local_node_state.as_ref().map(|s| s.to_string()) {
            Some(state) if state == "active" => {
                if s.control_available == Some(true) {
                    SwarmRole::Manager
                } else {
                    SwarmRole::Worker
                }
            }
            Some(state) if !state.is_empty() => SwarmRole::from(state),
            _ => SwarmRole::Inactive,
        },
    };
    Ok(DaemonInfo {
        name: info.name.unwrap_or_default(),
        server_version: info.server_version.unwrap_or_default(),
        api_version: docker.client_version().to_string(),
        swarm,
        node_id: info
            .swarm
            .as_ref()
            .and_then(|s| s.node_id.clone())
            .unwrap_or_default(),
        ncpu: info.ncpu.unwrap_or(0).max(0) as u64,
        mem_total: info.mem_total.unwrap_or(0).max(0) as u64,
        cgroup_version: info
            .cgroup_version
            .map(|v| v.to_string())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn order_flag_env_context_default() {
        let home = tempfile::tempdir().unwrap();
        let none = env_of(&[]);
        let e = resolve_endpoint(None, &none, Some(home.path())).unwrap();
        assert_eq!(
            (e.url.as_str(), e.source.as_str()),
            (DEFAULT_SOCKET, "default")
        );

        let env = env_of(&[("DOCKER_HOST", "tcp://10.0.0.1:2375")]);
        let e = resolve_endpoint(None, &env, Some(home.path())).unwrap();
        assert_eq!(
            (e.url.as_str(), e.source.as_str()),
            ("tcp://10.0.0.1:2375", "DOCKER_HOST")
        );
        assert_eq!(e.tls, None);

        let e = resolve_endpoint(Some("unix:///tmp/x.sock"), &env, Some(home.path())).unwrap();
        assert_eq!(e.source, "--host");

        let env = env_of(&[
            ("DOCKER_HOST", "tcp://h:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ]);
        let e = resolve_endpoint(None, &env, Some(home.path())).unwrap();
        assert_eq!(e.tls.unwrap().ca, PathBuf::from("/certs/ca.pem"));
    }

    #[test]
    fn current_context_from_config_and_meta() {
        let home = tempfile::tempdir().unwrap();
        let docker = home.path().join(".docker");
        let meta = docker.join("contexts/meta/0123abcd");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(docker.join("config.json"), r#"{"currentContext":"prod"}"#).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"prod","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://prod:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let tls = docker.join("contexts/tls/0123abcd/docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let e = resolve_endpoint(None, &env_of(&[]), Some(home.path())).unwrap();
        assert_eq!(e.url, "tcp://prod:2376");
        assert_eq!(e.source, "context prod");
        assert_eq!(e.tls.unwrap().ca, tls.join("ca.pem"));

        // DOCKER_CONTEXT overrides the config file; an unknown one is an error.
        let err = resolve_endpoint(
            None,
            &env_of(&[("DOCKER_CONTEXT", "nope")]),
            Some(home.path()),
        )
        .unwrap_err();
        assert!(err.contains("\"nope\" is selected but not found"), "{err}");
        // "default" means the local socket.
        let e = resolve_endpoint(
            None,
            &env_of(&[("DOCKER_CONTEXT", "default")]),
            Some(home.path()),
        )
        .unwrap();
        assert_eq!(e.url, DEFAULT_SOCKET);
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(name_from_url("unix:///var/run/docker.sock"), "local");
        assert_eq!(name_from_url("unix:///run/n1/docker.sock"), "n1");
        assert_eq!(name_from_url("unix:///tmp/docker.sock"), "docker");
        assert_eq!(name_from_url("tcp://prod-1:2376"), "prod-1");
        assert_eq!(name_from_url("ssh://ops@web-2:2222"), "web-2");
        assert_eq!(name_from_url("tcp://[fd00::1]:2376"), "fd00::1");
    }

    fn config_host(url: &str) -> crate::config::HostConfig {
        crate::config::HostConfig {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn several_hosts_from_flags_contexts_and_the_config() {
        let home = tempfile::tempdir().unwrap();
        let env = env_of(&[("DOCKER_HOST", "tcp://env:2375")]);
        let names = |specs: Vec<HostSpec>| -> Vec<(String, String)> {
            specs
                .into_iter()
                .map(|s| (s.name, s.endpoint.url))
                .collect()
        };
        // Flags: any number, named or not; names made unique.
        let flags = [
            "db=unix:///run/a/docker.sock".to_string(),
            "tcp://web:2375".into(),
            "tcp://web:2376".into(),
        ];
        let choice = Choice {
            hosts: &flags,
            ..Default::default()
        };
        let mut prod = config_host("tcp://web:2375");
        prod.name = Some("web-a".into());
        prod.read_only = true;
        let specs = resolve_hosts(&choice, &[prod], &env, Some(home.path())).unwrap();
        assert!(specs[1].read_only, "the config's settings for a flag's URL");
        assert_eq!(
            names(specs),
            [
                ("db".into(), "unix:///run/a/docker.sock".into()),
                ("web-a".into(), "tcp://web:2375".into()),
                ("web".into(), "tcp://web:2376".into()),
            ]
        );
        // No flag: the config's hosts, before DOCKER_HOST.
        let none = Choice::default();
        let config = [
            config_host("unix:///var/run/docker.sock"),
            config_host("ssh://ops@web-2"),
        ];
        let specs = resolve_hosts(&none, &config, &env, Some(home.path())).unwrap();
        assert_eq!(
            names(specs),
            [
                ("local".into(), "unix:///var/run/docker.sock".into()),
                ("web-2".into(), "ssh://ops@web-2".into()),
            ]
        );
        // Nothing at all: Docker's own order (here DOCKER_HOST).
        let specs = resolve_hosts(&none, &[], &env, Some(home.path())).unwrap();
        assert_eq!(names(specs), [("env".into(), "tcp://env:2375".into())]);
        // TLS files come in threes.
        let mut half = config_host("tcp://x:2376");
        half.tls_ca = Some("/ca.pem".into());
        let err = resolve_hosts(&none, &[half], &env, Some(home.path())).unwrap_err();
        assert!(
            err.contains("tls_ca, tls_cert and tls_key together"),
            "{err}"
        );

        // Contexts: by name, or all (default first).
        let docker = home.path().join(".docker");
        for (dir, name, host) in [
            ("aa", "prod", "tcp://prod:2376"),
            ("bb", "edge", "ssh://ops@edge"),
        ] {
            let meta = docker.join("contexts/meta").join(dir);
            std::fs::create_dir_all(&meta).unwrap();
            std::fs::write(
                meta.join("meta.json"),
                format!(r#"{{"Name":"{name}","Endpoints":{{"docker":{{"Host":"{host}"}}}}}}"#),
            )
            .unwrap();
        }
        let wanted = ["prod".to_string()];
        let choice = Choice {
            contexts: &wanted,
            ..Default::default()
        };
        let specs = resolve_hosts(&choice, &[], &env, Some(home.path())).unwrap();
        assert_eq!(names(specs), [("prod".into(), "tcp://prod:2376".into())]);
        let all = Choice {
            all_contexts: true,
            ..Default::default()
        };
        let specs = resolve_hosts(&all, &[], &env, Some(home.path())).unwrap();
        assert_eq!(
            names(specs),
            [
                ("default".into(), DEFAULT_SOCKET.into()),
                ("edge".into(), "ssh://ops@edge".into()),
                ("prod".into(), "tcp://prod:2376".into()),
            ]
        );
        let missing = ["nope".to_string()];
        let choice = Choice {
            contexts: &missing,
            ..Default::default()
        };
        let err = resolve_hosts(&choice, &[], &env, Some(home.path())).unwrap_err();
        assert_eq!(
            err,
            "no docker context \"nope\"; the contexts are default, edge, prod"
        );
    }

    #[test]
    fn explanations_name_what_was_tried() {
        let e = Endpoint {
            url: "unix:///nonexistent/docker.sock".into(),
            source: "--host".into(),
            tls: None,
        };
        let msg = explain(&e, "no such socket");
        assert!(msg.contains("unix:///nonexistent/docker.sock (from --host)"));
        assert!(msg.contains("is dockerd running?"));
        let e = Endpoint {
            url: "tcp://127.0.0.1:1".into(),
            source: "DOCKER_HOST".into(),
            tls: None,
        };
        assert!(explain(&e, "connection refused").contains("docker -H URL info"));
        let ssh = Endpoint {
            url: "ssh://ops@web-2".into(),
            source: "--host".into(),
            tls: None,
        };
        assert!(explain(&ssh, "ssh failed").contains("never a password prompt"));
    }
}
