//! Every pane rendered into a TestBackend at 80×24 and 160×48, from a fixed
//! fleet (the demo deployment's shape, with figures), and snapshotted.

use std::collections::BTreeMap;

use agile_deck::app::{App, Link, Msg};
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::model::{DaemonInfo, Health, NetworkAttachment, PortMapping, Replica};
use agile_deck::stats::{Counters, Sample};
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
use agile_deck::ui;
use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 14, 2, 11).unwrap()
}

struct Spec {
    name: String,
    service: &'static str,
    layer: &'static str,
    team: Option<&'static str>,
    cpu: f64,
    mem_mib: u64,
    health: Health,
    state: &'static str,
    networks: &'static [&'static str],
}

fn spec(name: &str, service: &'static str, layer: &'static str, cpu: f64, mem_mib: u64) -> Spec {
    Spec {
        name: name.to_string(),
        service,
        layer,
        team: None,
        cpu,
        mem_mib,
        health: Health::Healthy,
        state: "running",
        networks: &["agile-data"],
    }
}

fn replica(topology: &Topology, i: usize, s: &Spec) -> Replica {
    let mut labels = vec![
        ("com.docker.compose.project", "agile"),
        ("com.docker.compose.service", s.service),
        ("layer", s.layer),
        ("app", "agile-ai"),
    ];
    labels.extend(s.team.map(|t| ("team", t)));
    Replica::builder(format!("{:012x}{:052x}", 0xabc000 + i, i), s.name.as_str())
        .image("agile-sim:0.1.0")
        .state(s.state)
        .health(s.health)
        .labels(&labels)
        .limits(Some(0.25), Some(64 << 20))
        .started(
            now() - Duration::hours(3),
            now() - Duration::minutes(42 + i as i64),
        )
        .with(|r| {
            r.restart_count = if s.state == "restarting" { 4 } else { 0 };
            r.exit_code = if s.state == "exited" { 137 } else { 0 };
            r.oom_killed = s.state == "exited";
            r.limits = agile_deck::units::Resources {
                nano_cpus: Some(250_000_000),
                memory: Some(64 << 20),
                memory_reservation: Some(0),
                memory_swap: Some(128 << 20),
                pids_limit: Some(0),
            };
            r.networks = s
                .networks
                .iter()
                .enumerate()
                .map(|(n, net)| NetworkAttachment {
                    network: net.to_string(),
                    ip: format!("172.2{}.0.{}", n, 10 + i),
                    aliases: vec![s.service.to_string()],
                })
                .collect();
            if s.service == "web-ui" {
                r.ports = vec![PortMapping {
                    container_port: "8080/tcp".into(),
                    host_ip: "127.0.0.1".into(),
                    host_port: "32768".into(),
                }];
            }
        })
        .placed(topology)
}

/// The demo's shape with a few troubles: a starting and an unhealthy agent,
/// a dead minio replica, a hot coordinator, and one unknown container.
fn fixture() -> App {
    let topology = Topology::default_topology();
    let mut specs = vec![
        Spec {
            networks: &["agile-frontend"],
            ..spec("agile-frontend-webui", "web-ui", "frontend", 1.2, 3)
        },
        spec("agile-frontend-gateway", "api-gateway", "frontend", 2.9, 4),
        spec("agile-control-main", "control", "control", 3.4, 9),
        Spec {
            networks: &[
                "agile-control",
                "agile-coordination",
                "agile-execution",
                "agile-data",
            ],
            ..spec(
                "agile-coordinator-main",
                "coordinator",
                "coordination",
                24.0,
                61,
            )
        },
        spec(
            "agile-workflow-engine",
            "workflow-engine",
            "coordination",
            2.0,
            12,
        ),
        spec(
            "agile-db-postgres-primary",
            "postgres-primary",
            "data",
            4.4,
            58,
        ),
        spec("agile-cache-redis-master", "redis-master", "data", 1.0, 6),
        Spec {
            state: "exited",
            ..spec("agile-db-minio-main", "minio", "data", 0.0, 0)
        },
    ];
    for i in 1..=5 {
        specs.push(Spec {
            team: Some("product"),
            networks: &["agile-execution"],
            health: if i == 3 {
                Health::Starting
            } else {
                Health::Healthy
            },
            ..spec(
                &format!("agile-agent-product-pm-{i:03}"),
                "product-team",
                "execution",
                1.5 + i as f64,
                2,
            )
        });
    }
    for i in 1..=8 {
        specs.push(Spec {
            team: Some("development"),
            networks: &["agile-execution"],
            health: if i == 6 {
                Health::Unhealthy
            } else {
                Health::Healthy
            },
            ..spec(
                &format!("agile-agent-development-dev-{i:03}"),
                "development-team",
                "execution",
                2.0 * i as f64,
                3,
            )
        });
    }
    let mut fleet = Fleet::new(topology);
    fleet.networks = agile_deck::demo::zones()
        .iter()
        .map(|z| agile_deck::model::DockerNetwork {
            id: z.name.clone(),
            name: z.name.clone(),
            driver: "bridge".into(),
            scope: "local".into(),
            internal: z.internal,
            subnets: vec![z.subnet.clone()],
            gateways: vec![z.subnet.replace(".0/24", ".1")],
            labels: [("zone".to_string(), z.zone.to_string())]
                .into_iter()
                .collect(),
        })
        .collect();
    let mut replicas = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let r = replica(&fleet.topology, i, s);
        replicas.push((r.id.clone(), s.cpu, s.mem_mib));
        fleet.upsert(r);
    }
    fleet.upsert(Replica {
        labels: BTreeMap::new(),
        placement: fleet.topology.place("scratchpad-1", &BTreeMap::new()),
        ..replica(&fleet.topology, 99, &spec("scratchpad-1", "x", "x", 0.0, 0))
    });
    // Ten minutes of history, one reading per 5 s slot, in a wave.
    for step in 0..120i64 {
        let at = now() - Duration::seconds(5 * (119 - step));
        for (k, (id, cpu, mem)) in replicas.iter().enumerate() {
            let wave = 1.0 + 0.5 * ((step as f64 + k as f64) / 9.0).sin();
            let sample = Sample {
                cpu_pct: cpu * wave,
                mem_used: mem << 20,
                mem_limit: 64 << 20,
                pids: 5,
                net_rx_rate: 1200.0 * wave,
                net_tx_rate: 800.0,
                blk_read_rate: 0.0,
                blk_write_rate: 4096.0,
                counters: Counters {
                    at: Some(at),
                    ..Counters::default()
                },
            };
            fleet.record(id, sample, at);
        }
    }
    let mut app = App::new(
        fleet,
        Keymap::default_keymap(),
        Theme::default_theme(),
        "local (unix:///var/run/docker.sock)".into(),
    );
    app.now = now();
    app.daemon = DaemonInfo {
        name: "deck-host".into(),
        server_version: "20.10.24".into(),
        api_version: "1.41".into(),
        swarm: "inactive".into(),
        ncpu: 2,
        mem_total: 24 << 30,
        cgroup_version: "1".into(),
    };
    app.link = Link::Up;
    app.listed = true;
    app.watching_since = Some(now() - Duration::minutes(10));
    app
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Draw one frame at w×h; the backend holds the cells and their styles.
fn draw(app: &mut App, w: u16, h: u16) -> TestBackend {
    app.update(Msg::Resize {
        width: w,
        height: h,
    });
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().clone()
}

