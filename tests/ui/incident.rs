//! The incident views: Events, Networks, Logs.

use crate::fixture::*;

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
    // By name: Shift-Tab from Layers reaches the last tab, which has not
    // been Networks since more tabs came (these snapshots showed Rollouts).
    both("networks", |app| {
        typed(app, ":networks");
        key(app, KeyCode::Enter);
    });
    let mut app = fixture();
    typed(&mut app, ":networks");
    key(&mut app, KeyCode::Enter);
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
