//! The fixture every view's snapshots draw: a fixed fleet (the demo
//! deployment's shape, with figures), and helpers to drive and render it.
//! The imports are re-exported for the view modules.

#![allow(unused_imports)]

pub use agile_deck::app::{App, Hosts, Link, Msg};
pub use agile_deck::fleet::Fleet;
pub use agile_deck::keymap::Keymap;
pub use agile_deck::model::{DaemonInfo, Health, HostId, NetworkAttachment, PortMapping, Replica};
pub use agile_deck::stats::{Counters, Sample};
pub use agile_deck::theme::Theme;
pub use agile_deck::topology::Topology;
pub use agile_deck::ui;
pub use chrono::{DateTime, Duration, TimeZone, Utc};
pub use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
pub use ratatui::Terminal;
pub use ratatui::backend::TestBackend;
pub use std::collections::BTreeMap;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 14, 2, 11).unwrap()
}

pub struct Spec {
    pub name: String,
    pub service: &'static str,
    pub layer: &'static str,
    pub team: Option<&'static str>,
    pub cpu: f64,
    pub mem_mib: u64,
    pub health: Health,
    pub state: &'static str,
    pub networks: &'static [&'static str],
}

pub fn spec(
    name: &str,
    service: &'static str,
    layer: &'static str,
    cpu: f64,
    mem_mib: u64,
) -> Spec {
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

pub fn replica(topology: &Topology, i: usize, s: &Spec) -> Replica {
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
pub fn fixture() -> App {
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
            host: Default::default(),
            id: z.name.clone(),
            name: z.name.clone(),
            driver: "bridge".into(),
            scope: "local".into(),
            internal: z.internal,
            subnets: vec![z.subnet.clone()],
            gateways: vec![z.subnet.replace(".0/24", ".1")],
            icc: true,
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
        Hosts::single("local", "unix:///var/run/docker.sock"),
    );
    app.now = now();
    let host = app.hosts.get_mut(HostId(0));
    host.daemon = DaemonInfo {
        name: "deck-host".into(),
        server_version: "20.10.24".into(),
        api_version: "1.41".into(),
        swarm: "inactive".into(),
        node_id: String::new(),
        ncpu: 2,
        mem_total: 24 << 30,
        cgroup_version: "1".into(),
    };
    (host.link, host.listed) = (Link::Up, true);
    app.watching_since = Some(now() - Duration::minutes(10));
    app
}

pub fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Draw one frame at w×h; the backend holds the cells and their styles.
pub fn draw(app: &mut App, w: u16, h: u16) -> TestBackend {
    app.update(Msg::Resize {
        width: w,
        height: h,
    });
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().clone()
}

pub fn render(app: &mut App, w: u16, h: u16) -> String {
    format!("{}", draw(app, w, h))
}

/// Snapshot a state at both sizes.
pub fn both(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = fixture();
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&mut app, w, h));
    }
}

pub fn row_text(buf: &ratatui::buffer::Buffer, y: u16) -> String {
    (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()
}

// --- Prometheus: columns, detail charts, the query prompt ---------------

pub use agile_deck::app::Prom;
pub use agile_deck::metrics::Request;
pub use agile_deck::prometheus::{Data, PromError, Query, RangeSeries, Series};

pub fn one(value: f64) -> Result<Data, PromError> {
    Ok(Data::Vector(vec![Series {
        labels: BTreeMap::new(),
        at: now().timestamp() as f64,
        value,
    }]))
}

/// 15 minutes of a wave, one point per 15 s.
pub fn wave(scale: f64) -> Result<Data, PromError> {
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
pub fn figures(r: &Request, name: &str) -> Result<Data, PromError> {
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
pub fn with_prometheus(app: &mut App, answer: impl Fn(&Request, &str) -> Result<Data, PromError>) {
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

// --- Operations: the plan dialog, progress, the journal ------------------

pub use agile_deck::journal::Entry;
pub use agile_deck::ops::exec::Progress;
pub use agile_deck::ops::{Status, StepState};

pub fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// The development team's service, selected in the Teams pane.
pub fn development_team(app: &mut App) {
    key(app, KeyCode::Tab);
    key(app, KeyCode::Char('j'));
    key(app, KeyCode::Enter);
}

// --- Incident views: events and networks ------------------------------------

pub use agile_deck::events::RawEvent;

pub fn event(app: &App, name: &str, action: &str, attrs: &[(&str, &str)], secs_ago: i64) -> Msg {
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

pub fn with_incident(app: &mut App) {
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
    // A Swarm service's own event: about no container.
    app.update(Msg::Timeline(Box::new(RawEvent {
        kind: "service".into(),
        id: "svc1".into(),
        action: "update".into(),
        time: now() - Duration::seconds(10),
        attrs: [("name".to_string(), "web".to_string())].into(),
    })));
}

pub use agile_deck::rollout::{Phase, SlotState, SlotView};

/// The demo's pair `agents`: two blue replicas holding the alias, two green.
pub fn with_pair(app: &mut App) {
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
pub fn with_rollout(app: &mut App) {
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

/// How a test brings the app to a view.
pub type Setup = Box<dyn Fn(&mut App)>;