fn render(app: &mut App, w: u16, h: u16) -> String {
    format!("{}", draw(app, w, h))
}

/// Snapshot a state at both sizes.
fn both(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = fixture();
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&mut app, w, h));
    }
}

#[test]
fn layers_pane() {
    both("layers", |_| {});
}

#[test]
fn teams_pane() {
    both("teams", |app| key(app, KeyCode::Tab));
}

#[test]
fn services_of_a_layer() {
    both("services_execution", |app| {
        for _ in 0..3 {
            key(app, KeyCode::Char('j'));
        }
        key(app, KeyCode::Enter);
    });
}

#[test]
fn replicas_of_a_service() {
    both("replicas_development", |app| {
        key(app, KeyCode::Tab);
        key(app, KeyCode::Char('j'));
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
        for _ in 0..5 {
            key(app, KeyCode::Char('j'));
        }
    });
}

#[test]
fn replica_page() {
    both("replica_coordinator", |app| {
        key(app, KeyCode::Char('j'));
        key(app, KeyCode::Char('j'));
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
    });
}

/// Names in CJK or with emoji take two cells a character: the name column
/// is measured and cut in cells, so each name keeps its end (what tells
/// replicas apart) and the columns after it stay in line.
#[test]
fn wide_names_are_measured_in_cells() {
    let mut app = fixture();
    for (i, name) in [
        "agile-agent-データ処理チーム-dev-101",
        "agile-agent-🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀-dev-102",
    ]
    .into_iter()
    .enumerate()
    {
        let s = Spec {
            team: Some("development"),
            networks: &["agile-execution"],
            ..spec(name, "development-team", "execution", 1.0, 3)
        };
        let r = replica(&app.fleet.topology, 60 + i, &s);
        app.fleet.upsert(r);
    }
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    let backend = draw(&mut app, 120, 30);
    let screen = format!("{backend}");
    assert!(screen.contains("データ処理チーム-dev-101"), "{screen}");
    assert!(
        screen.contains("-dev-102"),
        "the end of the emoji name:\n{screen}"
    );
    // The CPU column starts at the same cell on every replica row.
    let buf = backend.buffer();
    let header_y = (0..buf.area.height)
        .find(|&y| row_text(buf, y).contains("NAME"))
        .expect("a header");
    let cpu_x = (0..buf.area.width)
        .find(|&x| buf[(x, header_y)].symbol() == "C" && buf[(x + 1, header_y)].symbol() == "P")
        .expect("a CPU column");
    for y in header_y + 1..buf.area.height {
        let row = row_text(buf, y);
        if row.contains("-dev-1") {
            let before = buf[(cpu_x - 1, y)].symbol();
            assert!(before == " " || before == "│", "row {y} shifted: {row}");
        }
    }
}

fn row_text(buf: &ratatui::buffer::Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

#[test]
fn stopped_replica_in_data_layer() {
    both("replicas_minio", |app| {
        key(app, KeyCode::End);
        key(app, KeyCode::Up);
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
    });
}

#[test]
fn help_overlay() {
    both("help", |app| key(app, KeyCode::Char('?')));
}

/// Issue 21, point 9: the help names every tab and every command, from
/// the tab list and the command table; the app answers every command
/// the table lists (so the table cannot list one it does not know).
#[test]
fn help_lists_every_tab_and_command_and_each_is_known() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char('?'));
    // Scroll through the whole help at 160×48, collecting what it shows.
    let mut seen = String::new();
    for _ in 0..20 {
        seen += &render(&mut app, 160, 48);
        for _ in 0..10 {
            key(&mut app, KeyCode::Down);
        }
    }
    assert!(
        seen.contains("next tab: Layers, Teams, Events, Networks, Logs, Rollouts"),
        "{seen}"
    );
    for c in agile_deck::commands::COMMANDS {
        assert!(
            seen.contains(&format!(":{}", c.name)),
            ":{} missing",
            c.name
        );
        let mut app = fixture();
        for name in std::iter::once(c.name).chain(c.aliases.iter().copied()) {
            key(&mut app, KeyCode::Char(':'));
            typed(&mut app, name);
            key(&mut app, KeyCode::Enter);
            let flash = app.flash.clone().unwrap_or_default();
            assert!(!flash.starts_with("unknown command"), ":{name}: {flash}");
            key(&mut app, KeyCode::Esc);
        }
    }
    // And an unknown one lists them all.
    let mut app = fixture();
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "scael");
    key(&mut app, KeyCode::Enter);
    let flash = app.flash.clone().unwrap_or_default();
    assert!(
        flash.contains("retire") && flash.contains("promql"),
        "{flash}"
    );
}

