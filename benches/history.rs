//! What the flight recorder costs and how fast it reads back:
//!
//!     cargo bench --bench history -- [--count 500] [--hours 24] [--rounds 20]
//!
//! Pure (no daemon): a fleet of N replicas in five layers, four teams and
//! 25 services whose figures move every 5 s, recorded for `--hours` of
//! simulated time at the default retention (6 h of 5 s frames, 7 days of
//! minutes) into a store in a temporary folder. Reports
//!   - the recorder's CPU per frame (taking the frame from the fleet on the
//!     app's thread + writing it on the recorder's), as a share of one
//!     core at one frame every 5 s: the cost on top of watching;
//!   - the store's size after the simulated span, and what it grows by in a
//!     day once the 6 h of 5 s frames are full (the minute frames);
//!   - reading a layer's last hour (the detail's chart);
//!   - `:at`: the fleet at a past moment read, built and drawn at 160×48.

use std::time::Instant;

mod common;

use agile_deck::app::{App, Hosts};
use agile_deck::fleet::Fleet;
use agile_deck::history::store::{Retention, Writer, file_size};
use agile_deck::history::{Frame, Reader};
use agile_deck::keymap::Keymap;
use agile_deck::model::{HostId, Replica};
use agile_deck::stats::{Counters, Sample};
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
use chrono::{Duration, TimeZone, Utc};
use common::{arg, hz, median};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const LAYERS: [&str; 5] = ["frontend", "control", "coordination", "execution", "data"];
const TEAMS: [&str; 4] = ["product-team", "development-team", "qa-team", "ops-team"];

fn replica(topology: &Topology, i: usize) -> Replica {
    let s = i % 25;
    let service = format!("svc-{s:02}");
    Replica::builder(format!("{i:064x}"), format!("agile-{service}-{i:03}"))
        .image("agile-sim:0.1.0")
        .labels(&[
            ("com.docker.compose.project", "agile"),
            ("com.docker.compose.service", &service),
            ("layer", LAYERS[s % 5]),
            ("team", TEAMS[s % 4]),
        ])
        .limits(Some(0.5), Some(256 << 20))
        .started(Utc::now(), Utc::now())
        .placed(topology)
}

/// A small deterministic generator: figures that move like a live fleet's.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = arg(&args, "--count", "500").parse().unwrap();
    let hours: i64 = arg(&args, "--hours", "24").parse().unwrap();
    let rounds: usize = arg(&args, "--rounds", "20").parse().unwrap();
    let topology = std::sync::Arc::new(Topology::default_topology());
    let mut fleet = Fleet::sharing(topology.clone());
    fleet.apply(&[], (0..n).map(|i| replica(&topology, i)));
    let hosts = Hosts::single("local", "unix:///var/run/docker.sock");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut writer = Writer::open(&path, Retention::default()).unwrap();
    let mut rng = Lcg(7);
    let base: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.next() * 40.0, 8.0 + rng.next() * 120.0))
        .collect();
    let start = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
    let frames = hours * 3600 / 5;
    let (mut take_s, mut write_s) = (0.0, 0.0);
    let mut size_at_6h = 0;
    let cpu0 = cpu_seconds();
    let wall0 = Instant::now();
    for k in 0..frames {
        let at = start + Duration::seconds(k * 5);
        for (i, (cpu, mem)) in base.iter().enumerate() {
            let s = Sample {
                cpu_pct: (cpu * (0.6 + 0.8 * rng.next())).max(0.0),
                mem_used: ((mem * (0.97 + 0.06 * rng.next())) * 1048576.0) as u64,
                mem_limit: 256 << 20,
                pids: 4 + (rng.next() * 8.0) as u64,
                net_rx_rate: rng.next() * 20_000.0,
                net_tx_rate: rng.next() * 15_000.0,
                blk_read_rate: if rng.next() < 0.1 {
                    rng.next() * 1e6
                } else {
                    0.0
                },
                blk_write_rate: if rng.next() < 0.2 {
                    rng.next() * 2e5
                } else {
                    0.0
                },
                counters: Counters {
                    at: Some(at),
                    ..Counters::default()
                },
            };
            fleet.record(&format!("{i:064x}"), s, at);
        }
        let t = Instant::now();
        let frame = Frame::of(&fleet, &hosts, at);
        let t1 = Instant::now();
        writer.frame(&frame).unwrap();
        take_s += (t1 - t).as_secs_f64();
        write_s += t1.elapsed().as_secs_f64();
        if k == 6 * 720 {
            size_at_6h = file_size(&path);
        }
    }
    writer.finish().unwrap();
    let cpu = cpu_seconds() - cpu0;
    let size = file_size(&path);
    let per_frame_ms = (take_s + write_s) / frames as f64 * 1000.0;
    println!(
        "recording {n} replicas, {hours} h simulated ({frames} frames) in {:.1} s wall, {:.1} s CPU (figures generated included)",
        wall0.elapsed().as_secs_f64(),
        cpu
    );
    println!(
        "  per frame: take {:.3} ms + write {:.3} ms = {:.3} ms  →  {:.3} % of one core at one frame every 5 s",
        take_s / frames as f64 * 1000.0,
        write_s / frames as f64 * 1000.0,
        per_frame_ms,
        per_frame_ms / 5000.0 * 100.0
    );
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "  store after {hours} h: {:.1} MiB; after the first 6 h: {:.1} MiB",
        mib(size),
        mib(size_at_6h)
    );
    if hours > 6 {
        let per_day = (size.saturating_sub(size_at_6h)) as f64 / (hours - 6) as f64 * 24.0;
        println!(
            "  growth once 6 h of 5 s frames are kept: {:.1} MiB a day (the minute frames); at 7 days: about {:.0} MiB",
            per_day / 1048576.0,
            mib(size_at_6h) + per_day * 7.0 / 1048576.0 - per_day / 4.0 / 1048576.0
        );
    }

    let reader = Reader::open(&path).unwrap();
    let end = start + Duration::seconds((frames - 1) * 5);
    let mut reads = Vec::new();
    let mut points = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let s = reader
            .series("layer", "execution", end - Duration::hours(1), end)
            .unwrap();
        reads.push(t.elapsed().as_secs_f64() * 1000.0);
        points = s.len();
    }
    println!(
        "1-hour chart of a layer: {points} points read in {:.2} ms median, {:.2} ms worst",
        median(reads.clone()),
        reads.iter().copied().fold(0.0, f64::max)
    );

    let mut at_ms = Vec::new();
    let mut shown = 0;
    for r in 0..rounds {
        let asked = end - Duration::minutes(30 + r as i64);
        let t = Instant::now();
        let m = reader.moment(asked).unwrap().unwrap();
        let past = m.fleet(topology.clone(), |_| HostId(0));
        shown = past.replicas.len();
        let mut app = App::new(
            past,
            Keymap::default_keymap(),
            Theme::default_theme(),
            Hosts::single("local", "unix:///var/run/docker.sock"),
        );
        app.now = m.at;
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        term.draw(|f| agile_deck::ui::draw(f, &app)).unwrap();
        at_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        ":at of {shown} replicas (read, built, drawn at 160×48): {:.1} ms median, {:.1} ms worst",
        median(at_ms.clone()),
        at_ms.iter().copied().fold(0.0, f64::max)
    );
}
