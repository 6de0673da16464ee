//! A local Prometheus for the demo (`agile-deck demo up`) and the tests:
//! its scrape configuration and its process.
//!
//! Targets are found with Prometheus's own Docker discovery (containers
//! carrying a label) and scraped at the port each publishes, through
//! 127.0.0.1, never through a bridge IP. Every target is labelled with
//! `container`, `service` (Compose, else Swarm), `layer` and `team`: the
//! labels the default topology's queries use.

use color_eyre::eyre::{Result, WrapErr, eyre};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The scrape configuration: containers labelled `label` on the daemon
/// at `docker_socket` (a unix:// URL), every `every`.
pub fn scrape_config(docker_socket: &str, label: &str, every: Duration) -> String {
    let secs = every.as_secs().max(1);
    format!(
        r#"# Written by agile-deck: scrapes the containers labelled {label}
# through the ports they publish on 127.0.0.1.
global:
  scrape_interval: {secs}s
  evaluation_interval: {secs}s
scrape_configs:
  - job_name: agile-deck
    docker_sd_configs:
      - host: {docker_socket}
        refresh_interval: {secs}s
        filters:
          - name: label
            values: ["{label}"]
    relabel_configs:
      # One target per published port, scraped on the host's loopback.
      - source_labels: [__meta_docker_port_public]
        regex: '.+'
        action: keep
      - source_labels: [__meta_docker_port_public]
        target_label: __address__
        replacement: '127.0.0.1:$1'
      - source_labels: [__meta_docker_container_name]
        regex: '/?(.*)'
        target_label: container
      - source_labels: [__meta_docker_container_label_com_docker_compose_service, __meta_docker_container_label_com_docker_swarm_service_name]
        regex: '([^;]+);.*|;(.+)'
        replacement: '${{1}}${{2}}'
        target_label: service
      - source_labels: [__meta_docker_container_label_layer]
        target_label: layer
      - source_labels: [__meta_docker_container_label_team]
        target_label: team
"#
    )
}

/// The `prometheus` binary on PATH, if any.
pub fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
}

pub const HOW_TO_GET_IT: &str = "install Prometheus (Debian/Ubuntu: `apt-get install prometheus`, \
     or a release from https://prometheus.io/download/) and run `agile-deck demo up` again";

/// A free port on 127.0.0.1, trying `preferred` first (0: any).
pub fn free_port(preferred: u16) -> std::io::Result<u16> {
    if preferred != 0 && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// GET a path on 127.0.0.1:port; the status code, or None if nobody answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A Prometheus process started here.
pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Start Prometheus with `config` in `dir` (config, data, log), on
    /// 127.0.0.1:`port`, and wait until it is ready. It runs in its own
    /// process group, so it outlives a demo command and ignores the
    /// terminal's Ctrl-C.
    pub fn start(dir: &Path, port: u16, config: &str) -> Result<Server> {
        use std::os::unix::process::CommandExt;
        let bin = binary().ok_or_else(|| eyre!("no prometheus on PATH: {HOW_TO_GET_IT}"))?;
        std::fs::create_dir_all(dir.join("data"))
            .wrap_err_with(|| format!("cannot create {}", dir.display()))?;
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)
            .wrap_err_with(|| format!("cannot write {}", config_path.display()))?;
        let log_path = dir.join("prometheus.log");
        let log = std::fs::File::create(&log_path)
            .wrap_err_with(|| format!("cannot write {}", log_path.display()))?;
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1d")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .wrap_err_with(|| format!("cannot start {}", bin.display()))?;
        let mut server = Server {
            port,
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        server.wait_ready(Duration::from_secs(20))?;
        Ok(server)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < within {
            if http_status(self.port, "/-/ready") == Some(200) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log =
                    std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(eyre!(
                    "prometheus exited ({status}): {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(eyre!(
            "prometheus did not get ready on 127.0.0.1:{} within {} s",
            self.port,
            within.as_secs()
        ))
    }

    /// Stop it (SIGKILL) and reap it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Let it run on after this handle is gone (the demo's).
    pub fn detach(mut self) {
        self.child = None;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the demo's Prometheus keeps its config, data, log and pid.
pub fn demo_dir() -> PathBuf {
    crate::dirs::state().join("demo-prometheus")
}

/// The demo's Prometheus, if it runs: (pid, URL).
pub fn demo_running() -> Option<(u32, String)> {
    let dir = demo_dir();
    let pid: u32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let port: u16 = std::fs::read_to_string(dir.join("port"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // The pid may have been reused: it must still be a prometheus.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if !String::from_utf8_lossy(&cmdline).contains("prometheus") {
        return None;
    }
    (http_status(port, "/-/ready") == Some(200)).then(|| (pid, format!("http://127.0.0.1:{port}")))
}

/// Start the demo's Prometheus unless it runs; returns its URL.
pub fn demo_up(docker_socket: &str, label: &str) -> Result<String> {
    if let Some((_, url)) = demo_running() {
        return Ok(url);
    }
    let dir = demo_dir();
    let port = free_port(9090).wrap_err("no free port on 127.0.0.1")?;
    let server = Server::start(
        &dir,
        port,
        &scrape_config(docker_socket, label, Duration::from_secs(5)),
    )?;
    let pid = server.pid().unwrap_or_default();
    std::fs::write(dir.join("pid"), pid.to_string())?;
    std::fs::write(dir.join("port"), port.to_string())?;
    let url = server.url();
    server.detach();
    Ok(url)
}

/// Stop the demo's Prometheus if it runs; true if it did.
pub fn demo_down() -> bool {
    let Some((pid, _)) = demo_running() else {
        return false;
    };
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = std::fs::remove_file(demo_dir().join("pid"));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrape_config_uses_loopback_and_the_topology_labels() {
        let c = scrape_config(
            "unix:///var/run/docker.sock",
            "agile-deck.demo",
            Duration::from_secs(5),
        );
        assert!(c.contains("replacement: '127.0.0.1:$1'"));
        assert!(c.contains("values: [\"agile-deck.demo\"]"));
        for label in ["container", "service", "layer", "team"] {
            assert!(c.contains(&format!("target_label: {label}\n")), "{label}");
        }
        assert!(c.contains("replacement: '${1}${2}'"));
        assert!(c.contains("scrape_interval: 5s"));
    }
}