/// Issue 21, point 12: at 80×24 with Prometheus charts in the detail box
/// and the own log open, the table keeps its rows; the detail shrinks.
#[test]
fn the_table_keeps_its_rows_when_the_log_opens_at_80x24() {
    let mut app = fixture();
    with_prometheus(&mut app, figures);
    key(&mut app, KeyCode::Char('L'));
    let screen = render(&mut app, 80, 24);
    for layer in ["frontend", "control", "coordination", "execution", "data"] {
        assert!(
            screen
                .lines()
                .any(|l| l.starts_with(&format!("\"│{layer} "))),
            "{layer} row missing:\n{screen}"
        );
    }
    assert!(
        screen.lines().last().unwrap().contains("? help  q quit"),
        "the footer keeps help and quit:\n{screen}"
    );
    insta::assert_snapshot!("log_prom_80x24", screen);
}

#[test]
fn log_pane() {
    both("log", |app| key(app, KeyCode::Char('L')));
}

#[test]
fn daemon_unreachable_keeps_the_last_state() {
    both("unreachable", |app| {
        app.update(Msg::SourceError {
            source: agile_deck::sources::Source::Events,
            error: "error trying to connect: No such file or directory (os error 2)".into(),
        });
    });
}

#[test]
fn empty_daemon_and_loading() {
    let mut app = fixture();
    app.fleet = Fleet::new(Topology::default_topology());
    insta::assert_snapshot!("empty_80x24", render(&mut app, 80, 24));
    app.listed = false;
    app.link = Link::Connecting;
    insta::assert_snapshot!("loading_80x24", render(&mut app, 80, 24));
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut app = fixture();
    insta::assert_snapshot!("tiny_20x5", render(&mut app, 20, 5));
    for (w, h) in [(1, 1), (39, 9), (40, 10), (41, 12), (80, 11)] {
        render(&mut app, w, h);
    }
}

#[test]
fn no_color_theme_has_no_colour_and_keeps_symbols() {
    let mut app = fixture();
    app.theme = Theme::default_theme().without_colour();
    let backend = draw(&mut app, 80, 24);
    let buf = backend.buffer();
    for cell in buf.content() {
        assert_eq!(
            cell.fg,
            ratatui::style::Color::Reset,
            "fg at {:?}",
            cell.symbol()
        );
        assert_eq!(cell.bg, ratatui::style::Color::Reset);
    }
    let text = format!("{}", backend);
    assert!(text.contains('●') && text.contains('✖') && text.contains('◐'));
}

