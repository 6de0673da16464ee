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

impl Endpoint {
    /// Short label for the header: `local` for a unix socket, else the host.
    pub fn label(&self) -> String {
        if self.url.starts_with("unix://") {
            "local".into()
        } else {
            self.url
                .split("://")
                .nth(1)
                .unwrap_or(&self.url)
                .to_string()
        }
    }
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
    let docker_dir = env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".docker")));
    if let Some(dir) = docker_dir {
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
    } else {
        msg += "  Check that the daemon listens there (`docker -H URL info`), the network path and, for TLS, DOCKER_CERT_PATH.\n";
    }
    msg += "  agile-deck tries --host, then DOCKER_HOST, then the current docker context, then unix:///var/run/docker.sock.";
    msg
}

/// Open a client for the endpoint (no request is made yet).
pub fn client(endpoint: &Endpoint) -> Result<Docker, String> {
    let url = endpoint.url.as_str();
    let result = if let Some(path) = url.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(format!("no such socket: {path}"));
        }
        Docker::connect_with_unix(path, REQUEST_TIMEOUT, API_DEFAULT_VERSION)
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
        return Err(
            "ssh:// hosts are not supported yet; forward the socket instead: `ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST` and use --host unix:///tmp/docker.sock".into(),
        );
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
    let docker = client(endpoint)?;
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| e.to_string())?;
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
        assert!(
            client(&Endpoint {
                url: "ssh://x".into(),
                source: "--host".into(),
                tls: None
            })
            .unwrap_err()
            .contains("ssh -NL")
        );
    }
}
