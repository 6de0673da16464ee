//! What it costs to watch N containers: agile-deck (each stats path)
//! against `docker stats` and against the raw cgroup-read floor, on the same
//! containers, in the same run, alternating.
//!
//!     cargo bench --bench fleet_view -- [--counts 50,200,500] [--rounds 3] [--window 15]
//!     cargo bench --bench fleet_view -- --churn 10 [--counts 200]
//!
//! For each N it starts N idle workload containers (spread over the five
//! layers, no health check) and lets them settle. Each round measures, in
//! order: the idle daemon; `docker stats` streaming in a tmux pane; agile-deck
//! in a 200×50 tmux pane with `--stats cgroup`, then with `--stats api`
//! (streams uncapped, like docker stats); and the floor, a loop that only
//! reads the same cgroup files once a second. For each: time until every
//! container has figures on screen, the tool's own CPU, the CPU of dockerd,
//! containerd and the shims above the idle baseline (% of one core, from
//! /proc/<pid>/stat), and the tool's peak RSS (VmHWM). Prints medians and the ratios.
//!
//! `--churn MINUTES` instead runs agile-deck (cgroup path) for that long
//! while 20 containers a minute are created and 20 removed, and prints its
//! resident memory every half minute and its peak.
//!
//! `--storm MINUTES` (issue 15, point 6): on top of N steady containers,
//! 100 crash-looping ones (`--restart always`, each exits after 3 s), and
//! 500 containers created and 500 removed over the run, one each way every
//! MINUTES×60/500 s (three threads each way, so a slow call does not hold
//! up the pace). Prints RSS and open descriptors every half minute,
//! their growth after the first minute, and whether the view's inventory
//! equals `docker ps -a` at the end.
//!
//!     cargo bench --bench fleet_view -- --storm 10 --counts 200
//!
//! Containers carry `agile-deck.bench=<pid>` and are removed at the end.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Cleanup, Pane, arg, deck_full, hz, median, sh, vm_hwm_kib};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

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

#[derive(Default, Clone, Copy)]
struct Measure {
    first_screen_ms: f64,
    tool_cpu: f64,
    daemon_cpu: f64,
    rss_mib: f64,
}

impl Measure {
    fn total(&self) -> f64 {
        self.tool_cpu + self.daemon_cpu
    }
}

/// Watch `pid` for `window` after it settled: own CPU, daemon CPU above
/// `baseline`, peak RSS.
fn window_of(pid: u32, window: Duration, baseline: f64, first_screen_ms: f64) -> Measure {
    // Let start-up work settle before the window.
    std::thread::sleep(Duration::from_secs(2));
    let (t0, d0, w0) = (ticks(pid), daemon_ticks(), Instant::now());
    std::thread::sleep(window);
    let (t1, d1, secs) = (ticks(pid), daemon_ticks(), w0.elapsed().as_secs_f64());
    let pct = |t: u64| t as f64 / hz() / secs * 100.0;
    Measure {
        first_screen_ms,
        tool_cpu: pct(t1 - t0),
        daemon_cpu: pct(d1 - d0) - baseline,
        rss_mib: vm_hwm_kib(pid) as f64 / 1024.0,
    }
}

