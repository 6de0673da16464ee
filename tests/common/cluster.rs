//! The tests' cluster (tests/harness/cluster.sh): three private daemons,
//! c1 (Swarm manager), c2 and c3 (workers), each in its own network
//! namespace. `.ci/run` brings it up before the tests and down after;
//! a test brings it up itself if it is not (quick when it is), and cleans
//! up what it made on every node when it ends.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{TEST_LABEL, docker_cli, in_ci};

pub const NODES: [&str; 3] = ["c1", "c2", "c3"];

/// One cluster user at a time per test binary: tests kill nodes and drain
/// them.
static USE: Mutex<()> = Mutex::new(());

fn harness(args: &[&str]) -> Result<String, String> {
    super::run_harness("cluster.sh", args)
}

/// The cluster, held by one test; what the test labelled goes when dropped.
pub struct Cluster {
    pub id: String,
    _use: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Up (root, `ip`, `unshare` and `dockerd` needed: skipped loudly
    /// outside CI without them, a failure in CI), every node answering,
    /// and the workload image on each node.
    pub async fn up_or_skip(test: &str) -> Option<Cluster> {
        let guard = USE.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = harness(&["up"]) {
            if in_ci() {
                panic!("{test}: CI=true but the test cluster did not come up: {e}");
            }
            eprintln!("\n*** SKIPPED {test}: the test cluster did not come up: {e} ***\n");
            return None;
        }
        let c = Cluster {
            id: super::TestRun::new().id.clone(),
            _use: guard,
        };
        // A test that killed a node and failed may have left it down.
        for n in NODES {
            harness(&["start", n]).expect("node starts");
        }
        c.wait_ready();
        for n in NODES {
            let d = c.client(n).await;
            agile_deck::demo::ensure_image(&d, &mut |_| {})
                .await
                .unwrap();
        }
        Some(c)
    }

    /// `agile-deck.test=<id>`
    pub fn label(&self) -> String {
        format!("{TEST_LABEL}={}", self.id)
    }

    pub fn host(&self, node: &str) -> String {
        format!("unix:///run/agile-deck-cluster/{node}/docker.sock")
    }

    /// `--host c1=unix://… --host c2=… --host c3=…`
    pub fn host_flags(&self, nodes: &[&str]) -> String {
        nodes
            .iter()
            .map(|n| format!("--host {n}={}", self.host(n)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub async fn client(&self, node: &str) -> bollard::Docker {
        let endpoint = agile_deck::connect::Endpoint {
            url: self.host(node),
            source: "test".into(),
            tls: None,
        };
        agile_deck::connect::connect(&endpoint).await.unwrap().0
    }

    /// The docker CLI on `node`; its stdout, or a panic with stderr.
    pub fn docker(&self, node: &str, args: &[&str]) -> String {
        let host = self.host(node);
        let mut all = vec!["-H", host.as_str()];
        all.extend_from_slice(args);
        super::docker(&all)
    }

    /// Like `docker`, but the failure is the caller's to judge.
    pub fn try_docker(&self, node: &str, args: &[&str]) -> Result<String, String> {
        let out = docker_cli()
            .args(["-H", &self.host(node)])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// SIGKILL `node`'s dockerd (its containers keep running).
    pub fn kill(&self, node: &str) {
        harness(&["kill", node]).unwrap();
    }

    /// Start `node`'s dockerd again; returns when it answers.
    pub fn start(&self, node: &str) {
        harness(&["start", node]).unwrap();
    }

    /// Up, for a test that also drives the real binary in tmux (skipped
    /// loudly without tmux, as without the cluster).
    pub async fn with_tmux_or_skip(test: &str) -> Option<Cluster> {
        if !super::tool_or_skip(test, "tmux") {
            return None;
        }
        Cluster::up_or_skip(test).await
    }

    /// Every node Ready and active in the manager's list.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ls = self
                .try_docker(
                    "c1",
                    &["node", "ls", "--format", "{{.Status}} {{.Availability}}"],
                )
                .unwrap_or_default();
            if ls.lines().filter(|l| *l == "Ready Active").count() == NODES.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster's nodes did not all get Ready and Active:\n{ls}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Names of this test's running containers on `node`.
    pub fn running(&self, node: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .docker(
                node,
                &[
                    "ps",
                    "--filter",
                    &format!("label={}", self.label()),
                    "--format",
                    "{{.Names}}",
                ],
            )
            .lines()
            .map(String::from)
            .collect();
        names.sort();
        names
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let filter = format!("label={}", self.label());
        let ids = |node: &str, args: &[&str]| -> Vec<String> {
            self.try_docker(node, args)
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        // Nodes a test left drained or labelled go back as they were.
        for node in NODES {
            let _ = harness(&["start", node]);
            let _ = self.try_docker("c1", &["node", "update", "--availability", "active", node]);
        }
        let services = ids("c1", &["service", "ls", "-q", "--filter", &filter]);
        if !services.is_empty() {
            let mut args = vec!["service", "rm"];
            args.extend(services.iter().map(String::as_str));
            let _ = self.try_docker("c1", &args);
        }
        for node in NODES {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let containers = ids(node, &["ps", "-aq", "--filter", &filter]);
                if containers.is_empty() || Instant::now() > deadline {
                    break;
                }
                let mut args = vec!["rm", "-f"];
                args.extend(containers.iter().map(String::as_str));
                let _ = self.try_docker(node, &args);
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}
