//! A remote host watched through agile-deck's agent (issue 18), side by
//! side with `docker stats` run on that host and with agile-deck on the
//! Docker API path over the same ssh: what watching costs the host, what
//! goes over the wire, and how soon the first full screen comes.
//!
//!     cargo bench --bench agent -- [--count 200] [--window 20] [--rounds 2]
//!
//! The "remote host" is this machine reached through a real sshd on
//! 127.0.0.1 (Debian's, with keys made here), with the agent on its
//! sessions' PATH. N idle workload containers are started (no health
//! check). Each round measures, after an idle baseline:
//! * `docker stats` in a pane tall enough for every line;
//! * agile-deck `--host ssh://…` (the agent);
//! * agile-deck `--host ssh://… --stats api` (a stream per container).
//!
//! The host's cost is the CPU (% of one core, from /proc/<pid>/stat) of
//! dockerd, containerd and the shims above the idle baseline, plus what
//! runs on the host for the watcher: `docker stats` itself, or the sshd
//! sessions, the `docker system dial-stdio` relays and the agent. The
//! dashboard and its ssh run on the operator's machine and are shown
//! apart. Bytes on the wire come from the engine line ("agents N/s", the
//! agent's frames). The first full screen is counted from the moment the
//! SSH connection is up (the master's control socket appears).
//!
//! Containers carry `agile-deck.bench=<pid>` and are removed at the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;
#[allow(dead_code)]
#[path = "../tests/common/sshd.rs"]
mod sshd;

use common::{Cleanup, Pane, arg, deck_full, hz, median, sh};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

/// For tests/common/sshd.rs: a bench never runs in CI.
fn in_ci() -> bool {
    false
}

/// (pid, comm, parent, CPU ticks) of every process.
fn processes() -> Vec<(u32, String, u32, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c).to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push((pid, comm, num(1) as u32, num(11) + num(12)));
    }
    out
}

/// Whose CPU a process is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    /// dockerd, containerd, the shims.
    Daemon,
    /// On the host for the watcher: docker CLIs (stats, dial-stdio), the
    /// sshd sessions, the agent.
    Watcher,
    /// On the operator's machine: the dashboard and its ssh.
    Local,
}

fn side(comm: &str, cmdline: &str, parent: u32, listener: u32) -> Option<Side> {
    if comm.starts_with("dockerd") || comm.starts_with("containerd") {
        Some(Side::Daemon)
    } else if comm == "docker"
        || (comm == "sshd" && parent == listener)
        || (comm == "agile-deck" && cmdline.contains("agent"))
    {
        Some(Side::Watcher)
    } else if comm == "agile-deck" || comm == "ssh" {
        Some(Side::Local)
    } else {
        None
    }
}

/// CPU ticks by side, per process (so that one that ends is not negative).
fn ticks_by_pid(listener: u32) -> HashMap<u32, (Side, u64)> {
    let mut out = HashMap::new();
    for (pid, comm, parent, ticks) in processes() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        // An sshd session's children (its privilege-separated half) count too.
        let parent_is_session = comm == "sshd" && pid != listener && parent != listener;
        let s =
            side(&comm, &cmdline, parent, listener).or(parent_is_session.then_some(Side::Watcher));
        if let Some(s) = s {
            out.insert(pid, (s, ticks));
        }
    }
    out
}

