//! Helpers the benchmark programs share.

#![allow(dead_code)]

use std::process::Command;

/// Run a command; its standard output.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A field of /proc/<pid>/status in KiB (VmHWM: peak, VmRSS: now).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Peak resident memory of a process, KiB.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// The layers the benchmarks spread their containers over.
pub const LAYERS: [&str; 5] = ["frontend", "control", "coordination", "execution", "data"];

/// A tmux pane of the benchmark's own, 200 columns wide.
pub struct Pane {
    socket: String,
}

impl Pane {
    /// `height`: `docker stats` shows only the containers that fit.
    /// A pane running `command`. The tmux server starts first, with a
    /// placeholder, so its own start-up is not counted as the tool's.
    pub fn start(name: &str, command: &str, height: usize) -> (Pane, u32) {
        let pane = Pane::open(name, height);
        let pid = pane.run(command);
        (pane, pid)
    }

    pub fn open(name: &str, height: usize) -> Pane {
        let socket = format!("agile-deck-bench-{name}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                &height.to_string(),
                "-s",
                "b",
                "sleep 100000",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux failed");
        Pane { socket }
    }

    /// Replace the pane's program with `command`; its pid.
    pub fn run(&self, command: &str) -> u32 {
        let socket = &self.socket;
        let ok = Command::new("tmux")
            .args(["-L", socket, "respawn-pane", "-k", "-t", "b", command])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux failed for {command}");
        sh(
            "tmux",
            &[
                "-L",
                socket,
                "display-message",
                "-p",
                "-t",
                "b",
                "#{pane_pid}",
            ],
        )
        .trim()
        .parse()
        .unwrap()
    }

    pub fn screen(&self) -> String {
        sh(
            "tmux",
            &["-L", &self.socket, "capture-pane", "-p", "-t", "b"],
        )
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// agile-deck is full when every layer row has figures and none is
/// partial, and the header counts every container as running.
pub fn deck_full(n: usize) -> impl Fn(&str) -> bool {
    move |s: &str| {
        let rows: Vec<&str> = s
            .lines()
            .filter(|l| {
                let t = l.trim_start_matches('│');
                LAYERS.iter().any(|p| t.starts_with(&format!("{p} ")))
            })
            .collect();
        s.contains(&format!(" {n}/{n} running"))
            && rows.len() == 5
            && rows
                .iter()
                .all(|r| !r.contains('…') && !r.contains('~') && r.contains('.'))
    }
}

/// Start `n` idle workload containers (numbered from `from`, spread over
/// the layers, no health check), four `docker run`s at a time; `docker`:
/// options before `run` (`-H unix://…`), none for the machine's daemon.
pub fn start_containers(docker: &[&str], label: &str, image: &str, from: usize, n: usize) {
    let next = std::sync::atomic::AtomicUsize::new(from);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= from + n {
                        break;
                    }
                    let name = format!("bench-{}-{i}", std::process::id());
                    let layer = format!("layer={}", LAYERS[i % 5]);
                    let mut args = docker.to_vec();
                    args.extend([
                        "run",
                        "-d",
                        "--name",
                        &name,
                        "--label",
                        label,
                        "--label",
                        &layer,
                        "--no-healthcheck",
                        image,
                    ]);
                    sh("docker", &args);
                }
            });
        }
    });
}

/// USER_HZ: the unit of CPU times in /proc.
pub fn hz() -> f64 {
    sh("getconf", &["CLK_TCK"]).trim().parse().unwrap_or(100.0)
}

/// `--name VALUE` from the command line, or `default`.
pub fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Removes the containers with this label (on the machine's daemon),
/// also when a measurement fails.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = sh(
            "docker",
            &["ps", "-aq", "--filter", &format!("label={}", self.0)],
        );
        let ids: Vec<&str> = ids.split_whitespace().collect();
        // In small batches: one `docker rm -f` of 500 ids once left
        // Docker 20.10 unable to remove anything until restarted.
        for batch in ids.chunks(25) {
            let mut rm = vec!["rm", "-f"];
            rm.extend(batch);
            sh("docker", &rm);
        }
    }
}
