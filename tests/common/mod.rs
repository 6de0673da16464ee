//! Test harness shared by the tests that drive a real Docker daemon.
//!
//! Every resource a test creates carries `agile-deck.test=<run id>`; the
//! `TestRun` guard removes them all when dropped, also when the test fails.
//! Without a daemon the tests skip loudly — except in CI (`CI=true`), where
//! they fail: there they must really run.

#![allow(dead_code)]

pub mod cluster;
pub mod desk;
pub mod sshd;
pub mod stats;
pub mod tmux;

use std::process::Command;
use std::time::{Duration, Instant};

pub const TEST_LABEL: &str = "agile-deck.test";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// How long one docker CLI call may take before the test fails. A daemon
/// that stops answering must fail the run with a message, not stall CI.
const DOCKER_CLI_LIMIT: &str = "180";

/// How long one test binary may run in all (`AGILE_DECK_TEST_LIMIT`
/// seconds): past it, the watchdog names the limit and ends the process.
const TEST_BINARY_LIMIT: Duration = Duration::from_secs(25 * 60);

/// The docker CLI, bounded: killed (exit 124) after `DOCKER_CLI_LIMIT`.
pub fn docker_cli() -> Command {
    watchdog();
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", DOCKER_CLI_LIMIT, "docker"]);
    cmd
}

/// Started by the first docker call of a test binary: whatever hangs (the
/// daemon, a stream, a test's own wait), the binary ends with a message
/// well within CI's time, and the run's cleanup trap still runs.
fn watchdog() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let limit = std::env::var("AGILE_DECK_TEST_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(TEST_BINARY_LIMIT, Duration::from_secs);
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "\n*** WATCHDOG: this test binary has run for {} s (AGILE_DECK_TEST_LIMIT): something hangs; `docker ps -a` and the daemon's log tell what ***\n",
                limit.as_secs()
            );
            std::process::exit(124);
        });
    });
}

/// Whether a Docker daemon answers; skip (loudly) or fail (in CI) if not.
pub fn docker_or_skip(test: &str) -> bool {
    let ok = docker_cli()
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if in_ci() {
            panic!(
                "{test}: CI=true but no Docker daemon answers `docker info`: .ci/run must start one"
            );
        }
        eprintln!(
            "\n*** SKIPPED {test}: no Docker daemon answers `docker info` (start dockerd to run it) ***\n"
        );
    }
    ok
}

/// Whether a program is on PATH; skip (loudly) or fail (in CI) if not.
pub fn tool_or_skip(test: &str, tool: &str) -> bool {
    let ok = Command::new(tool).arg("-V").output().is_ok();
    if !ok {
        if in_ci() {
            panic!("{test}: CI=true but `{tool}` is not installed: .ci/run must install it");
        }
        eprintln!("\n*** SKIPPED {test}: `{tool}` is not installed ***\n");
    }
    ok
}

/// `docker run -d` with the run's label; returns the container id.
pub fn run_labelled(run: &TestRun, name: &str, extra: &[&str], image: &str) -> String {
    let label = run.label();
    let mut args = vec!["run", "-d", "--name", name, "--label", &label];
    args.extend_from_slice(extra);
    args.push(image);
    docker(&args).trim().to_string()
}

/// Run a docker CLI command; its stdout, or a panic with stderr.
pub fn docker(args: &[&str]) -> String {
    let out = docker_cli().args(args).output().expect("docker CLI");
    assert!(
        out.status.code() != Some(124),
        "docker {}: no answer within {DOCKER_CLI_LIMIT} s",
        args.join(" ")
    );
    assert!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One test run: a unique id and the cleanup of everything labelled with it.
pub struct TestRun {
    pub id: String,
    swarm_initialised: bool,
    /// Held by a test that uses the Swarm until it is done (and has left
    /// the Swarm it made): tests of one binary run in parallel, and one
    /// leaving while another still uses it failed the other.
    _swarm: Option<std::sync::MutexGuard<'static, ()>>,
}

/// One Swarm user at a time per test binary.
static SWARM: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl TestRun {
    pub fn new() -> TestRun {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        TestRun {
            id: format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff),
            swarm_initialised: false,
            _swarm: None,
        }
    }

    /// `agile-deck.test=<id>`
    pub fn label(&self) -> String {
        format!("{TEST_LABEL}={}", self.id)
    }

    /// Make the daemon a Swarm manager if it is not one yet.
    pub fn ensure_swarm_manager(&mut self) {
        self._swarm = Some(SWARM.lock().unwrap_or_else(|e| e.into_inner()));
        let state = docker(&[
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
        ]);
        if state.trim() != "active true" {
            docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            self.swarm_initialised = true;
        }
    }
}

