//! Figures compared with `docker stats --no-stream` over the very same
//! windows: shared by the stats paths' tests (cgroup, API, the agent).

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use agile_deck::app::Msg;
use agile_deck::engine::{Engine, StatsWatcher, Target};
use tokio::sync::mpsc;

use super::{TestRun, docker, run_labelled};

/// Two workloads to compare figures on, started and settled: one spinning
/// 60 % of a core with 48 MiB in use under a 256 MiB limit, one nearly
/// idle. (busy id, calm id)
pub async fn busy_and_calm(t: &TestRun, prefix: &str, image: &str) -> (String, String) {
    let busy = run_labelled(
        t,
        &format!("{prefix}{}-busy", t.id),
        &["-e", "CPU=0.6", "-e", "MEM_MIB=48", "--memory", "256m"],
        image,
    );
    let calm = run_labelled(
        t,
        &format!("{prefix}{}-calm", t.id),
        &["-e", "CPU=0.15", "-e", "MEM_MIB=12"],
        image,
    );
    // Let the burners and the memory settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    (busy, calm)
}

/// A container to watch, with its main process.
pub async fn target(d: &bollard::Docker, id: &str) -> Target {
    let pid = d
        .inspect_container(id, None)
        .await
        .unwrap()
        .state
        .and_then(|s| s.pid)
        .map(|p| p as u32);
    Target {
        host: Default::default(),
        id: id.to_string(),
        pid,
    }
}

/// `docker stats --no-stream` figures: (CPU %, memory bytes) by short id.
fn docker_stats(ids: &[&str]) -> HashMap<String, (f64, f64)> {
    let mut args = vec![
        "stats",
        "--no-stream",
        "--format",
        "{{.ID}}\t{{.CPUPerc}}\t{{.MemUsage}}",
    ];
    args.extend_from_slice(ids);
    docker(&args)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let cpu: f64 = f[1].trim_end_matches('%').parse().unwrap();
            let used = f[2].split(" / ").next().unwrap();
            (f[0].to_string(), (cpu, parse_size(used)))
        })
        .collect()
}

fn parse_size(s: &str) -> f64 {
    let units = [
        ("KiB", 1024.0),
        ("MiB", 1048576.0),
        ("GiB", 1073741824.0),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
        ("B", 1.0),
    ];
    for (u, m) in units {
        if let Some(n) = s.strip_suffix(u) {
            return n.parse::<f64>().unwrap() * m;
        }
    }
    panic!("size {s}");
}

type Reading = (chrono::DateTime<chrono::Utc>, agile_deck::stats::Sample);
type Time = chrono::DateTime<chrono::Utc>;

/// Seconds of CPU used up to `t`, from readings whose CPU % covers the
/// time since the reading before: linear between readings.
fn cpu_seconds_at(readings: &[Reading], t: Time) -> Option<f64> {
    let mut cum = 0.0;
    for w in readings.windows(2) {
        let ((t0, _), (t1, s1)) = (w[0], w[1]);
        let span = (t1 - t0).num_microseconds()? as f64 / 1e6;
        if t <= t1 {
            if t < t0 {
                return None;
            }
            let part = (t - t0).num_microseconds()? as f64 / 1e6;
            return Some(cum + s1.cpu_pct / 100.0 * part);
        }
        cum += s1.cpu_pct / 100.0 * span;
    }
    None
}

