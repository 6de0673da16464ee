//! The fleet screens: layers, teams, services, replicas, the replica page, the own-log and engine lines, themes, filters, order, the mouse, and every view at every size.

use crate::fixture::*;

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

#[test]
fn stopped_replica_in_data_layer() {
    both("replicas_minio", |app| {
        key(app, KeyCode::End);
        key(app, KeyCode::Up);
        key(app, KeyCode::Enter);
        key(app, KeyCode::Enter);
    });
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
    let host = app.hosts.get_mut(HostId(0));
    (host.link, host.listed) = (Link::Connecting, false);
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
            ..Default::default()
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
        ..Default::default()
    };
    let screen = render(&mut app, 80, 24);
    let line = screen
        .lines()
        .find(|l| l.contains("agile-deck 0.4% CPU, 11M RSS"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("21 cgroup · 0 streams · 21/s"), "{line}");
    // Several hosts: each one's path and share, where the line has room.
    app.engine.hosts = vec![
        ("c1".into(), "cgroup v1".into(), 12, 0),
        ("web-2".into(), "Docker API".into(), 0, 9),
    ];
    let screen = render(&mut app, 160, 48);
    let line = screen
        .lines()
        .find(|l| l.contains("agile-deck 0.4% CPU"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        line.contains("· c1 cgroup v1 12+0 · web-2 Docker API 0+9"),
        "{line}"
    );
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
        (
            "networks",
            Box::new(|app| {
                typed(app, ":networks");
                key(app, KeyCode::Enter)
            }),
        ),
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

/// Three nodes as a manager lists them: one down with Swarm's reason, one
/// drained, this daemon's own with its live load.
fn with_nodes(app: &mut App) {
    use agile_deck::model::{SwarmNode, SwarmRole};
    let host = app.hosts.get_mut(HostId(0));
    host.daemon.swarm = SwarmRole::Manager;
    host.daemon.node_id = "n1".into();
    let node = |id: &str, host: &str, role: SwarmRole| SwarmNode {
        id: id.into(),
        hostname: host.into(),
        role,
        reachability: "reachable".into(),
        availability: "active".into(),
        state: "ready".into(),
        engine: "20.10.24".into(),
        cpus: 2.0,
        memory: 8 << 30,
        ..SwarmNode::default()
    };
    let mut n1 = node("n1", "deck-host", SwarmRole::Manager);
    (n1.leader, n1.reserved_cpus, n1.reserved_memory) = (true, 1.75, 6 << 30);
    (n1.tasks_wanted, n1.tasks_running) = (7, 7);
    n1.labels = [("db".to_string(), "primary".to_string())].into();
    let mut n2 = node("n2", "worker-2", SwarmRole::Worker);
    n2.reachability.clear();
    n2.availability = "drain".into();
    let mut n3 = node("n3", "worker-3", SwarmRole::Worker);
    n3.reachability.clear();
    (n3.state, n3.message) = ("down".into(), "heartbeat failure".into());
    (n3.tasks_wanted, n3.tasks_running) = (2, 0);
    app.fleet.nodes = vec![n1, n2, n3];
    typed(app, ":nodes");
    key(app, KeyCode::Enter);
}

#[test]
fn nodes_pane() {
    both("nodes", with_nodes);
    // Tab reaches it too, and a daemon outside a Swarm says why it is empty.
    let mut app = fixture();
    for _ in 0..6 {
        key(&mut app, KeyCode::Tab);
    }
    assert_eq!(app.views.view, agile_deck::app::views::View::Nodes);
    let screen = render(&mut app, 100, 20);
    assert!(
        screen.contains("not in a Swarm (swarm: inactive)"),
        "{screen}"
    );
    // j moves the selection down the nodes.
    let mut app = fixture();
    with_nodes(&mut app);
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.views.nodes_selected, 1);
}

/// Issue 17, points 3 and 5: a Swarm service's row lists its tasks by slot
/// and node in the detail box, and one whose task cannot be placed says
/// Swarm's reason.
#[test]
fn a_pending_swarm_service_says_why() {
    use agile_deck::model::{Placement, ServiceId, ServiceKind, SwarmService, SwarmTask};
    let mut app = fixture();
    with_nodes(&mut app);
    key(&mut app, KeyCode::Esc);
    typed(&mut app, ":layers");
    key(&mut app, KeyCode::Enter);
    let task = |slot, node: &str, state: &str, error: &str| SwarmTask {
        slot: Some(slot),
        node_id: node.into(),
        desired: "running".into(),
        state: state.into(),
        error: error.into(),
    };
    let name = "stack_postgres-replica";
    app.fleet.set_swarm_services(vec![SwarmService {
        rules: Default::default(),
        lifecycle: Default::default(),
        id: "s1".into(),
        name: name.into(),
        image: "agile-sim:0.1.0".into(),
        replicas: Some(2),
        running_tasks: 1,
        desired_tasks: 2,
        tasks: vec![
            task(1, "n1", "running", ""),
            task(
                2,
                "",
                "pending",
                "no suitable node (scheduling constraints not satisfied on 3 nodes)",
            ),
        ],
        pending: Some(
            "1 not running: no suitable node (scheduling constraints not satisfied on 3 nodes)"
                .into(),
        ),
        labels: Default::default(),
        placement: Placement {
            layer: Some("data".into()),
            team: None,
            service: ServiceId {
                kind: ServiceKind::Swarm,
                name: name.into(),
            },
        },
    }]);
    // Layers: data is the last but ungrouped; its services, the Swarm one.
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Enter);
    let rows = app.rows();
    let at = rows.iter().position(|r| r.name == name).expect("listed");
    for _ in 0..at {
        key(&mut app, KeyCode::Char('j'));
    }
    let screen = render(&mut app, 160, 48);
    assert!(
        screen.contains("pending 1 not running: no suitable node (scheduling constraints"),
        "{screen}"
    );
    assert!(screen.contains("1/2!"), "{screen}");
    assert!(
        screen.contains("tasks .1 deck-host running  .2 - pending: no suitable node"),
        "{screen}"
    );
}