#[test]
fn engine_line_shows_the_path_and_its_cost() {
    both("engine", |app| {
        app.show_engine = true;
        app.engine = agile_deck::engine::Cost {
            path: "cgroup v1".into(),
            direct: 21,
            streams: 0,
            samples_per_sec: 21.0,
            cpu_pct: 0.4,
            rss_bytes: 11 << 20,
        };
    });
    // Issue 21, point 12: at 80 columns the line keeps its point, the
    // cost, and every figure (shorter words).
    let mut app = fixture();
    app.show_engine = true;
    app.engine = agile_deck::engine::Cost {
        path: "cgroup v1".into(),
        direct: 21,
        streams: 0,
        samples_per_sec: 21.0,
        cpu_pct: 0.4,
        rss_bytes: 11 << 20,
    };
    let screen = render(&mut app, 80, 24);
    let line = screen
        .lines()
        .find(|l| l.contains("agile-deck 0.4% CPU, 11M RSS"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("21 cgroup · 0 streams · 21/s"), "{line}");
}

// --- Prometheus: columns, detail charts, the query prompt ---------------

use agile_deck::app::Prom;
use agile_deck::metrics::Request;
use agile_deck::prometheus::{Data, PromError, Query, RangeSeries, Series};

fn one(value: f64) -> Result<Data, PromError> {
    Ok(Data::Vector(vec![Series {
        labels: BTreeMap::new(),
        at: now().timestamp() as f64,
        value,
    }]))
}

/// 15 minutes of a wave, one point per 15 s.
fn wave(scale: f64) -> Result<Data, PromError> {
    let end = now().timestamp() as f64;
    Ok(Data::Matrix(vec![RangeSeries {
        labels: BTreeMap::new(),
        points: (0..=60)
            .map(|i| {
                let v = scale * (1.2 + (i as f64 / 6.0).sin());
                (end - 900.0 + 15.0 * i as f64, v)
            })
            .collect(),
    }]))
}

/// Figures by row: a quiet frontend, a coordination layer at its error
/// warning, data over the critical error ratio and p99, no traffic in
/// control, and a query Prometheus rejects for execution.
fn figures(r: &Request, name: &str) -> Result<Data, PromError> {
    let row = r.key.row.as_str();
    if r.chart {
        return wave(if name == "REQ/s" { 40.0 } else { 0.1 });
    }
    match (row, name) {
        ("control", _) => Ok(Data::Vector(vec![])),
        ("execution", "P99") => Err(PromError::Api {
            kind: "bad_data".into(),
            message: "1:12: parse error".into(),
        }),
        (_, "REQ/s") => one(12.5 * row.len() as f64),
        ("coordination", "ERR") => one(0.03),
        ("data", "ERR") => one(0.12),
        (_, "ERR") => one(0.0004),
        ("data", "P99") => one(1.8),
        (_, "P99") => one(0.182),
        ("coordination", "CALLERR") => one(0.02),
        (_, "CALLERR") => one(0.0),
        (_, _) => one(3.0),
    }
}

/// Prometheus configured, and every question on screen answered by `answer`.
fn with_prometheus(app: &mut App, answer: impl Fn(&Request, &str) -> Result<Data, PromError>) {
    app.prom = Some(Prom {
        url: "http://127.0.0.1:9090".into(),
        ..Default::default()
    });
    let requests = app.prom_requests();
    assert!(!requests.is_empty());
    let results = requests
        .into_iter()
        .map(|r| {
            let name = app.fleet.topology.metrics[r.key.metric].name.clone();
            let a = answer(&r, &name);
            (r, a)
        })
        .collect();
    app.update(Msg::PromResults(results));
}

#[test]
fn prometheus_columns_and_charts() {
    both("prom_layers", |app| with_prometheus(app, figures));
    // Thresholds style the cells: data's 12 % errors is critical, the
    // coordination layer's 3 % a warning.
    let mut app = fixture();
    with_prometheus(&mut app, figures);
    let backend = draw(&mut app, 160, 48);
    let buf = backend.buffer();
    let style_of = |row: &str, text: &str| {
        let y = (0..48u16)
            .find(|y| {
                (0..160u16)
                    .map(|x| buf[(x, *y)].symbol())
                    .collect::<String>()
                    .starts_with(&format!("│{row} "))
            })
            .unwrap();
        let line: String = (0..160u16).map(|x| buf[(x, y)].symbol()).collect();
        let x = line
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {line}"));
        let col = line[..x].chars().count() as u16;
        buf[(col, y)].fg
    };
    let theme = Theme::default_theme();
    assert_eq!(style_of("data", "12.0%"), theme.critical.fg.unwrap());
    assert_eq!(style_of("data", "1.80s"), theme.critical.fg.unwrap());
    assert_eq!(style_of("coordination", "3.0%"), theme.warning.fg.unwrap());
    assert_eq!(style_of("execution", "0.04%"), theme.text.fg.unwrap());
    assert_eq!(style_of("execution", "bad_da…"), theme.critical.fg.unwrap());
}

#[test]
fn prometheus_replica_columns() {
    let mut app = fixture();
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    with_prometheus(&mut app, figures);
    insta::assert_snapshot!("prom_replicas_160x48", render(&mut app, 160, 48));
}

#[test]
fn prometheus_down() {
    let mut app = fixture();
    with_prometheus(&mut app, |_, _| {
        Err(PromError::Connect(
            "Connection refused (os error 111)".into(),
        ))
    });
    insta::assert_snapshot!("prom_down_120x30", render(&mut app, 120, 30));
}

#[test]
fn promql_prompt_and_answers() {
    let mut app = fixture();
    with_prometheus(&mut app, figures);
    key(&mut app, KeyCode::Char('P'));
    for c in "sum by (layer) (rate(agile_sim_requests_total[1m]))".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    insta::assert_snapshot!("promql_prompt_100x30", render(&mut app, 100, 30));
    key(&mut app, KeyCode::Enter);
    let query = app.adhoc.as_ref().unwrap().query.clone();
    insta::assert_snapshot!("promql_waiting_100x30", render(&mut app, 100, 30));
    let series = |layer: &str, v: f64| Series {
        labels: [("layer".to_string(), layer.to_string())]
            .into_iter()
            .collect(),
        at: 0.0,
        value: v,
    };
    app.update(Msg::PromAdhoc {
        query: query.clone(),
        result: Ok(Data::Vector(vec![
            series("frontend", 8.8),
            series("data", 5.6),
            series("execution", f64::NAN),
        ])),
    });
    insta::assert_snapshot!("promql_table_100x30", render(&mut app, 100, 30));
    // `r`: the same over the last 15 minutes, as a chart.
    key(&mut app, KeyCode::Char('r'));
    let range = app.adhoc.as_ref().unwrap().query.clone();
    assert!(matches!(range, Query::Range { .. }));
    let Ok(Data::Matrix(mut a)) = wave(4.0) else {
        unreachable!()
    };
    let Ok(Data::Matrix(b)) = wave(2.0) else {
        unreachable!()
    };
    a[0].labels.insert("layer".into(), "frontend".into());
    let mut b = b;
    b[0].labels.insert("layer".into(), "data".into());
    a.extend(b);
    app.update(Msg::PromAdhoc {
        query: range,
        result: Ok(Data::Matrix(a)),
    });
    insta::assert_snapshot!("promql_chart_100x30", render(&mut app, 100, 30));
    // Prometheus's own error, whole.
    key(&mut app, KeyCode::Char('r'));
    let query = app.adhoc.as_ref().unwrap().query.clone();
    app.update(Msg::PromAdhoc {
        query,
        result: Err(PromError::Api {
            kind: "bad_data".into(),
            message: "invalid parameter \"query\": 1:10: parse error: unclosed left parenthesis"
                .into(),
        }),
    });
    insta::assert_snapshot!("promql_error_100x30", render(&mut app, 100, 30));
    key(&mut app, KeyCode::Esc);
    assert!(app.adhoc.is_none());
    // Scalars and strings say what they are.
    key(&mut app, KeyCode::Char(':'));
    for c in "promql time()".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let query = app.adhoc.as_ref().unwrap().query.clone();
    app.update(Msg::PromAdhoc {
        query,
        result: Ok(Data::Scalar {
            at: 0.0,
            value: 1795790000.0,
        }),
    });
    assert!(render(&mut app, 100, 30).contains("scalar: 1795790000"));
}

#[test]
fn promql_without_prometheus_says_how() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char('P'));
    for c in "up".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert!(app.adhoc.is_none());
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("Prometheus is not configured: start agile-deck with --prometheus URL"),
        "{screen}"
    );
}

// --- Operations: the plan dialog, progress, the journal ------------------

use agile_deck::journal::Entry;
use agile_deck::ops::exec::Progress;
use agile_deck::ops::{Status, StepState};

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The development team's service, selected in the Teams pane.
fn development_team(app: &mut App) {
    key(app, KeyCode::Tab);
    key(app, KeyCode::Char('j'));
    key(app, KeyCode::Enter);
}

