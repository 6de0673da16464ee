//! Rollouts: the plan, the Rollouts tab, pairs, narrow rows, completion, the line on every view.

use crate::fixture::*;

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
