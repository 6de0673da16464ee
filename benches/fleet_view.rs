//! What it costs to watch the fleet: agile-deck against `docker stats`, on
//! the same containers, in the same run, alternating.
//!
//!     cargo bench --bench fleet_view -- [--extra N] [--rounds R] [--window SECS]
//!
//! Watches the demo deployment (started if absent) plus N extra idle
//! workload containers. For each round it measures, in order: the idle
//! daemon; `docker stats` streaming in a tmux pane; agile-deck in a tmux
//! pane. For each: time until every container has figures on screen, the
//! tool's own CPU, the CPU of dockerd + containerd + shims above the idle
//! baseline (all as % of one core, from /proc/<pid>/stat), and the tool's
//! peak RSS (VmHWM). Prints medians and the ratios agile-deck / docker stats.
//! Extra containers carry `agile-deck.bench=<pid>` and are removed at the end.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CPU ticks (utime + stime) of a process.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Ticks of every dockerd, containerd and containerd-shim process.
fn daemon_ticks() -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.starts_with("dockerd") || comm.starts_with("containerd") {
            total += ticks(pid);
        }
    }
    total
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn hz() -> f64 {
    sh("getconf", &["CLK_TCK"]).trim().parse().unwrap_or(100.0)
}

struct Pane {
    socket: String,
}

impl Pane {
    /// `height`: `docker stats` shows only the containers that fit.
    fn start(name: &str, command: &str, height: usize) -> (Pane, u32) {
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
                command,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux failed for {command}");
        let pid = sh(
            "tmux",
            &[
                "-L",
                &socket,
                "display-message",
                "-p",
                "-t",
                "b",
                "#{pane_pid}",
            ],
        )
        .trim()
        .parse()
        .unwrap();
        (Pane { socket }, pid)
    }