/// Run `command` in a pane, wait until `full` holds, then measure.
fn measure(
    name: &str,
    command: &str,
    full: &dyn Fn(&str) -> bool,
    window: Duration,
    baseline: f64,
    height: usize,
) -> Measure {
    let pane = Pane::open(name, height);
    let start = Instant::now();
    let pid = pane.run(command);
    // A tool that never shows every container (docker stats at 500 on two
    // cores) is measured all the same, with "never" as its time.
    let deadline = start + Duration::from_secs(60);
    let mut first = f64::INFINITY;
    while Instant::now() < deadline {
        if full(&pane.screen()) {
            first = start.elapsed().as_secs_f64() * 1000.0;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if first.is_infinite() {
        eprintln!("  {name}: not every container on screen after 60 s");
    }
    let m = window_of(pid, window, baseline, first);
    drop(pane);
    settle();
    m
}

/// After a tool quits the daemon may still be tearing down its streams
/// (for seconds, with hundreds of them): let that finish outside the next
/// tool's measurement.
fn settle() {
    let n = running() as u64;
    std::thread::sleep(Duration::from_secs(5 + n / 50));
}

/// The floor: this program again, reading the files and nothing else.
fn measure_floor(window: Duration, baseline: f64) -> Measure {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--floor")
        .spawn()
        .unwrap();
    let m = window_of(child.id(), window, baseline, 0.0);
    let _ = child.kill();
    let _ = child.wait();
    settle();
    m
}

/// The raw cost of the figures: resolve every running container's cgroup
/// once, then read its files and /proc/stat once a second, forever.
fn floor_loop() {
    use agile_deck::cgroup::{Layout, SystemCpu};
    let version = sh("docker", &["info", "--format", "{{.CgroupVersion}}"]);
    let layout = Layout::detect(version.trim()).expect("cgroup files readable");
    let mut spare = agile_deck::cgroup::descriptor_budget();
    let stat = SystemCpu::source(&mut spare);
    let readers: Vec<_> = sh("docker", &["ps", "-q", "--no-trunc"])
        .lines()
        .filter_map(|id| layout.resolve(id, None))
        .map(|files| files.open(&mut spare))
        .collect();
    let mut buf = Vec::new();
    loop {
        let _ = std::hint::black_box(SystemCpu::read(&stat, &mut buf));
        for r in &readers {
            let _ = std::hint::black_box(r.read(&mut buf));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn idle_daemon_cpu(window: Duration) -> f64 {
    let (d0, w0) = (daemon_ticks(), Instant::now());
    std::thread::sleep(window);
    (daemon_ticks() - d0) as f64 / hz() / w0.elapsed().as_secs_f64() * 100.0
}

/// Start `n` idle workload containers on the machine's daemon.
fn start_containers(label: &str, image: &str, from: usize, n: usize) {
    common::start_containers(&[], label, image, from, n);
}

fn running() -> usize {
    sh("docker", &["ps", "-q"]).lines().count()
}

/// docker stats is full when every container's line shows a CPU figure.
fn stats_full(n: usize) -> impl Fn(&str) -> bool {
    move |s: &str| {
        let with_figures = s
            .lines()
            .filter(|l| l.contains('%') && !l.contains("CPU %") && !l.contains("--"))
            .count();
        with_figures >= n
    }
}

const TOOLS: [&str; 4] = [
    "docker stats",
    "agile-deck cgroup",
    "agile-deck api",
    "cgroup floor",
];

fn run_count(n: usize, rounds: usize, window: Duration) {
    eprintln!("N = {n}: {rounds} rounds, {}s windows", window.as_secs());
    let mut results: HashMap<&str, Vec<Measure>> = HashMap::new();
    let mut baselines = Vec::new();
    // `docker stats` prints only the rows that fit: make them all fit.
    let tall = n + 5;
    for round in 0..rounds {
        let baseline = idle_daemon_cpu(window);
        baselines.push(baseline);
        let all = [
            measure(
                "stats",
                "docker stats",
                &stats_full(n),
                window,
                baseline,
                tall,
            ),
            measure(
                "cgroup",
                &format!("{BIN} --stats cgroup"),
                &deck_full(n),
                window,
                baseline,
                50,
            ),
            measure(
                "api",
                &format!("{BIN} --stats api --max-streams {}", n + 10),
                &deck_full(n),
                window,
                baseline,
                50,
            ),
            measure_floor(window, baseline),
        ];
        for (tool, m) in TOOLS.iter().zip(all) {
            eprintln!(
                "  round {round} {tool:<18} screen {:>6.0} ms  self {:>5.1}%  daemon {:>+6.1}%  rss {:>5.1} MiB (idle daemon {baseline:.1}%)",
                m.first_screen_ms, m.tool_cpu, m.daemon_cpu, m.rss_mib
            );
            results.entry(tool).or_default().push(m);
        }
    }
    let med = |tool: &str, f: fn(&Measure) -> f64| median(results[tool].iter().map(f).collect());
    println!(
        "\nfleet_view: N = {n} containers, {rounds} rounds, medians (CPU in % of one core; idle daemon {:.1}%)",
        median(baselines)
    );
    println!(
        "{:<18} {:>12} {:>9} {:>13} {:>10} {:>10}",
        "tool", "first screen", "tool CPU", "daemon CPU +", "total CPU", "peak RSS"
    );
    let ms = |v: f64| {
        if v.is_finite() {
            format!("{v:.0} ms")
        } else {
            "never".into()
        }
    };
    for tool in TOOLS {
        println!(
            "{:<18} {:>12} {:>8.1}% {:>12.1}% {:>9.1}% {:>6.1} MiB",
            tool,
            ms(med(tool, |m| m.first_screen_ms)),
            med(tool, |m| m.tool_cpu),
            med(tool, |m| m.daemon_cpu),
            med(tool, Measure::total),
            med(tool, |m| m.rss_mib)
        );
    }
    for deck in ["agile-deck cgroup", "agile-deck api"] {
        let ratio = |other: &str, f: fn(&Measure) -> f64| med(deck, f) / med(other, f);
        println!(
            "{deck} / docker stats: total CPU {:.3}, first screen {:.2}, peak RSS {:.2}; / floor: total CPU {:.2}",
            ratio("docker stats", Measure::total),
            ratio("docker stats", |m| m.first_screen_ms),
            ratio("docker stats", |m| m.rss_mib),
            ratio("cgroup floor", Measure::total),
        );
    }
}

/// agile-deck for `minutes` while containers come and go.
fn churn(n: usize, minutes: u64, label: &str, image: &str) {
    let (pane, pid) = Pane::start("churn", &format!("{BIN} --stats cgroup"), 50);
    let full = deck_full(n);
    let start = Instant::now();
    while !full(&pane.screen()) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}",
            pane.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "\nfleet_view churn: N = {n}, {minutes} min, 20 containers created and 20 removed a minute"
    );
    let rss = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    let mut next = n;
    let mut oldest = 0;
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let mut report = Instant::now();
    // Held-open cgroup files must be closed as containers go.
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    println!(
        "{:>8} {:>10} {:>10} {:>8}",
        "minute", "RSS MiB", "peak MiB", "fds"
    );
    while Instant::now() < end {
        // One in, one out every 3 s: 20 a minute each way.
        let cycle = Instant::now();
        start_containers(label, image, next, 1);
        next += 1;
        let victim = format!("bench-{}-{oldest}", std::process::id());
        sh("docker", &["rm", "-f", &victim]);
        oldest += 1;
        std::thread::sleep(Duration::from_secs(3).saturating_sub(cycle.elapsed()));
        if report.elapsed() >= Duration::from_secs(30) {
            report = Instant::now();
            println!(
                "{:>8.1} {:>10.1} {:>10.1} {:>8}",
                (minutes * 60) as f64 / 60.0
                    - end.saturating_duration_since(Instant::now()).as_secs_f64() / 60.0,
                rss(pid),
                vm_hwm_kib(pid) as f64 / 1024.0,
                fds(pid)
            );
        }
    }
    drop(pane);
}

/// RSS (MiB) and open descriptors of a process.
fn rss_and_fds(pid: u32) -> (f64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// The header's "R/W running", read off the pane.
fn header_counts(screen: &str) -> Option<(usize, usize)> {
    let head = screen.lines().next()?;
    let at = head.find(" running")?;
    let word = head[..at].rsplit(' ').next()?;
    let (r, w) = word.split_once('/')?;
    Some((r.parse().ok()?, w.parse().ok()?))
}

/// Job `i` of `total`, due at `start + every × i + offset`, on three
/// threads, until `end`; `done` counts the jobs that ran.
fn paced(
    total: usize,
    every: Duration,
    start: Instant,
    end: Instant,
    offset: Duration,
    done: &std::sync::atomic::AtomicUsize,
    job: impl Fn(usize) + Sync,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= total {
                        break;
                    }
                    let due = start + every * i as u32 + offset;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    if Instant::now() >= end {
                        break;
                    }
                    job(i);
                    done.fetch_add(1, Relaxed);
                }
            });
        }
    });
}