#[test]
fn scale_plan_dialog() {
    let mut app = fixture();
    development_team(&mut app);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.prompt.text(), Some("scale service:development-team 8"));
    key(&mut app, KeyCode::Backspace);
    typed(&mut app, "10");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("ops_scale_plan_120x36", render(&mut app, 120, 36));
    // Confirmed: a progress line per step, from any pane.
    let mut cmds = Vec::new();
    for c in app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('y'),
        KeyModifiers::NONE,
    ))) {
        cmds.push(c);
    }
    assert!(
        matches!(&cmds[0], agile_deck::app::Cmd::RunOp { op: 1, .. }),
        "{cmds:?}"
    );
    app.update(Msg::Op {
        op: 1,
        progress: Progress::Step {
            index: 0,
            state: StepState::Done("created and started (4f1c2a9b7e01)".into()),
        },
    });
    app.update(Msg::Op {
        op: 1,
        progress: Progress::Step {
            index: 1,
            state: StepState::Running,
        },
    });
    key(&mut app, KeyCode::Tab);
    insta::assert_snapshot!("ops_progress_120x36", render(&mut app, 120, 36));
    app.update(Msg::Op {
        op: 1,
        progress: Progress::Step {
            index: 1,
            state: StepState::Failed(
                "Docker refused: Conflict. The container name is already in use (HTTP 409)".into(),
            ),
        },
    });
    app.update(Msg::Op {
        op: 1,
        progress: Progress::Finished {
            status: Status::Failed(
                "create agile-agent-development-dev-010: Docker refused: Conflict (HTTP 409)"
                    .into(),
            ),
            summary: "1 of 2 steps took effect; not done: create agile-agent-development-dev-010"
                .into(),
        },
    });
    let screen = render(&mut app, 120, 36);
    assert!(
        screen.contains(
            "#1 ✖ scale development-team 8 → 10 failed: create agile-agent-development-dev-010"
        ),
        "{screen}"
    );
    // A second operation on the same service while one runs is refused.
    let mut app = fixture();
    development_team(&mut app);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "restart service:development-team");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('y'));
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "scale development-team 9");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('y'));
    assert!(
        app.flash
            .as_deref()
            .unwrap_or("")
            .starts_with("refused: #1 (restart service development-team)"),
        "{:?}",
        app.flash
    );
}

#[test]
fn resize_plan_with_warnings_needs_an_override() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "update team:product memory=2m");
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.flash.as_deref(),
        Some(
            "memory=2m: Docker's smallest limit is 6m"
                .replace("memory=2m: ", "memory 2m: ")
                .as_str()
        )
    );
    key(&mut app, KeyCode::Char(':'));
    typed(
        &mut app,
        "update agile-coordinator-main memory=32m cpus=0.5 pids=64",
    );
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("ops_resize_warnings_120x40", render(&mut app, 120, 40));
    // y is not enough with warnings; Y is.
    key(&mut app, KeyCode::Char('y'));
    assert!(app.ops.pending.is_some());
    let cmds = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('Y'),
        KeyModifiers::SHIFT,
    )));
    assert!(matches!(&cmds[0], agile_deck::app::Cmd::RunOp { .. }));
}

#[test]
fn read_only_says_why() {
    let mut app = fixture();
    app.ops.read_only = true;
    development_team(&mut app);
    key(&mut app, KeyCode::Char('s'));
    assert!(!app.prompt.is_open());
    let screen = render(&mut app, 120, 30);
    assert!(
        screen.contains("read-only: agile-deck was started with --read-only"),
        "{screen}"
    );
    assert!(screen.contains("read-only"), "{screen}");
}

#[test]
fn journal_pane() {
    let mut app = fixture();
    for (i, (what, outcome)) in [
        ("create agile-agent-development-dev-009", "done"),
        ("create agile-agent-development-dev-010", "failed"),
    ]
    .iter()
    .enumerate()
    {
        app.update(Msg::Journaled(Box::new(Entry {
            time: "2026-11-27T14:01:5".to_string() + &i.to_string() + ".000Z",
            run: "r".into(),
            op: 1,
            kind: "step".into(),
            user: "ops".into(),
            host: "local".into(),
            operation: "scale".into(),
            target: "service development-team".into(),
            params: serde_json::json!({"replicas": 10}),
            step: Some(i + 1),
            what: what.to_string(),
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
            cli: String::new(),
            outcome: (*outcome).into(),
            detail: String::new(),
            error: if *outcome == "failed" {
                "Docker refused: Conflict (HTTP 409)".into()
            } else {
                String::new()
            },
        })));
    }
    key(&mut app, KeyCode::Char('J'));
    insta::assert_snapshot!("ops_journal_120x30", render(&mut app, 120, 30));
}

// --- Incident views: events and networks ------------------------------------

use agile_deck::events::RawEvent;

fn event(app: &App, name: &str, action: &str, attrs: &[(&str, &str)], secs_ago: i64) -> Msg {
    let id = app
        .fleet
        .replicas
        .values()
        .find(|r| r.name == name)
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let mut a: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    a.insert("name".into(), name.into());
    Msg::Timeline(Box::new(RawEvent {
        kind: "container".into(),
        id,
        action: action.into(),
        time: now() - Duration::seconds(secs_ago),
        attrs: a,
    }))
}

fn with_incident(app: &mut App) {
    let evs = [
        ("agile-db-minio-main", "oom", vec![], 300),
        ("agile-db-minio-main", "die", vec![("exitCode", "137")], 299),
        (
            "agile-agent-development-dev-006",
            "health_status: unhealthy",
            vec![],
            120,
        ),
        ("agile-agent-product-pm-003", "restart", vec![], 60),
        (
            "agile-agent-product-pm-003",
            "health_status: starting",
            vec![],
            59,
        ),
        ("agile-workflow-engine", "die", vec![("exitCode", "3")], 30),
        ("agile-workflow-engine", "start", vec![], 29),
    ];
    for (name, action, attrs, ago) in evs {
        let m = event(app, name, action, &attrs, ago);
        app.update(m);
    }
}

#[test]
fn events_pane() {
    both("events", |app| {
        with_incident(app);
        key(app, KeyCode::Tab);
        key(app, KeyCode::Tab);
    });
    // Enter on an event opens its replica's page.
    let mut app = fixture();
    with_incident(&mut app);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "events critical");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.event_lines().len(), 3);
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 160, 48);
    assert!(screen.contains("replica agile-db-minio-main"), "{screen}");
    assert!(
        screen.contains("diagnosis   out of memory: the 64M limit was reached"),
        "{screen}"
    );
    // A acknowledges.
    assert!(app.alert_total() >= 2);
    key(&mut app, KeyCode::Char('A'));
    assert_eq!(app.views.timeline.alert_total(), 0);
}

#[test]
fn networks_pane() {
    both("networks", |app| {
        key(app, KeyCode::BackTab);
    });
    let mut app = fixture();
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("networks_attached_120x30", render(&mut app, 120, 30));
}