/// % of one core by side over `window`.
fn cpu_by_side(listener: u32, window: Duration) -> HashMap<Side, f64> {
    let before = ticks_by_pid(listener);
    let w0 = Instant::now();
    std::thread::sleep(window);
    let after = ticks_by_pid(listener);
    let secs = w0.elapsed().as_secs_f64();
    let mut out = HashMap::new();
    for (pid, (s, t1)) in after {
        let t0 = before.get(&pid).map_or(0, |(_, t)| *t);
        *out.entry(s).or_insert(0.0) += t1.saturating_sub(t0) as f64 / hz() / secs * 100.0;
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Measure {
    /// ms from the SSH connection up (or the start) to every container
    /// with figures.
    first_screen_ms: f64,
    /// The host: daemons above idle + what runs there for the watcher.
    host_cpu: f64,
    local_cpu: f64,
    /// Agent frames, bytes per second.
    wire: f64,
}

/// "agents 5.6K/s" on the engine line, in bytes per second.
fn wire_rate(screen: &str) -> f64 {
    let Some(after) = screen.split("agents ").nth(1) else {
        return 0.0;
    };
    let v = after.split("/s").next().unwrap_or("");
    let (num, mult) = match v.chars().last() {
        Some('K') => (&v[..v.len() - 1], 1024.0),
        Some('M') => (&v[..v.len() - 1], 1048576.0),
        Some('B') => (&v[..v.len() - 1], 1.0),
        _ => (v, 1.0),
    };
    num.parse::<f64>().unwrap_or(0.0) * mult
}

/// The master's control socket of a dashboard started after `since`.
fn ssh_up_since(since: std::time::SystemTime) -> bool {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("agile-deck-relay-")
        })
        .any(|e| {
            let sock = e.path().join("ssh-control");
            std::fs::metadata(&sock)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
}

/// What every measurement of a round shares.
struct Round {
    listener: u32,
    window: Duration,
    /// The daemons' CPU with nothing watching.
    idle: f64,
}

fn measure(
    r: &Round,
    name: &str,
    command: &str,
    full: &dyn Fn(&str) -> bool,
    over_ssh: bool,
    height: usize,
) -> Measure {
    let pane = Pane::open(name, height);
    let since = std::time::SystemTime::now();
    let start = Instant::now();
    pane.run(command);
    let mut ssh_up: Option<Instant> = None;
    let deadline = start + Duration::from_secs(90);
    let mut first = f64::INFINITY;
    while Instant::now() < deadline {
        if over_ssh && ssh_up.is_none() && ssh_up_since(since) {
            ssh_up = Some(Instant::now());
        }
        if full(&pane.screen()) {
            let from = ssh_up.unwrap_or(start);
            first = from.elapsed().as_secs_f64() * 1000.0;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if first.is_infinite() {
        eprintln!("  {name}: not every container on screen after 90 s");
    }
    // Start-up work (the inventory's inspects, docker stats' first
    // streams) settles before the window: what is measured is watching.
    std::thread::sleep(Duration::from_secs(10));
    let cpu = cpu_by_side(r.listener, r.window);
    let screen = pane.screen();
    drop(pane);
    // Streams and sessions torn down outside the next measurement.
    std::thread::sleep(Duration::from_secs(8));
    Measure {
        first_screen_ms: first,
        host_cpu: cpu.get(&Side::Daemon).copied().unwrap_or(0.0) - r.idle
            + cpu.get(&Side::Watcher).copied().unwrap_or(0.0),
        local_cpu: cpu.get(&Side::Local).copied().unwrap_or(0.0),
        wire: wire_rate(&screen),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--count", "200").parse().unwrap();
    let window = Duration::from_secs(arg(&args, "--window", "20").parse().unwrap());
    let rounds: usize = arg(&args, "--rounds", "2").parse().unwrap();
    let already = sh("docker", &["ps", "-q"]).lines().count();
    assert_eq!(
        already, 0,
        "{already} containers already run: the bench wants the daemon to itself"
    );
    let sshd = sshd::Sshd::start_or_skip("bench agent").expect("sshd (openssh-server) installed");
    sshd.put_agent(BIN);
    let listener = sshd.pid();
    let label = format!("agile-deck.bench={}", std::process::id());
    let _cleanup = Cleanup(label.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let image = rt.block_on(async {
        let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
        let d = agile_deck::connect::connect(&endpoint).await.unwrap().0;
        agile_deck::demo::ensure_image(&d, &mut |_| {})
            .await
            .unwrap()
    });
    eprintln!("starting {n} containers …");
    common::start_containers(&[], &label, &image, 0, n);
    std::thread::sleep(Duration::from_secs(10));
    let ssh_env = format!("AGILE_DECK_SSH='{}'", sshd.ssh_command());
    let state = tempfile::tempdir().unwrap();
    let deck = |extra: &str| {
        format!(
            "{ssh_env} XDG_STATE_HOME={} {BIN} --no-prometheus --show-engine --host {} {extra}",
            state.path().display(),
            sshd.url()
        )
    };
    let stats_full = move |s: &str| {
        s.lines()
            .filter(|l| l.contains('%') && !l.contains("CPU %") && !l.contains("--"))
            .count()
            >= n
    };
    const TOOLS: [&str; 3] = ["docker stats", "agile-deck agent", "agile-deck api/ssh"];
    let mut results: HashMap<&str, Vec<Measure>> = HashMap::new();
    let mut idles = Vec::new();
    for round in 0..rounds {
        let idle = cpu_by_side(listener, window)
            .get(&Side::Daemon)
            .copied()
            .unwrap_or(0.0);
        idles.push(idle);
        let r = Round {
            listener,
            window,
            idle,
        };
        let all = [
            measure(&r, "stats", "docker stats", &stats_full, false, n + 5),
            measure(&r, "agent", &deck(""), &deck_full(n), true, 50),
            measure(
                &r,
                "api",
                &deck(&format!("--stats api --max-streams {}", n + 10)),
                &deck_full(n),
                true,
                50,
            ),
        ];
        for (tool, m) in TOOLS.iter().zip(all) {
            eprintln!(
                "  round {round} {tool:<20} first screen {:>6.0} ms  host {:>+6.1}%  local {:>5.1}%  wire {:>7.0} B/s (idle daemons {idle:.1}%)",
                m.first_screen_ms, m.host_cpu, m.local_cpu, m.wire
            );
            results.entry(tool).or_default().push(m);
        }
    }
    let med = |tool: &str, f: fn(&Measure) -> f64| median(results[tool].iter().map(f).collect());
    println!(
        "\nagent: N = {n} containers on the remote host, {rounds} rounds of {} s, medians (CPU in % of one core; idle daemons {:.1}%)",
        window.as_secs(),
        median(idles)
    );
    println!(
        "{:<20} {:>24} {:>16} {:>14} {:>22}",
        "tool", "first screen (after ssh)", "host CPU +", "local CPU", "wire B/container/s"
    );
    for tool in TOOLS {
        let wire = med(tool, |m| m.wire);
        println!(
            "{:<20} {:>21.0} ms {:>15.1}% {:>13.1}% {:>22}",
            tool,
            med(tool, |m| m.first_screen_ms),
            med(tool, |m| m.host_cpu),
            med(tool, |m| m.local_cpu),
            if wire > 0.0 {
                format!("{:.1}", wire / n as f64)
            } else {
                "-".into()
            }
        );
    }
    let ratio = |a: &str, b: &str| med(a, |m| m.host_cpu) / med(b, |m| m.host_cpu);
    println!(
        "host cost: agent / docker stats = {:.3} (1/{:.0}); api over ssh / docker stats = {:.2}",
        ratio("agile-deck agent", "docker stats"),
        1.0 / ratio("agile-deck agent", "docker stats"),
        ratio("agile-deck api/ssh", "docker stats"),
    );
}