/// agile-deck for `minutes` under churn and crash loops (see the top).
fn storm(n: usize, minutes: u64, label: &str, image: &str) {
    let pid_tag = std::process::id();
    // 100 crash loops: each exits after 3 s, and Docker starts it again.
    let crashing: Vec<String> = (0..100).map(|i| format!("crash-{pid_tag}-{i}")).collect();
    std::thread::scope(|s| {
        for chunk in crashing.chunks(25) {
            s.spawn(move || {
                for name in chunk {
                    sh(
                        "docker",
                        &[
                            "run",
                            "-d",
                            "--name",
                            name,
                            "--label",
                            label,
                            "--label",
                            "layer=execution",
                            "--restart",
                            "always",
                            "-e",
                            "EXIT_AFTER=3",
                            "-e",
                            "EXIT_CODE=1",
                            image,
                        ],
                    );
                }
            });
        }
    });
    let (pane, pid) = Pane::start("storm", &format!("{BIN} --stats cgroup"), 50);
    std::thread::sleep(Duration::from_secs(5));
    println!(
        "\nfleet_view storm: N = {n} steady + 100 crash-looping, {minutes} min, 500 created and 500 removed"
    );
    println!(
        "{:>8} {:>10} {:>8} {:>12} {:>12} {:>8} {:>8}",
        "minute", "RSS MiB", "fds", "view W", "docker ps -a", "created", "removed"
    );
    let all = || {
        sh(
            "docker",
            &["ps", "-aq", "--filter", &format!("label={label}")],
        )
        .lines()
        .count()
    };
    let every = Duration::from_secs_f64(minutes as f64 * 60.0 / 500.0);
    let start = Instant::now();
    let end = start + Duration::from_secs(minutes * 60);
    // Creating and removing run side by side, each paced to 500 over the
    // run, each on a few threads: under the crash loops one `docker run`
    // can take longer than the pace (1.2 s at 10 min), and one thread
    // each way fell behind.
    let created = std::sync::atomic::AtomicUsize::new(0);
    let removed = std::sync::atomic::AtomicUsize::new(0);
    let mut at_one_minute = None;
    let mut last = (0.0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            paced(500, every, start, end, Duration::ZERO, &created, |i| {
                start_containers(label, image, n + i, 1)
            })
        });
        s.spawn(|| {
            paced(500, every, start, end, every / 2, &removed, |i| {
                sh("docker", &["rm", "-f", &format!("bench-{pid_tag}-{i}")]);
            })
        });
        let mut report = Instant::now();
        // Until the end; a daemon too busy to keep the pace gets fewer
        // (the counts say how many).
        while Instant::now() < end {
            std::thread::sleep(Duration::from_secs(1));
            if report.elapsed() >= Duration::from_secs(30) {
                report = Instant::now();
                last = rss_and_fds(pid);
                let minute = start.elapsed().as_secs_f64() / 60.0;
                if at_one_minute.is_none() && minute >= 1.0 {
                    at_one_minute = Some(last);
                }
                let view = header_counts(&pane.screen()).map(|c| c.1).unwrap_or(0);
                println!(
                    "{minute:>8.1} {:>10.1} {:>8} {view:>12} {:>12} {:>8} {:>8}",
                    last.0,
                    last.1,
                    all(),
                    created.load(std::sync::atomic::Ordering::Relaxed),
                    removed.load(std::sync::atomic::Ordering::Relaxed)
                );
            }
        }
    });
    // Settled: the view's inventory against the daemon's.
    std::thread::sleep(Duration::from_secs(5));
    let (rss, fds) = rss_and_fds(pid);
    let (view, listed) = (header_counts(&pane.screen()).map(|c| c.1), all());
    let (rss1, fds1) = at_one_minute.unwrap_or(last);
    println!(
        "after {minutes} min: RSS {rss:.1} MiB ({:+.1} % since minute 1), fds {fds} ({:+.1} %), peak RSS {:.1} MiB",
        (rss / rss1 - 1.0) * 100.0,
        (fds as f64 / fds1 as f64 - 1.0) * 100.0,
        vm_hwm_kib(pid) as f64 / 1024.0
    );
    println!(
        "churn reached: {} created, {} removed (500 each asked)",
        created.into_inner(),
        removed.into_inner()
    );
    println!(
        "inventory: the view counts {} containers, docker ps -a lists {listed}: {}",
        view.map(|v| v.to_string()).unwrap_or_else(|| "?".into()),
        if view == Some(listed) {
            "equal"
        } else {
            "DIFFERENT"
        }
    );
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    println!("agile-deck still running (no panic): {alive}");
    drop(pane);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .any(|a| a == "--list" || a.starts_with("--format"))
    {
        return; // cargo bench --list
    }
    if args.iter().any(|a| a == "--floor") {
        floor_loop();
        return;
    }
    let counts: Vec<usize> = arg(&args, "--counts", "50,200,500")
        .split(',')
        .map(|c| c.trim().parse().expect("--counts 50,200,500"))
        .collect();
    let rounds: usize = arg(&args, "--rounds", "3").parse().unwrap();
    let window = Duration::from_secs(arg(&args, "--window", "15").parse().unwrap());
    let churn_minutes: u64 = arg(&args, "--churn", "0").parse().unwrap();
    let storm_minutes: u64 = arg(&args, "--storm", "0").parse().unwrap();
    if !Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("fleet_view: no Docker daemon; nothing to measure");
        return;
    }
    assert_eq!(
        running(),
        0,
        "fleet_view measures its own containers only: stop the others first (agile-deck demo down)"
    );
    // The workload image, built as the demo builds it (no registry needed).
    let image = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
        let (docker, _) = agile_deck::connect::connect(&endpoint).await.unwrap();
        agile_deck::demo::ensure_image(&docker, &mut |l| eprintln!("{l}"))
            .await
            .unwrap()
    });
    let label = format!("agile-deck.bench={}", std::process::id());
    let _cleanup = Cleanup(label.clone());
    let mut started = 0;
    for n in counts {
        eprintln!("starting containers: {started} → {n}…");
        start_containers(&label, &image, started, n - started);
        started = n;
        assert_eq!(running(), n, "containers running");
        std::thread::sleep(Duration::from_secs(10));
        if storm_minutes > 0 {
            storm(n, storm_minutes, &label, &image);
        } else if churn_minutes > 0 {
            churn(n, churn_minutes, &label, &image);
        } else {
            run_count(n, rounds, window);
        }
    }
}