/// Watch `targets` with `engine` while `docker stats --no-stream` runs
/// five times, and compare each figure it printed with ours over the very
/// same window. The daemon's readings (their times come from `phase`, a
/// stream on the first target) are the ones `docker stats` prints; each
/// covers the time since the reading before. Loads on a busy 2-core
/// machine are not steady, so comparing figures over different windows
/// would measure the load, not the engine. Even so the daemon's own
/// timestamps jitter (its reads go through containerd and the shims), so
/// one pair in a few may differ by more than the engine does: the result
/// is the median difference (CPU points, memory fraction); the worst is
/// printed.
pub async fn agreement(
    path: &str,
    engine: &mut Engine<Msg>,
    rx: &mut mpsc::Receiver<Msg>,
    targets: &[Target],
    phase: &mut StatsWatcher<Msg>,
    phase_rx: &mut mpsc::Receiver<Msg>,
) -> (HashMap<String, Vec<Reading>>, f64, f64) {
    phase.watch(&[targets[0].id.clone()]);
    engine.watch(targets);
    let ids: Vec<String> = targets.iter().map(|t| t.id.clone()).collect();
    // Both paths give their first figures within a second or two.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let theirs = tokio::task::spawn_blocking({
        let ids = ids.clone();
        move || {
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            (0..5)
                .map(|_| {
                    let figures = docker_stats(&refs);
                    (chrono::Utc::now(), figures)
                })
                .collect::<Vec<_>>()
        }
    });
    let mut ours: HashMap<String, Vec<Reading>> = HashMap::new();
    let mut daemon_reads: Vec<Time> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Until docker stats is done, and a little more: our reading of its
    // last window may still be on the way.
    let mut done: Option<tokio::time::Instant> = None;
    while done.is_none_or(|d| d.elapsed() < Duration::from_millis(1500)) {
        if done.is_none() && theirs.is_finished() {
            done = Some(tokio::time::Instant::now());
        }
        tokio::select! {
            msg = rx.recv() => if let Some(Msg::Stats { at, samples }) = msg {
                for (id, sample) in samples {
                    ours.entry(id).or_default().push((at, sample));
                }
            },
            msg = phase_rx.recv() => if let Some(Msg::Stats { at, .. }) = msg {
                daemon_reads.push(at);
            },
            _ = tokio::time::sleep_until(deadline) => panic!("docker stats did not finish within 30 s"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    phase.watch(&[]);
    engine.watch(&[]);
    let theirs = theirs.await.unwrap();
    let (mut dcpus, mut dmems) = (Vec::new(), Vec::new());
    for (ended, figures) in &theirs {
        // The reading it printed: the daemon's last one before it returned.
        let k = daemon_reads
            .iter()
            .rposition(|r| *r <= *ended + chrono::Duration::milliseconds(50))
            .expect("a daemon reading before docker stats returned");
        let (from, to) = (daemon_reads[k - 1], daemon_reads[k]);
        let secs = (to - from).num_microseconds().unwrap() as f64 / 1e6;
        for id in &ids {
            let (their_cpu, their_mem) = figures[&id[..12]];
            let mine = &ours[id];
            let (Some(end), Some(start)) = (cpu_seconds_at(mine, to), cpu_seconds_at(mine, from))
            else {
                // Our first figure came after this window began (a slow
                // start under load): nothing to compare it with.
                eprintln!("stats agreement ({path}) {}: window not covered", &id[..12]);
                continue;
            };
            let cpu = (end - start) / secs * 100.0;
            let (_, nearest) = mine
                .iter()
                .min_by_key(|(at, _)| (*at - to).num_microseconds().unwrap().abs())
                .unwrap();
            let dcpu = (cpu - their_cpu).abs();
            let dmem = (nearest.mem_used as f64 - their_mem).abs() / their_mem;
            eprintln!(
                "stats agreement ({path}) {}: ours cpu {cpu:.2}% mem {} B | docker stats cpu {their_cpu:.2}% mem {their_mem:.0} B | Δcpu {dcpu:.2} points, Δmem {:.2} %",
                &id[..12],
                nearest.mem_used,
                dmem * 100.0
            );
            dcpus.push(dcpu);
            dmems.push(dmem);
        }
    }
    eprintln!(
        "stats agreement ({path}): median Δcpu {:.2} points (worst {:.2}), median Δmem {:.2} % (worst {:.2} %)",
        median(&dcpus),
        dcpus.iter().copied().fold(0.0, f64::max),
        median(&dmems) * 100.0,
        dmems.iter().copied().fold(0.0, f64::max) * 100.0
    );
    assert!(
        dcpus.len() >= 2 * ids.len(),
        "too few figures compared: {}",
        dcpus.len()
    );
    (ours, median(&dcpus), median(&dmems))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
