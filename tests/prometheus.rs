//! Against a real Prometheus (the Debian package's binary, started here on
//! 127.0.0.1 with a temporary config and data directory) scraping workload
//! containers through the ports they publish on 127.0.0.1: the dashboard's
//! request rates, error ratios and p99 equal what PromQL returns directly;
//! a stopped Prometheus, a broken query and a server that never answers
//! show on the cells and heal; a range charts backfilled history exactly.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agile_deck::app::{App, Cmd, Level, Msg, Prom};
use agile_deck::connect;
use agile_deck::demo;
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::metrics::{self, CellKey, Metric, Reading, Scope};
use agile_deck::prometheus::{Auth, Client, Data, PromError, Query};
use agile_deck::promserver::{self, Server};
use agile_deck::sources;
use agile_deck::theme::Theme;
use agile_deck::topology::{DEFAULT_TOPOLOGY, Topology};
use agile_deck::ui;
use common::{
    FakeAnswer, TestRun, docker, docker_or_skip, fake_prometheus, tool_or_skip, wait_for,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const TIMEOUT: Duration = Duration::from_secs(3);

fn key(app: &mut App, code: KeyCode) -> Vec<Cmd> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(app: &mut App, text: &str) -> Vec<Cmd> {
    text.chars()
        .flat_map(|c| key(app, KeyCode::Char(c)))
        .collect()
}

/// Run what the app asked of Prometheus and hand it the answers, as the
/// runtime does.
async fn answer(app: &mut App, client: &Client, cmds: Vec<Cmd>) {
    for cmd in cmds {
        match cmd {
            Cmd::Prom(requests) => {
                let mut results = Vec::new();
                for r in requests {
                    let result = client.run(&r.query).await;
                    results.push((r, result));
                }
                app.update(Msg::PromResults(results));
            }
            Cmd::PromAdhoc(query) => {
                let result = client.run(&query).await;
                app.update(Msg::PromAdhoc { query, result });
            }
            _ => {}
        }
    }
}

/// Ask everything on screen again (the interval's round).
async fn refresh(app: &mut App, client: &Client) {
    let cmds = app.update(Msg::PromDue);
    answer(app, client, cmds).await;
}

fn screen(app: &App) -> String {
    let mut term = Terminal::new(TestBackend::new(200, 40)).unwrap();
    term.draw(|f| ui::draw(f, app)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// PromQL asked directly, evaluated at `at` (the time the dashboard's
/// answer carries), so both saw the same data.
async fn direct(url: &str, expr: &str, at: f64) -> f64 {
    let url = reqwest::Url::parse_with_params(
        &format!("{url}/api/v1/query"),
        &[("query", expr.to_string()), ("time", format!("{at:.3}"))],
    )
    .unwrap();
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let result = &body["data"]["result"];
    assert_eq!(result.as_array().map(Vec::len), Some(1), "{expr}: {body}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// The dashboard's cells for `row` against Prometheus's own answers at
/// the instant of each. A scrape can land between the two queries (its
/// samples are stamped at its start and appended at its end), so a
/// mismatch asks the dashboard again; a real one stays through three.
async fn agrees(
    app: &mut App,
    client: &Client,
    url: &str,
    scope: Scope,
    row: &str,
    exprs: &[(&'static str, String)],
) -> Vec<(&'static str, f64)> {
    let mut last = String::new();
    for _ in 0..3 {
        let mut out = Vec::new();
        last.clear();
        for (name, expr) in exprs {
            let (at, value) = cell(app, scope, row, name);
            let want = direct(url, expr, at).await;
            if !same(value, want) {
                last += &format!("{name} of {row}: {value} vs {want}; ");
            }
            out.push((*name, want));
        }
        if last.is_empty() {
            return out;
        }
        refresh(app, client).await;
    }
    panic!("the dashboard and Prometheus differ: {last}");
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(1.0)
}

/// A topology metric by scope and name, with its index.
fn metric(app: &App, scope: Scope, name: &str) -> (usize, Metric) {
    let metrics = &app.fleet.topology.metrics;
    let i = metrics
        .iter()
        .position(|m| m.scope == scope && m.name == name)
        .unwrap_or_else(|| panic!("no {name} for {scope:?}"));
    (i, metrics[i].clone())
}

/// The value a cell holds.
fn cell(app: &App, scope: Scope, row: &str, metric_name: &str) -> (f64, f64) {
    let (i, _) = metric(app, scope, metric_name);
    let key = CellKey {
        scope,
        row: row.to_string(),
        metric: i,
    };
    match app.prom.as_ref().unwrap().store.cells.get(&key) {
        Some(Ok(Reading::Value { at, value })) => (*at, *value),
        other => panic!("{metric_name} of {row}: {other:?}"),
    }
}

/// Select the row called `name` at the current level.
fn select(app: &mut App, name: &str) -> Vec<Cmd> {
    let i = app
        .rows()
        .iter()
        .position(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"));
    let mut cmds = key(app, KeyCode::Home);
    for _ in 0..i {
        cmds.extend(key(app, KeyCode::Down));
    }
    cmds
}

/// The deterministic history backfilled for the range test: a gauge that
/// steps with the minute, sampled every 15 s.
fn backfilled(ts: i64) -> f64 {
    ((ts / 60) % 7) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_figures_match_promql() {
    const TEST: &str = "dashboard_figures_match_promql";
    if !docker_or_skip(TEST) || !tool_or_skip(TEST, "prometheus") || !tool_or_skip(TEST, "promtool")
    {
        return;
    }
    let t = TestRun::new();
    let id = t.id.clone();
    let endpoint = connect::endpoint_from_environment(None).unwrap();
    let d = connect::connect(&endpoint).await.unwrap().0;
    let image = demo::ensure_image(&d, &mut |l| eprintln!("{l}"))
        .await
        .unwrap();

    // Two services of the control layer: one slow and failing, one fast
    // and clean, each publishing its port on 127.0.0.1 only.
    let project = format!("pt{id}");
    let (api, worker) = (format!("{project}-api"), format!("{project}-worker"));
    for (service, knobs) in [
        (&api, ["LOAD_RPS=20", "ERROR_RATE=0.25", "LATENCY_MS=120"]),
        (&worker, ["LOAD_RPS=10", "ERROR_RATE=0", "LATENCY_MS=8"]),
    ] {
        let name = format!("{service}-1");
        let mut args = vec![
            "run".to_string(),
            "-d".into(),
            "--name".into(),
            name,
            "--label".into(),
            t.label(),
            "--label".into(),
            format!("com.docker.compose.project={project}"),
            "--label".into(),
            format!("com.docker.compose.service={service}"),
            "--label".into(),
            "layer=control".into(),
            "-p".into(),
            "127.0.0.1::8080".into(),
        ];
        for k in knobs {
            args.extend(["-e".to_string(), k.to_string()]);
        }
        args.push(image.clone());
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    // History for the range test, backfilled before the server starts:
    // 20 minutes up to 2 minutes ago, one sample every 15 s.
    let dir = tempfile::tempdir().unwrap();
    let team = format!("bf{id}");
    let now = chrono::Utc::now().timestamp();
    let last = now / 15 * 15 - 120;
    let mut om = String::from(
        "# HELP agile_sim_busy_agents Agents currently busy.\n# TYPE agile_sim_busy_agents gauge\n",
    );
    for ts in (last - 20 * 60..=last).step_by(15) {
        om += &format!(
            "agile_sim_busy_agents{{team=\"{team}\"}} {} {ts}\n",
            backfilled(ts)
        );
    }
    om += "# EOF\n";
    std::fs::write(dir.path().join("history.om"), om).unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.path().join("history.om"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let port = promserver::free_port(0).unwrap();
    let config = promserver::scrape_config(&endpoint.url, &t.label(), Duration::from_secs(1));
    let mut server = Server::start(dir.path(), port, &config).unwrap();
    let url = server.url();
    let client = Client::new(&url, Auth::None, TIMEOUT).unwrap();
    // Both targets scraped, through 127.0.0.1.
    let up = format!("count(up{{job=\"agile-deck\",service=~\"{project}-.*\"}} == 1)");
    wait_for("both targets up", Duration::from_secs(30), || {
        let r = futures_block(client.run(&Query::Instant { expr: up.clone() }));
        matches!(r, Ok(Data::Vector(v)) if v.first().is_some_and(|s| s.value == 2.0)).then_some(())
    });
    let targets: serde_json::Value = reqwest::get(format!("{url}/api/v1/targets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for target in targets["data"]["activeTargets"].as_array().unwrap() {
        let instance = target["labels"]["instance"].as_str().unwrap();
        assert!(instance.starts_with("127.0.0.1:"), "{instance}");
    }
    // `rate(…[1m])` divides by the whole minute: only after a minute of
    // scrapes does it read what the knobs set.
    tokio::time::sleep(Duration::from_secs(62)).await;

    // The dashboard: the default topology (plus the backfilled team).
    let text = DEFAULT_TOPOLOGY.replace(
        "teams = [\"product\", \"development\", \"qa\"]",
        &format!("teams = [\"product\", \"development\", \"qa\", \"{team}\"]"),
    );
    let topology = Topology::parse(&text, "test").unwrap();
    let mut app = App::new(
        Fleet::new(topology),
        Keymap::default_keymap(),
        Theme::default_theme(),
        agile_deck::app::Hosts::single("test", "unix:///test.sock"),
    );
    app.viewport = (200, 40);
    app.prom = Some(Prom {
        url: url.clone(),
        ..Default::default()
    });
    let topology = app.fleet.topology.clone();
    let listing = sources::list(&d, &topology, &HashMap::new(), false)
        .await
        .unwrap();
    let cmds = app.update(Msg::Listing(listing));
    assert!(cmds.iter().any(|c| matches!(c, Cmd::Prom(_))), "{cmds:?}");
    answer(&mut app, &client, cmds).await;

    // Layer row, then service rows, then replica rows: each figure equals
    // the same PromQL asked directly at the same instant.
    let by_hand = |selector: &str| {
        [
            (
                "REQ/s",
                format!("sum(rate(agile_sim_requests_total{{{selector}}}[1m]))"),
            ),
            (
                "ERR",
                format!(
                    "(sum(rate(agile_sim_requests_total{{{selector},code=~\"5..\"}}[1m])) or vector(0)) / sum(rate(agile_sim_requests_total{{{selector}}}[1m]))"
                ),
            ),
            (
                "P99",
                format!(
                    "histogram_quantile(0.99, sum by (le) (rate(agile_sim_request_duration_seconds_bucket{{{selector}}}[1m])))"
                ),
            ),
        ]
    };
    let cmds = select(&mut app, "control");
    answer(&mut app, &client, cmds).await;
    refresh(&mut app, &client).await;
    let shown = screen(&app);
    let line = shown
        .lines()
        .find(|l| l.contains("│control "))
        .unwrap()
        .to_string();
    let agreed = agrees(
        &mut app,
        &client,
        &url,
        Scope::Layer,
        "control",
        &by_hand("layer=\"control\""),
    )
    .await;
    for (name, want) in agreed {
        let (_, m) = metric(&app, Scope::Layer, name);
        assert!(
            line.contains(&m.format(want)),
            "{name} {}: {line}",
            m.format(want)
        );
    }

    let cmds = key(&mut app, KeyCode::Enter);
    answer(&mut app, &client, cmds).await;
    refresh(&mut app, &client).await;
    assert!(matches!(app.frame().level, Level::Services { .. }));
    let shown = screen(&app);
    eprintln!("{shown}");
    let mut figures = HashMap::new();
    for service in [&api, &worker] {
        let line = shown
            .lines()
            .find(|l| l.contains(&format!("│{service} ")))
            .unwrap_or_else(|| panic!("no row {service}:\n{shown}"))
            .to_string();
        let exprs = by_hand(&format!("service=\"{service}\""));
        for (name, want) in agrees(&mut app, &client, &url, Scope::Service, service, &exprs).await {
            let shown = metric(&app, Scope::Service, name).1.format(want);
            assert!(line.contains(&shown), "{name} {shown}: {line}");
            figures.insert((service.clone(), name), want);
        }
    }
    // And the figures are what the workload's knobs make them.
    let f = |s: &String, n: &'static str| figures[&(s.clone(), n)];
    assert!((12.0..=28.0).contains(&f(&api, "REQ/s")), "{figures:?}");
    assert!((6.0..=14.0).contains(&f(&worker, "REQ/s")), "{figures:?}");
    assert!((0.1..=0.4).contains(&f(&api, "ERR")), "{figures:?}");
    assert_eq!(f(&worker, "ERR"), 0.0, "{figures:?}");
    assert!(
        f(&api, "P99") > 0.1 && f(&api, "P99") <= 0.25,
        "{figures:?}"
    );
    assert!(f(&worker, "P99") <= 0.025, "{figures:?}");
    // 25 % errors is above the default critical threshold (5 %).
    let (_, err) = metric(&app, Scope::Service, "ERR");
    assert_eq!(err.level(f(&api, "ERR")), metrics::Level::Critical);

    // A replica of the failing service.
    let cmds = select(&mut app, &api);
    answer(&mut app, &client, cmds).await;
    let cmds = key(&mut app, KeyCode::Enter);
    answer(&mut app, &client, cmds).await;
    let replica = format!("{api}-1");
    let exprs = by_hand(&format!("container=\"{replica}\""));
    agrees(&mut app, &client, &url, Scope::Replica, &replica, &exprs).await;

    // Prometheus stops mid-session: every cell says so, the header too,
    // and the rest of the dashboard keeps its figures.
    server.stop();
    refresh(&mut app, &client).await;
    let shown = screen(&app);
    assert!(shown.contains("✖ prometheus: down"), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.contains(&format!("│{replica} ")))
        .unwrap();
    assert!(line.contains("down") && line.contains("running"), "{line}");
    // It comes back (same port, same data): so do the figures.
    let _server = Server::start(dir.path(), port, &config).unwrap();
    // Rates need two scrapes in their window again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        refresh(&mut app, &client).await;
        let store = &app.prom.as_ref().unwrap().store;
        let ok = store.errors.is_empty()
            && store.cells.iter().any(|(k, v)| {
                k.row == replica && matches!(v, Ok(Reading::Value { value, .. }) if *value > 0.0)
            });
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {:?}", store.errors);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(app.prom.as_ref().unwrap().store.errors.is_empty());
    assert!(!screen(&app).contains("✖ prometheus"));

    // A broken query: Prometheus's own error, in the ad-hoc view.
    let mut cmds = key(&mut app, KeyCode::Char('P'));
    cmds.extend(typed(&mut app, "sum(rate("));
    cmds.extend(key(&mut app, KeyCode::Enter));
    answer(&mut app, &client, cmds).await;
    match &app.adhoc.as_ref().unwrap().result {
        Some(Err(PromError::Api { kind, .. })) => assert_eq!(kind, "bad_data"),
        other => panic!("{other:?}"),
    }
    let shown = screen(&app);
    assert!(shown.contains("✖ bad_data: "), "{shown}");
    // A good one: a table of series; `r` turns it into a 15-minute chart.
    key(&mut app, KeyCode::Esc);
    let mut cmds = key(&mut app, KeyCode::Char(':'));
    cmds.extend(typed(&mut app, &format!("promql sum by (service) (rate(agile_sim_requests_total{{service=~\"{project}-.*\"}}[1m]))")));
    cmds.extend(key(&mut app, KeyCode::Enter));
    answer(&mut app, &client, cmds).await;
    let shown = screen(&app);
    assert!(
        shown.contains("SERIES (2)") && shown.contains(&format!("{{service=\"{api}\"}}")),
        "{shown}"
    );
    let cmds = key(&mut app, KeyCode::Char('r'));
    answer(&mut app, &client, cmds).await;
    assert!(
        matches!(app.adhoc.as_ref().unwrap().result, Some(Ok(Data::Matrix(ref m))) if m.len() == 2)
    );
    assert!(screen(&app).contains("promql (last 15 min)"));
    key(&mut app, KeyCode::Esc);
    assert!(app.adhoc.is_none());

    // The range chart of the backfilled team: every point is the history's.
    for _ in 0..3 {
        key(&mut app, KeyCode::Esc);
    }
    key(&mut app, KeyCode::Tab);
    let cmds = select(&mut app, &team);
    let charts: Vec<_> = cmds
        .iter()
        .flat_map(|c| match c {
            Cmd::Prom(r) => r.iter().filter(|r| r.chart).cloned().collect(),
            _ => Vec::new(),
        })
        .collect();
    assert!(charts.iter().any(|r| r.key.row == team), "{cmds:?}");
    answer(&mut app, &client, cmds).await;
    let (busy, _) = metric(&app, Scope::Team, "BUSY");
    let key_ = CellKey {
        scope: Scope::Team,
        row: team.clone(),
        metric: busy,
    };
    let points = match app.prom.as_ref().unwrap().store.charts.get(&key_) {
        Some(Ok(Ok(points))) => points.clone(),
        other => panic!("{other:?}"),
    };
    assert!(points.len() >= 55, "{} points", points.len());
    for (at, v) in &points {
        let sample = ((*at as i64) / 15 * 15).min(last);
        assert_eq!(*v, backfilled(sample), "at {at}");
    }
    let shown = screen(&app);
    assert!(
        shown
            .lines()
            .any(|l| l.contains("BUSY ") && l.contains("15m  peak 6")),
        "{shown}"
    );
}

/// Block on a future from a sync closure inside the multi-thread runtime.
fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Ask `up` of a server on 127.0.0.1:`port`; the error it gives.
async fn error_from(port: u16, timeout: Duration) -> PromError {
    let c = Client::new(&format!("http://127.0.0.1:{port}"), Auth::None, timeout).unwrap();
    c.run(&Query::Instant { expr: "up".into() })
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_answers_are_told_apart() {
    // Nobody listens: refused.
    let e = error_from(promserver::free_port(0).unwrap(), TIMEOUT).await;
    assert!(
        matches!(&e, PromError::Connect(m) if m.contains("refused")),
        "{e:?}"
    );
    assert_eq!(e.short(), "down");

    // A server that answers after the timeout: a timeout, on time.
    let started = Instant::now();
    let half = Duration::from_millis(500);
    let e = error_from(fake_prometheus(FakeAnswer::Late), half).await;
    assert_eq!(e, PromError::Timeout(half));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");

    // A proxy's 503 page, and a 200 that is not Prometheus.
    let e = error_from(fake_prometheus(FakeAnswer::Html503), TIMEOUT).await;
    assert!(
        matches!(&e, PromError::Http { status: 503, body } if body.contains("upstream unavailable")),
        "{e:?}"
    );
    let e = error_from(fake_prometheus(FakeAnswer::NotJson), TIMEOUT).await;
    assert!(matches!(&e, PromError::Body(b) if b == "hello"), "{e:?}");
}

/// `config check` as the real binary, with its own state folder.
fn config_check(state: &std::path::Path, extra: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .args(extra)
        .args(["config", "check"])
        .env("XDG_STATE_HOME", state)
        .env("XDG_CONFIG_HOME", "/nonexistent-config-home")
        .env_remove("AGILE_DECK_PROMETHEUS")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 21, point 10: `config check` prints the Prometheus the dashboard
/// would use, and why — the demo's when it runs and nothing else is set.
#[test]
fn config_check_names_the_prometheus_the_dashboard_would_use() {
    if !tool_or_skip(
        "config_check_names_the_prometheus_the_dashboard_would_use",
        "prometheus",
    ) {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let out = config_check(state.path(), &[]);
    assert!(
        out.contains(
            "prometheus:  none (no --prometheus, AGILE_DECK_PROMETHEUS or [prometheus] url, and the demo's Prometheus is not running)"
        ),
        "{out}"
    );
    // The demo's Prometheus, where `demo up` records it.
    let dir = state.path().join("agile-deck").join("demo-prometheus");
    let port = promserver::free_port(0).unwrap();
    let mut server = Server::start(&dir, port, "global:\n  scrape_interval: 15s\n").unwrap();
    std::fs::write(dir.join("pid"), server.pid().unwrap().to_string()).unwrap();
    std::fs::write(dir.join("port"), port.to_string()).unwrap();
    wait_for("prometheus ready", Duration::from_secs(30), || {
        config_check(state.path(), &[])
            .contains(&format!("prometheus:  http://127.0.0.1:{port} every 5.0 s"))
            .then_some(())
    });
    let out = config_check(state.path(), &[]);
    assert!(
        out.contains(&format!("(the demo's, pid {}", server.pid().unwrap())),
        "{out}"
    );
    // A flag wins, and says so; --no-prometheus too.
    let out = config_check(state.path(), &["--prometheus", "http://127.0.0.1:9"]);
    assert!(
        out.contains("prometheus:  http://127.0.0.1:9 every 5.0 s")
            && out.contains("(from --prometheus)"),
        "{out}"
    );
    let out = config_check(state.path(), &["--no-prometheus"]);
    assert!(out.contains("prometheus:  none (--no-prometheus)"), "{out}");
    server.stop();
}
