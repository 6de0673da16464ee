//! Operations: plans, warnings, progress, read-only, the journal pane.

use crate::fixture::*;

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