#[test]
fn logs_pane() {
    use agile_deck::logs::LogLine;
    let setup = |app: &mut App| {
        development_team(app);
        key(app, KeyCode::Char('l'));
        assert_eq!(app.views.view, agile_deck::app::views::View::Logs);
        let pane = app.logs.as_ref().unwrap().0;
        let mut lines = Vec::new();
        for i in 0..40 {
            let source = (i % 3) as usize;
            lines.push(LogLine {
                at: now() - Duration::seconds(40 - i),
                source,
                stderr: i % 10 == 9,
                text: if i % 10 == 9 {
                    format!("agile-sim 0.1.0 warn line={i} something looks slow")
                } else {
                    format!("agile-sim 0.1.0 info line={i} handled task")
                },
                marker: false,
            });
        }
        app.update(Msg::LogLines { pane, lines });
        app.update(Msg::LogEnded {
            pane,
            source: 2,
            why: "stream ended: the replica stopped".into(),
        });
        key(app, KeyCode::Char('t'));
    };
    both("logs", setup);
    // Search highlights and jumps; the view pauses there.
    let mut app = fixture();
    setup(&mut app);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "line=2[0-9] ");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("logs_search_120x30", render(&mut app, 120, 30));
}

#[test]
fn command_line_completes_and_remembers() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sc");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.prompt.text(), Some("scale "));
    typed(&mut app, "team:pro");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.prompt.text(), Some("scale team:product "));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "restart agile-agent-product-pm-00");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.prompt.text(), Some("restart agile-agent-product-pm-00"));
    let screen = render(&mut app, 160, 48);
    assert!(
        screen.contains("5 choices: agile-agent-product-pm-001"),
        "{screen}"
    );
    key(&mut app, KeyCode::Esc);
    // Themes by name, and the line is remembered.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "theme hi");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.prompt.text(), Some("theme high-contrast "));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.theme.name, "high-contrast");
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "theme neon");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.flash
            .as_deref()
            .unwrap()
            .starts_with("no theme \"neon\"")
    );
    key(&mut app, KeyCode::Char(':'));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.prompt.text(), Some("theme neon"));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.prompt.text(), Some("theme high-contrast"));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.prompt.text(), Some("theme neon"));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.prompt.text(), Some(""));
}

#[test]
fn themes_that_ship_style_the_screen() {
    for name in agile_deck::theme::Theme::names() {
        let mut app = fixture();
        let theme = Theme::named(name).unwrap();
        app.theme = theme.clone();
        let backend = draw(&mut app, 80, 24);
        let buf = backend.buffer();
        // The header row is in the theme's header style, the selected row
        // in its selection style.
        assert_eq!(
            buf[(1, 0)].bg,
            theme.header.bg.unwrap_or(ratatui::style::Color::Reset),
            "{name}"
        );
        let y = (0..24u16)
            .find(|y| {
                (0..80u16)
                    .map(|x| buf[(x, *y)].symbol())
                    .collect::<String>()
                    .starts_with("│frontend")
            })
            .unwrap();
        assert_eq!(
            buf[(3, y)].bg,
            theme.selection.bg.unwrap_or(ratatui::style::Color::Reset),
            "{name}"
        );
    }
}

#[test]
fn filter_and_order() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "unhealthy");
    key(&mut app, KeyCode::Enter);
    let names: Vec<String> = app.rows().iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, ["execution"]);
    insta::assert_snapshot!("filter_unhealthy_80x24", render(&mut app, 80, 24));
    // Down to the replicas: the filter holds there too.
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    let reps: Vec<String> = app.replicas().iter().map(|r| r.name.clone()).collect();
    assert_eq!(reps, ["agile-agent-development-dev-006"]);
    // Esc clears the filter first, then goes back up.
    key(&mut app, KeyCode::Esc);
    assert!(app.filter.is_none());
    assert_eq!(app.replicas().len(), 8);
    // o steps through the columns (services, running, health, then CPU),
    // O reverses.
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('o'));
    }
    key(&mut app, KeyCode::Char('O'));
    let cpus: Vec<String> = app.replicas().iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        cpus[0], "agile-agent-development-dev-008",
        "the busiest first"
    );
    let screen = render(&mut app, 120, 30);
    assert!(screen.contains("▼cpu"), "{screen}");
    // A broken regex says why.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "dev-(");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.flash
            .as_deref()
            .unwrap()
            .starts_with("filter \"dev-(\"")
    );
    // Labels, negation.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "layer!=execution !running");
    key(&mut app, KeyCode::Enter);
    let names: Vec<String> = app.rows().iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        names,
        Vec::<String>::new(),
        "every layer row has a running replica"
    );
}

#[test]
fn mouse_selects_drills_and_scrolls() {
    let mut app = fixture();
    render(&mut app, 120, 40);
    // The third layer row is screen row 6.
    app.update(Msg::Click { column: 5, row: 6 });
    assert_eq!(app.frame().selected, 2);
    app.update(Msg::Click { column: 5, row: 6 });
    assert!(
        matches!(&app.frame().level, agile_deck::app::Level::Services { group } if group == "coordination")
    );
    app.update(Msg::Wheel { up: false });
    assert_eq!(app.frame().selected, 1);
    app.update(Msg::Wheel { up: true });
    assert_eq!(app.frame().selected, 0);
    // The tabs: " Layers │ Teams │ Events 1! │ Networks │ Logs".
    let screen = render(&mut app, 120, 40);
    let tabs = screen.lines().nth(1).unwrap();
    // Columns, not bytes (│ is three bytes); minus the quote opening the line.
    let column = |word: &str| tabs[..tabs.find(word).unwrap()].chars().count() as u16 - 1;
    let x = column("Networks");
    app.update(Msg::Click { column: x, row: 1 });
    assert_eq!(app.views.view, agile_deck::app::views::View::Networks);
    let x = column("Teams");
    app.update(Msg::Click { column: x, row: 1 });
    assert_eq!(
        (app.views.view, app.pane),
        (
            agile_deck::app::views::View::Fleet,
            agile_deck::app::Pane::Teams
        )
    );
}

use agile_deck::rollout::{Phase, SlotState, SlotView};