impl Drop for TestRun {
    fn drop(&mut self) {
        let filter = format!("label={}", self.label());
        let ids = |args: &[&str]| -> Vec<String> {
            docker_cli()
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let services = ids(&["service", "ls", "-q", "--filter", &filter]);
        if !services.is_empty() {
            let _ = docker_cli()
                .args(["service", "rm"])
                .args(&services)
                .output();
        }
        // Swarm removes its tasks' containers asynchronously: wait for them.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let containers = ids(&["ps", "-aq", "--filter", &filter]);
            if containers.is_empty() || Instant::now() > deadline {
                break;
            }
            let _ = docker_cli().args(["rm", "-f"]).args(&containers).output();
            std::thread::sleep(Duration::from_millis(300));
        }
        // A network can still hold the endpoint of a container just
        // removed ("active endpoints"): try again for a few seconds, so a
        // run leaves no network behind (one was seen left by the demo test).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let networks = ids(&["network", "ls", "-q", "--filter", &filter]);
            if networks.is_empty() || Instant::now() > deadline {
                break;
            }
            let _ = docker_cli()
                .args(["network", "rm"])
                .args(&networks)
                .output();
            std::thread::sleep(Duration::from_millis(300));
        }
        if self.swarm_initialised {
            let _ = docker_cli().args(["swarm", "leave", "--force"]).output();
            // `swarm init` created this bridge; leave the daemon as we found
            // it (it can take a moment to lose its last endpoint).
            for _ in 0..10 {
                let gone = docker_cli()
                    .args(["network", "rm", "docker_gwbridge"])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if gone {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Poll `f` until it returns Some, or panic after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How a stand-in for Prometheus answers.
#[derive(Clone, Copy)]
pub enum FakeAnswer {
    /// Answers a good vector, but only after 5 s (an overloaded server:
    /// later than any timeout the tests set).
    Late,
    /// `503` with an HTML page, as a proxy in front of a dead backend.
    Html503,
    /// `200` with a body that is not JSON.
    NotJson,
}

/// A tiny HTTP server on 127.0.0.1 that answers every request the same
/// way; it stops when the process ends. Returns its port.
pub fn fake_prometheus(answer: FakeAnswer) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let reply = match answer {
                    FakeAnswer::Late => {
                        std::thread::sleep(Duration::from_secs(5));
                        (
                            "200 OK",
                            "application/json",
                            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#,
                        )
                    }
                    FakeAnswer::Html503 => (
                        "503 Service Unavailable",
                        "text/html",
                        "<html><body>upstream unavailable</body></html>",
                    ),
                    FakeAnswer::NotJson => ("200 OK", "text/plain", "hello"),
                };
                let (status, kind, body) = reply;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// `docker run -d` a Compose-style replica: `<project>-<service>-<n>`
/// with Compose's labels and the run's, plus `extra` arguments; returns
/// its name.
pub fn compose_replica(
    run: &TestRun,
    image: &str,
    project: &str,
    service: &str,
    number: u32,
    extra: &[&str],
) -> String {
    let name = format!("{project}-{service}-{number}");
    let labels = [
        run.label(),
        format!("com.docker.compose.project={project}"),
        format!("com.docker.compose.service={service}"),
        format!("com.docker.compose.container-number={number}"),
    ];
    let mut args = vec!["run", "-d", "--name", &name];
    for l in &labels {
        args.extend(["--label", l.as_str()]);
    }
    args.extend_from_slice(extra);
    args.push(image);
    docker(&args);
    name
}

/// An app on the daemon the environment names (topology given, default
/// keys and theme), told about the daemon; and the client.
pub async fn app_on_daemon(
    topology: agile_deck::topology::Topology,
) -> (agile_deck::app::App, bollard::Docker) {
    app_on(topology, None).await
}

/// The same on the daemon `host` names (None: the environment's).
pub async fn app_on(
    topology: agile_deck::topology::Topology,
    host: Option<&str>,
) -> (agile_deck::app::App, bollard::Docker) {
    let endpoint = agile_deck::connect::endpoint_from_environment(host).unwrap();
    let (docker, info) = agile_deck::connect::connect(&endpoint).await.unwrap();
    let mut app = agile_deck::app::App::new(
        agile_deck::fleet::Fleet::new(topology),
        agile_deck::keymap::Keymap::default_keymap(),
        agile_deck::theme::Theme::default_theme(),
        agile_deck::app::Hosts::single("local", "test"),
    );
    app.update(agile_deck::app::Msg::Daemon(info));
    (app, docker)
}

/// The workload image (`FROM scratch`, agile-sim), built if missing or stale.
pub async fn workload_image() -> String {
    let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
    let d = agile_deck::connect::connect(&endpoint).await.unwrap().0;
    agile_deck::demo::ensure_image(&d, &mut |l| eprintln!("{l}"))
        .await
        .unwrap()
}

/// `FROM <workload image>` plus `ENV <env>`, tagged `tag`.
pub fn derived_image(base: &str, tag: &str, env: &str) -> String {
    built_image(base, tag, &format!("ENV {env}"))
}

/// `FROM <workload image>` plus one Dockerfile instruction, tagged `tag`.
pub fn built_image(base: &str, tag: &str, instruction: &str) -> String {
    let mut child = docker_cli()
        .args(["build", "-q", "-t", tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("FROM {base}\n{instruction}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tag.to_string()
}

/// Health checks every second, one failure is enough: fast tests.
pub const FAST_HEALTH: [&str; 6] = [
    "--health-interval",
    "1s",
    "--health-timeout",
    "1s",
    "--health-retries",
    "1",
];

/// Wait until `n` containers with `label` (KEY=VALUE) are healthy.
pub fn wait_healthy(label: &str, n: usize) {
    wait_for(
        &format!("{n} healthy with {label}"),
        Duration::from_secs(30),
        || {
            let healthy = docker(&[
                "ps",
                "-q",
                "--filter",
                &format!("label={label}"),
                "--filter",
                "health=healthy",
            ]);
            (healthy.lines().count() == n).then_some(())
        },
    );
}

/// Names of the containers with a label, sorted.
pub fn names_of(label: &str) -> Vec<String> {
    let mut v: Vec<String> = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={label}"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

/// A private Docker daemon of the test's own (tests/harness/dockerd.sh):
/// killed and started again at will; stopped and removed when dropped.
/// The machine's own daemon is never touched.
pub struct PrivateDaemon {
    pub name: String,
    /// `unix:///run/agile-deck-test/NAME/docker.sock`
    pub host: String,
}

/// Run `tests/harness/SCRIPT` (at most 300 s): its stdout, or its stderr.
fn run_harness(script: &str, args: &[&str]) -> Result<String, String> {
    let path = format!("{}/tests/harness/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("timeout")
        .args(["300", "bash", &path])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn harness(args: &[&str]) -> Result<String, String> {
    run_harness("dockerd.sh", args)
}

impl PrivateDaemon {
    /// Start one (root, `ip` and `dockerd` needed: skipped loudly outside
    /// CI when they are not there, a failure in CI).
    pub fn start_or_skip(test: &str, name: &str) -> Option<PrivateDaemon> {
        match harness(&["start", name]) {
            Ok(host) => Some(PrivateDaemon {
                name: name.to_string(),
                host,
            }),
            Err(e) if in_ci() => panic!("{test}: CI=true but a private dockerd did not start: {e}"),
            Err(e) => {
                eprintln!("\n*** SKIPPED {test}: a private dockerd did not start: {e} ***\n");
                None
            }
        }
    }

    /// SIGKILL its dockerd (its containers keep running).
    pub fn kill(&self) {
        harness(&["kill", &self.name]).unwrap();
    }

    /// Start it again; returns when it answers.
    pub fn restart(&self) {
        harness(&["start", &self.name]).unwrap();
    }

    /// The docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> String {
        let mut all = vec!["-H", self.host.as_str()];
        all.extend_from_slice(args);
        docker(&all)
    }

    /// Give it an image of the machine's daemon (no registry: save | load).
    pub fn load(&self, image: &str) {
        let mut save = docker_cli()
            .args(["save", image])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let ok = docker_cli()
            .args(["-H", &self.host, "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .status()
            .unwrap()
            .success();
        let saved = save.wait().unwrap().success();
        assert!(ok && saved, "docker save | docker load into {}", self.name);
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        if let Err(e) = harness(&["stop", &self.name]) {
            eprintln!("stopping the private dockerd {}: {e}", self.name);
        }
    }
}
