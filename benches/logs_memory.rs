//! Memory of the logs pane under a flood: agile-deck follows the logs of
//! N replicas of one service, each writing R lines a second, for S seconds,
//! and reports its resident memory every 5 s and its peak.
//!
//!     cargo bench --bench logs_memory -- [--replicas 50] [--rate 200] [--seconds 60]
//!
//! The pane keeps at most 10,000 lines (`--log-lines`), so memory should
//! level off however long it runs. Containers carry `agile-deck.bench=<pid>`
//! and are removed at the end.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{sh, status_kib};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tmux(socket: &str, args: &[&str]) -> String {
    let mut all = vec!["-L", socket];
    all.extend_from_slice(args);
    sh("tmux", &all)
}

fn main() {
    let (replicas, rate, seconds) = (
        arg("--replicas", 50),
        arg("--rate", 200),
        arg("--seconds", 60),
    );
    let id = std::process::id();
    let label = format!("agile-deck.bench={id}");
    let service = format!("flood{id}");
    let image = {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let endpoint = agile_deck::connect::endpoint_from_environment(None).unwrap();
            let (d, _) = agile_deck::connect::connect(&endpoint).await.unwrap();
            agile_deck::demo::ensure_image(&d, &mut |_| {})
                .await
                .unwrap()
        })
    };
    eprintln!("starting {replicas} replicas of {service}, {rate} lines/s each");
    std::thread::scope(|s| {
        for part in 0..4u64 {
            let (label, service, image) = (&label, &service, &image);
            s.spawn(move || {
                for n in (1..=replicas).filter(|n| n % 4 == part) {
                    sh(
                        "docker",
                        &[
                            "run",
                            "-d",
                            "--name",
                            &format!("b{id}-{service}-{n}"),
                            "--label",
                            label,
                            "--label",
                            &format!("com.docker.compose.project=b{id}"),
                            "--label",
                            &format!("com.docker.compose.service={service}"),
                            "--label",
                            &format!("com.docker.compose.container-number={n}"),
                            "--no-healthcheck",
                            "-e",
                            &format!("LOG_RATE={rate}"),
                            image,
                        ],
                    );
                }
            });
        }
    });
    let socket = format!("agile-deck-logbench-{id}");
    let dir = std::env::temp_dir().join(format!("agile-deck-logbench-{id}"));
    let _ = std::fs::create_dir_all(&dir);
    Command::new("tmux")
        .args([
            "-L",
            &socket,
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            "b",
        ])
        .arg(format!(
            "XDG_STATE_HOME={} {BIN} --no-prometheus",
            dir.display()
        ))
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let pid: u32 = sh("pgrep", &["-n", "-x", "agile-deck"])
        .trim()
        .parse()
        .expect("agile-deck runs");
    let before = status_kib(pid, "VmRSS:");
    tmux(&socket, &["send-keys", "-t", "b", ":"]);
    tmux(
        &socket,
        &[
            "send-keys",
            "-t",
            "b",
            "-l",
            &format!("logs service:{service}"),
        ],
    );
    tmux(&socket, &["send-keys", "-t", "b", "Enter"]);
    let started = Instant::now();
    println!("time    RSS      peak     lines in the pane");
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5));
        let screen = tmux(&socket, &["capture-pane", "-p", "-t", "b"]);
        let title = screen
            .lines()
            .find(|l| l.contains("logs: service"))
            .unwrap_or("")
            .to_string();
        let lines = title
            .split(" · ")
            .find(|p| p.contains(" lines"))
            .unwrap_or("?")
            .to_string();
        println!(
            "{:>4} s  {:>5.1} MB  {:>5.1} MB  {lines}",
            started.elapsed().as_secs(),
            status_kib(pid, "VmRSS:") as f64 / 1024.0,
            status_kib(pid, "VmHWM:") as f64 / 1024.0
        );
    }
    let peak = status_kib(pid, "VmHWM:");
    println!(
        "\n{replicas} replicas × {rate} lines/s for {seconds} s: RSS before following {:.1} MB, peak {:.1} MB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    tmux(&socket, &["kill-server"]);
    let ids = sh(
        "docker",
        &["ps", "-aq", "--filter", &format!("label={label}")],
    );
    let ids: Vec<&str> = ids.split_whitespace().collect();
    for chunk in ids.chunks(25) {
        let mut args = vec!["rm", "-f"];
        args.extend_from_slice(chunk);
        sh("docker", &args);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