/// The demo's pair `agents`: two blue replicas holding the alias, two green.
fn with_pair(app: &mut App) {
    let topology = app.fleet.topology.clone();
    for (i, colour) in ["blue", "blue", "green", "green"].into_iter().enumerate() {
        let mut r = replica(
            &topology,
            90 + i,
            &Spec {
                networks: &["agile-execution"],
                ..spec(
                    &format!("agile-agents-{colour}-{}", 1 + i % 2),
                    "agents",
                    "execution",
                    0.4,
                    3,
                )
            },
        );
        r.labels.insert("environment".into(), colour.into());
        r.labels
            .insert("traefik.enable".into(), (colour == "blue").to_string());
        if colour == "green" {
            r.networks[0].aliases.clear();
        }
        if i == 3 {
            r.health = Health::Starting;
        }
        app.fleet.upsert(r);
    }
}

/// A rollout of development-team, confirmed, half-way with one failure.
fn with_rollout(app: &mut App) {
    with_pair(app);
    key(app, KeyCode::Char(':'));
    typed(
        app,
        "rollout development-team image=agile-sim:next parallelism=2",
    );
    key(app, KeyCode::Enter);
    let cmds = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('Y'),
        KeyModifiers::NONE,
    )));
    let Some(agile_deck::app::Cmd::StartRollout { view, .. }) = cmds.into_iter().next() else {
        panic!("not started: {:?}", app.flash);
    };
    let mut view = *view;
    view.slots = (1..=8)
        .map(|n| SlotView {
            name: format!("agile-agent-development-dev-{n:03}"),
            from: "agile-sim:0.1.0".into(),
            to: "agile-sim:next".into(),
            state: match n {
                1 | 2 => SlotState::Replaced,
                3 => SlotState::Restored,
                4 => SlotState::Replacing,
                _ => SlotState::Waiting,
            },
            health: match n {
                1..=3 => "healthy".into(),
                4 => "starting".into(),
                _ => String::new(),
            },
            took: (n <= 3).then_some(6.4),
            note: match n {
                1 | 2 => "healthy after 5.3 s".into(),
                3 => "new version failed (unhealthy after 15.5 s (503 unhealthy)); restored: healthy after 5.2 s".into(),
                _ => String::new(),
            },
        })
        .collect();
    view.failures = 1;
    view.phase = Phase::Rolling;
    view.message = "replacing agile-agent-development-dev-004".into();
    app.update(Msg::Rollout(Box::new(view)));
    key(app, KeyCode::Char(':'));
    typed(app, "rollouts");
    key(app, KeyCode::Enter);
}

#[test]
fn rollout_plan_dialog() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "rollout development-team image=agile-sim:next");
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("rollout_plan_120x36", render(&mut app, 120, 36));
}

#[test]
fn rollouts_pane() {
    for (w, h) in [(80, 24), (120, 36), (20, 5)] {
        let mut app = fixture();
        with_rollout(&mut app);
        insta::assert_snapshot!(format!("rollouts_{w}x{h}"), render(&mut app, w, h));
    }
    // The pair's own detail: which replica holds the alias.
    let mut app = fixture();
    with_rollout(&mut app);
    key(&mut app, KeyCode::Char('k'));
    insta::assert_snapshot!("rollouts_pair_120x36", render(&mut app, 120, 36));
    // Switching refuses while a green replica is still starting.
    key(&mut app, KeyCode::Char('w'));
    assert!(app.ops.pending.is_none());
    let flash = app.flash.clone().unwrap_or_default();
    assert!(
        flash.contains("green replica agile-agents-green-2 is running (starting)"),
        "{flash}"
    );
    // Healthy now: the plan moves the alias, and says what Traefik would need.
    let id = app
        .fleet
        .replicas
        .values()
        .find(|r| r.name == "agile-agents-green-2")
        .unwrap()
        .id
        .clone();
    let mut r = app.fleet.replicas[&id].clone();
    r.health = Health::Healthy;
    app.fleet.upsert(r);
    key(&mut app, KeyCode::Char('w'));
    let plan = &app.ops.pending.as_ref().expect("a plan").plan;
    assert_eq!(plan.title, "switch agents to green");
    assert_eq!(plan.steps.len(), 4);
    assert!(
        plan.notes.iter().any(|n| n.contains(
            "Traefik labels (blue now: traefik.enable=true; green: traefik.enable=false)"
        )),
        "{:?}",
        plan.notes
    );
}

/// Issue 21, points 7 and 12: a canary's row keeps its state and its
/// failures at 160 and 80 columns (the progress and time drop first), and
/// the pair row keeps both sides at 80.
#[test]
fn rollout_rows_keep_state_and_failures_when_narrow() {
    for (w, h) in [(160, 48), (80, 24)] {
        let mut app = fixture();
        with_rollout(&mut app);
        let mut view = app.ops.rollouts[0].clone();
        view.what = agile_deck::rollout::Kind::Canary;
        view.stage = Some((1, 3));
        view.from = "registry.example.com/agile/agile-sim:0.1.0".into();
        view.to = "registry.example.com/agile/agile-sim:0.2.0-rc1".into();
        app.update(Msg::Rollout(Box::new(view)));
        let screen = render(&mut app, w, h);
        let row = screen
            .lines()
            .find(|l| l.contains("#1 "))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(
            row.contains("1 failed") && row.contains("rolling"),
            "{w}×{h}: {row}"
        );
        let pair = screen
            .lines()
            .find(|l| l.contains("pair "))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(
            pair.contains("blue") && pair.contains("green") && pair.contains("live: blue"),
            "{w}×{h}: {pair}"
        );
        insta::assert_snapshot!(format!("rollouts_canary_{w}x{h}"), screen);
    }
}

#[test]
fn rollout_commands_complete() {
    let mut app = fixture();
    with_pair(&mut app);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sw");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "ag");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "g");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.prompt.text(), Some("switch agents green "));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "rollout development-t");
    key(&mut app, KeyCode::Tab);
    typed(&mut app, "im");
    key(&mut app, KeyCode::Tab);
    // An option with a value waits for it.
    assert_eq!(app.prompt.text(), Some("rollout development-team image="));
    typed(&mut app, "agile-sim:next order=st");
    key(&mut app, KeyCode::Tab);
    assert_eq!(
        app.flash.as_deref(),
        Some("2 choices: order=stop-first  order=start-first")
    );
}

