//! Several hosts against one (issue 17): the first full screen — every
//! layer row with figures, the header counting every container — with
//! three hosts of N containers each, against one host of 3N, on the
//! tests' cluster of private daemons (tests/harness/cluster.sh, brought up
//! here if it is not). Alternating, in the same run; prints the medians,
//! the ratio, and the engine line (each host's path and share).
//!
//!     cargo bench --bench hosts -- [--per-host 100] [--rounds 3]
//!
//! Containers carry `agile-deck.bench=<pid>` and are removed at the end.

use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Pane, arg, deck_full, median, sh};

const BIN: &str = env!("CARGO_BIN_EXE_agile-deck");
const NODES: [&str; 3] = ["c1", "c2", "c3"];

fn harness(args: &[&str]) -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/harness/cluster.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn host(node: &str) -> String {
    format!("unix:///run/agile-deck-cluster/{node}/docker.sock")
}

fn dk(node: &str, args: &[&str]) -> String {
    let h = host(node);
    let mut all = vec!["-H", h.as_str()];
    all.extend_from_slice(args);
    sh("docker", &all)
}

/// Start `n` idle workload containers on `node`.
fn start_on(node: &str, label: &str, image: &str, from: usize, n: usize) {
    let h = host(node);
    common::start_containers(&["-H", &h], label, image, from, n);
}

fn remove_on(node: &str, label: &str) {
    let ids = dk(node, &["ps", "-aq", "--filter", &format!("label={label}")]);
    let ids: Vec<&str> = ids.split_whitespace().collect();
    for chunk in ids.chunks(50) {
        let mut args = vec!["rm", "-f"];
        args.extend_from_slice(chunk);
        dk(node, &args);
    }
}

fn running_on(node: &str) -> usize {
    dk(node, &["ps", "-q"]).lines().count()
}

/// Milliseconds until agile-deck on `hosts` shows every one of `n` containers
/// with figures; and the engine line then.
fn first_screen(name: &str, hosts: &str, n: usize) -> (f64, String) {
    let pane = Pane::open(name, 50);
    let start = Instant::now();
    pane.run(&format!("{BIN} --no-prometheus --show-engine {hosts}"));
    let full = deck_full(n);
    let deadline = start + Duration::from_secs(60);
    let mut ms = f64::INFINITY;
    let mut screen = String::new();
    while Instant::now() < deadline {
        screen = pane.screen();
        if full(&screen) {
            ms = start.elapsed().as_secs_f64() * 1000.0;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if ms.is_infinite() {
        eprintln!("  {name}: not every container on screen after 60 s:\n{screen}");
    }
    // The engine line refreshes every 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    let engine = pane
        .screen()
        .lines()
        .find(|l| l.contains("stats engine"))
        .unwrap_or_default()
        .trim()
        .to_string();
    (ms, engine)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args
        .iter()
        .any(|a| a == "--list" || a.starts_with("--format"))
    {
        return; // cargo bench --list
    }
    let per_host: usize = arg(&args, "--per-host", "100").parse().unwrap();
    let rounds: usize = arg(&args, "--rounds", "3").parse().unwrap();
    if !harness(&["up"]) {
        eprintln!("hosts: the cluster did not come up (root, ip, unshare, dockerd needed)");
        return;
    }
    let baseline: Vec<usize> = NODES.iter().map(|n| running_on(n)).collect();
    assert!(
        baseline.iter().all(|n| *n == 0),
        "hosts measures its own containers only; the cluster runs {baseline:?}"
    );
    let image = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut tag = String::new();
        for n in NODES {
            let endpoint = agile_deck::connect::Endpoint {
                url: host(n),
                source: "bench".into(),
                tls: None,
            };
            let (docker, _) = agile_deck::connect::connect(&endpoint).await.unwrap();
            tag = agile_deck::demo::ensure_image(&docker, &mut |_| {})
                .await
                .unwrap();
        }
        tag
    });
    let label = format!("agile-deck.bench={}", std::process::id());
    let total = per_host * NODES.len();
    let one = format!("--host c1={}", host("c1"));
    let three = NODES
        .iter()
        .map(|n| format!("--host {n}={}", host(n)))
        .collect::<Vec<_>>()
        .join(" ");

    eprintln!("one host: {total} containers on c1");
    start_on("c1", &label, &image, 0, total);
    std::thread::sleep(Duration::from_secs(5));
    let mut single = Vec::new();
    let mut single_engine = String::new();
    for r in 0..rounds {
        let (ms, engine) = first_screen(&format!("one{r}"), &one, total);
        eprintln!("  round {r}: {ms:.0} ms");
        single.push(ms);
        single_engine = engine;
    }
    remove_on("c1", &label);

    eprintln!("three hosts: {per_host} containers on each of c1, c2, c3");
    for (i, n) in NODES.iter().enumerate() {
        start_on(n, &label, &image, i * per_host, per_host);
    }
    std::thread::sleep(Duration::from_secs(5));
    let mut several = Vec::new();
    let mut several_engine = String::new();
    for r in 0..rounds {
        let (ms, engine) = first_screen(&format!("three{r}"), &three, total);
        eprintln!("  round {r}: {ms:.0} ms");
        several.push(ms);
        several_engine = engine;
    }
    for n in NODES {
        remove_on(n, &label);
    }

    let (a, b) = (median(single), median(several));
    println!("first full screen, {total} containers (median of {rounds}):");
    println!("  one host of {total}:        {a:>6.0} ms   {single_engine}");
    println!("  three hosts of {per_host}:     {b:>6.0} ms   {several_engine}");
    println!("  ratio three/one: {:.2} (the bound: 1.5)", b / a);
}