    fn screen(&self) -> String {
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

#[derive(Default, Clone, Copy)]
struct Measure {
    first_screen_ms: f64,
    tool_cpu: f64,
    daemon_cpu: f64,
    rss_mib: f64,
}

/// Run `command` in a pane, wait until `full` holds, then measure for `window`.
fn measure(
    name: &str,
    command: &str,
    full: &dyn Fn(&str) -> bool,
    window: Duration,
    baseline: f64,
    height: usize,
) -> Measure {
    let start = Instant::now();
    let (pane, pid) = Pane::start(name, command, height);
    let deadline = start + Duration::from_secs(60);
    while !full(&pane.screen()) {
        assert!(
            Instant::now() < deadline,
            "{name}: no full screen after 60 s:\n{}",
            pane.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first_screen_ms = start.elapsed().as_secs_f64() * 1000.0;
    // Let start-up work settle before the window.
    std::thread::sleep(Duration::from_secs(2));
    let (t0, d0, w0) = (ticks(pid), daemon_ticks(), Instant::now());
    std::thread::sleep(window);
    let (t1, d1, secs) = (ticks(pid), daemon_ticks(), w0.elapsed().as_secs_f64());
    let pct = |t: u64| t as f64 / hz() / secs * 100.0;
    let m = Measure {
        first_screen_ms,
        tool_cpu: pct(t1 - t0),
        daemon_cpu: pct(d1 - d0) - baseline,
        rss_mib: vm_hwm_kib(pid) as f64 / 1024.0,
    };
    drop(pane);
    m
}

fn idle_daemon_cpu(window: Duration) -> f64 {
    let (d0, w0) = (daemon_ticks(), Instant::now());
    std::thread::sleep(window);
    (daemon_ticks() - d0) as f64 / hz() / w0.elapsed().as_secs_f64() * 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .any(|a| a == "--list" || a.starts_with("--format"))
    {
        return; // cargo bench --list
    }
    let extra = arg(&args, "--extra", 0);
    let rounds = arg(&args, "--rounds", 3);
    let window = Duration::from_secs(arg(&args, "--window", 15));
    if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("fleet_view: no Docker daemon; nothing to measure");
        return;
    }
    eprintln!("starting the demo (if absent)…");
    let up = Command::new(BIN).args(["demo", "up"]).status().unwrap();
    assert!(up.success());
    let label = format!("agile-deck.bench={}", std::process::id());
    let _cleanup = Cleanup(label.clone());
    let image = format!("agile-sim:{}", env!("CARGO_PKG_VERSION"));
    for i in 0..extra {
        let name = format!("bench-{}-{i}", std::process::id());
        sh(
            "docker",
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                &label,
                "--label",
                "layer=execution",
                "--no-healthcheck",
                &image,
            ],
        );
    }
    let names: Vec<String> = sh("docker", &["ps", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    let n = names.len();
    eprintln!(
        "watching {n} running containers; {rounds} rounds, {}s windows",
        window.as_secs()
    );

    // docker stats is full when every container's line shows a CPU figure.
    let stats_full = |s: &str| {
        let with_figures = s
            .lines()
            .filter(|l| l.contains('%') && !l.contains("CPU %") && !l.contains("--"))
            .count();
        with_figures >= n
    };
    // agile-deck is full when every layer row has figures and none is partial.
    let deck_full = |s: &str| {
        let rows: Vec<&str> = s
            .lines()
            .filter(|l| {
                let t = l.trim_start_matches('│');
                [
                    "frontend ",
                    "control ",
                    "coordination ",
                    "execution ",
                    "data ",
                ]
                .iter()
                .any(|p| t.starts_with(p))
            })
            .collect();
        rows.len() == 5
            && rows
                .iter()
                .all(|r| !r.contains('…') && !r.contains('~') && r.contains('.'))
    };

    let mut results: HashMap<&str, Vec<Measure>> = HashMap::new();
    let mut baselines = Vec::new();
    // `docker stats` prints only the rows that fit: make them all fit.
    let height = (n + 5).max(50);
    for round in 0..rounds {
        let baseline = idle_daemon_cpu(window);
        baselines.push(baseline);
        let s = measure(
            "stats",
            "docker stats",
            &stats_full,
            window,
            baseline,
            height,
        );
        let d = measure("deck", BIN, &deck_full, window, baseline, height);
        eprintln!(
            "round {round}: idle daemon {baseline:.1}% | docker stats: screen {:.0} ms, self {:.1}%, daemon +{:.1}%, rss {:.1} MiB | agile-deck: screen {:.0} ms, self {:.1}%, daemon +{:.1}%, rss {:.1} MiB",
            s.first_screen_ms,
            s.tool_cpu,
            s.daemon_cpu,
            s.rss_mib,
            d.first_screen_ms,
            d.tool_cpu,
            d.daemon_cpu,
            d.rss_mib
        );
        results.entry("docker stats").or_default().push(s);
        results.entry("agile-deck").or_default().push(d);
    }

    let med = |tool: &str, f: fn(&Measure) -> f64| median(results[tool].iter().map(f).collect());
    println!(
        "\nfleet_view: {n} containers, {rounds} rounds, medians (CPU in % of one core; idle daemon {:.1}%)",
        median(baselines)
    );
    println!(
        "{:<14} {:>12} {:>10} {:>13} {:>10} {:>9}",
        "tool", "first screen", "tool CPU", "daemon CPU +", "total CPU", "peak RSS"
    );
    for tool in ["docker stats", "agile-deck"] {
        println!(
            "{:<14} {:>9.0} ms {:>9.1}% {:>12.1}% {:>9.1}% {:>5.1} MiB",
            tool,
            med(tool, |m| m.first_screen_ms),
            med(tool, |m| m.tool_cpu),
            med(tool, |m| m.daemon_cpu),
            med(tool, |m| m.tool_cpu + m.daemon_cpu),
            med(tool, |m| m.rss_mib)
        );
    }
    let ratio = |f: fn(&Measure) -> f64| med("agile-deck", f) / med("docker stats", f);
    println!(
        "ratios agile-deck / docker stats: first screen {:.2}, total CPU {:.2}, peak RSS {:.2}",
        ratio(|m| m.first_screen_ms),
        ratio(|m| m.tool_cpu + m.daemon_cpu),
        ratio(|m| m.rss_mib)
    );
}

/// Removes the extra containers, also when a measurement fails.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = sh(
            "docker",
            &["ps", "-aq", "--filter", &format!("label={}", self.0)],
        );
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut rm = vec!["rm", "-f"];
            rm.extend(ids);
            sh("docker", &rm);
        }
    }
}