#[test]
fn help_from_the_vim_keymap_marks_what_changes() {
    let mut app = fixture();
    app.keymap = Keymap::load(std::path::Path::new("vim")).unwrap();
    key(&mut app, KeyCode::Char('?'));
    let screen = render(&mut app, 120, 40);
    insta::assert_snapshot!("help_vim_120x40", screen);
    assert!(screen.contains("g g Home"), "{screen}");
    assert!(screen.contains("⚠ scale the selected service"), "{screen}");
    assert!(screen.contains("keymap: vim (built-in)") || screen.contains("↑↓ scroll"));
    // The sequence works: down twice, then g g back to the top.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.frame().selected, 2);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.flash.as_deref(), Some("g …"));
    assert_eq!(app.frame().selected, 2);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.frame().selected, 0);
}

#[test]
fn every_column_sorts_both_ways() {
    use agile_deck::filter::SortBy;
    let mut app = fixture();
    for by in SortBy::ALL {
        for dir in ["asc", "desc"] {
            key(&mut app, KeyCode::Char(':'));
            typed(&mut app, &format!("sort {} {dir}", by.word()));
            key(&mut app, KeyCode::Enter);
            assert_eq!(app.sort, (by, dir == "desc"), "{:?}", app.flash);
            let rows = app.rows();
            let value = |r: &agile_deck::fleet::Row| match by {
                SortBy::Name => 0.0,
                SortBy::Services => r.services as f64,
                SortBy::Running => r.running as f64,
                SortBy::Health => (r.health.unhealthy * 1000 + r.health.starting) as f64,
                SortBy::Cpu => r.figures.cpu_pct,
                SortBy::Memory => r.figures.mem_used as f64,
                SortBy::Net => r.figures.net_rx_rate + r.figures.net_tx_rate,
                SortBy::Block => r.figures.blk_read_rate + r.figures.blk_write_rate,
                SortBy::Pids => r.figures.pids as f64,
            };
            let values: Vec<f64> = rows.iter().map(value).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            if dir == "desc" {
                sorted.reverse();
            }
            assert_eq!(values, sorted, "{} {dir}", by.word());
        }
    }
    // The title says the order; `o` steps to the next column.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sort cpu desc");
    key(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 120, 36).contains("layers ▼cpu"));
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(app.sort.0, SortBy::Memory);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "sort colour");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.flash
            .as_deref()
            .unwrap()
            .starts_with("usage: :sort COLUMN")
    );
}

/// How a test brings the app to a view.
type Setup = Box<dyn Fn(&mut App)>;

/// Every view, overlay and dialog draws at every size without panicking;
/// below 40×10 each says the terminal is too small.
#[test]
fn every_view_draws_at_every_size() {
    let views: Vec<(&str, Setup)> = vec![
        ("layers", Box::new(|_| {})),
        ("teams", Box::new(|app| key(app, KeyCode::Tab))),
        (
            "replicas",
            Box::new(|app| {
                development_team(app);
                key(app, KeyCode::Enter);
            }),
        ),
        (
            "events",
            Box::new(|app| {
                with_incident(app);
                key(app, KeyCode::Char(':'));
                typed(app, "events");
                key(app, KeyCode::Enter);
            }),
        ),
        ("networks", Box::new(|app| key(app, KeyCode::BackTab))),
        (
            "logs",
            Box::new(|app| {
                development_team(app);
                key(app, KeyCode::Char('l'));
            }),
        ),
        ("rollouts", Box::new(with_rollout)),
        ("help", Box::new(|app| key(app, KeyCode::Char('?')))),
        (
            "dialog",
            Box::new(|app| {
                development_team(app);
                key(app, KeyCode::Char('R'));
            }),
        ),
    ];
    for (name, setup) in &views {
        for (w, h) in [
            (20, 5),
            (39, 9),
            (40, 10),
            (60, 15),
            (80, 24),
            (100, 30),
            (133, 41),
            (250, 80),
        ] {
            let mut app = fixture();
            setup(&mut app);
            let screen = render(&mut app, w, h);
            if w < 40 || h < 10 {
                assert!(screen.contains("terminal too small"), "{name} {w}×{h}");
            } else {
                assert!(!screen.contains("terminal too small"), "{name} {w}×{h}");
            }
        }
    }
}

#[test]
fn slash_filters_events_and_networks() {
    let mut app = fixture();
    with_incident(&mut app);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "events");
    key(&mut app, KeyCode::Enter);
    let all = app.event_lines().len();
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.prompt.text(), Some("events "));
    typed(&mut app, "critical");
    key(&mut app, KeyCode::Enter);
    let critical = app.event_lines().len();
    assert!(critical > 0 && critical < all, "{critical} of {all}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.event_lines().len(), all);

    key(&mut app, KeyCode::Tab);
    assert_eq!(app.views.view, agile_deck::app::views::View::Networks);
    let all = app.network_rows().len();
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "DATA|storage");
    key(&mut app, KeyCode::Enter);
    let names: Vec<String> = app
        .network_rows()
        .iter()
        .map(|r| r.network.name.clone())
        .collect();
    assert_eq!(names, ["agile-data"], "of {all}");
    assert!(render(&mut app, 120, 30).contains("networks [DATA|storage]: 1"));
    // Enter opens the one listed.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.views.network_open.as_deref(), Some("agile-data"));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.network_rows().len(), all);
}

#[test]
fn a_rollout_under_way_shows_on_every_view() {
    let mut app = fixture();
    with_rollout(&mut app);
    // Its own tab shows it whole; elsewhere one line says how it goes.
    assert!(!render(&mut app, 120, 36).contains("⟳"));
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "layers");
    key(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 120, 36);
    let line = screen
        .lines()
        .find(|l| l.contains("#1 ⟳ rolling update development-team"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        line.contains(
            "agile-sim:0.1.0 → agile-sim:next · 2/8 new · 1 failed · rolling (Rollouts tab)"
        ),
        "{line}"
    );
}
