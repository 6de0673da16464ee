//! The dashboard's own work at 500 containers, without a daemon:
//! drawing a 500-row table into a TestBackend, and applying a batch of 500
//! stats samples to the state (what the cgroup engine sends each refresh).
//!
//!     cargo bench --bench frame
//!
//! Goals (issue 8): under 2 ms a frame, under 1 ms a batch.

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use agile_deck::app::{App, Msg};
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::model::Replica;
use agile_deck::stats::{Counters, Sample};
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
use agile_deck::ui;

const N: usize = 500;

fn replica(topology: &Topology, i: usize) -> Replica {
    Replica::builder(
        format!("{i:064x}"),
        format!("agile-agent-development-{i:03}"),
    )
    .image("agile-sim:0.1.0")
    .labels(&[
        ("com.docker.compose.project", "agile"),
        ("com.docker.compose.service", "agent-development"),
        ("layer", "execution"),
        ("team", "development-team"),
    ])
    .limits(Some(0.25), Some(64 << 20))
    .started(Utc::now(), Utc::now())
    .placed(topology)
}

fn batch(at: chrono::DateTime<Utc>, cpu: f64) -> Msg {
    let samples = (0..N)
        .map(|i| {
            let s = Sample {
                cpu_pct: cpu + i as f64 % 7.0,
                mem_used: 3 << 20,
                mem_limit: 64 << 20,
                pids: 4,
                net_rx_rate: 1200.0,
                net_tx_rate: 900.0,
                counters: Counters {
                    at: Some(at),
                    ..Counters::default()
                },
                ..Sample::default()
            };
            (format!("{i:064x}"), s)
        })
        .collect();
    Msg::Stats { at, samples }
}

/// 500 running replicas of one service, with figures and some history.
fn app() -> App {
    let mut fleet = Fleet::new(Topology::default_topology());
    let topology = fleet.topology.clone();
    for i in 0..N {
        fleet.upsert(replica(&topology, i));
    }
    let mut app = App::new(
        fleet,
        Keymap::default_keymap(),
        Theme::default_theme(),
        agile_deck::app::Hosts::single("local", "unix:///var/run/docker.sock"),
    );
    app.update(Msg::Resize {
        width: 200,
        height: 50,
    });
    let now = Utc::now();
    for k in 0..60 {
        app.update(batch(
            now - chrono::Duration::seconds(5 * (60 - k)),
            k as f64,
        ));
    }
    app
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn benches(c: &mut Criterion) {
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();

    let mut layers = app();
    c.bench_function("draw layers, 500 replicas, 200x50", |b| {
        b.iter(|| {
            term.draw(|f| ui::draw(f, &layers)).unwrap();
        })
    });

    // Layers → execution → agent-development: the 500-row replica table.
    for _ in 0..3 {
        key(&mut layers, KeyCode::Char('j'));
    }
    key(&mut layers, KeyCode::Enter);
    key(&mut layers, KeyCode::Enter);
    assert_eq!(layers.replicas().len(), N, "at the 500-row replica table");
    c.bench_function("draw 500-row replica table, 200x50", |b| {
        b.iter(|| {
            term.draw(|f| ui::draw(f, &layers)).unwrap();
        })
    });

    let mut state = app();
    let at = Utc::now();
    c.bench_function("apply a batch of 500 samples", |b| {
        b.iter_batched(
            || batch(at, 3.0),
            |msg| state.update(msg),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
