//! The Audit view: scores worst first, findings worst first, the
//! selected one's rule and fix; the header's count.

use agile_deck::app::views::View;
use agile_deck::model::Posture;

use crate::fixture::*;

/// The fixture with the control replica running as root with a
/// secret-looking variable (critical findings), then audited.
fn audited(app: &mut agile_deck::app::App) {
    let control = app
        .fleet
        .replicas
        .values_mut()
        .find(|r| r.name == "agile-control-main")
        .unwrap();
    control.posture = Some(Posture {
        user: String::new(),
        read_only_root: true,
        restart: "unless-stopped".into(),
        env_names: vec!["DB_PASSWORD".into(), "SERVICE_NAME".into()],
        ..Default::default()
    });
    app.audit_all();
    app.views.view = View::Audit;
}

#[test]
fn audit_pane() {
    both("audit", audited);
}

#[test]
fn the_header_counts_critical_findings_and_f_plans_a_fix() {
    let mut app = fixture();
    audited(&mut app);
    let screen = render(&mut app, 160, 48);
    // The fixture's coordinator joins control and execution (1), the
    // control replica runs as root (2) with a secret-looking name (3).
    assert!(screen.contains("audit: 3 critical"), "{screen}");
    // At 80 columns too, once the alert is acknowledged (the header's
    // status comes first: the count is one of its details).
    key(&mut app, crossterm::event::KeyCode::Char('A'));
    let narrow = render(&mut app, 80, 24);
    assert!(narrow.contains("audit: 3 critical"), "{narrow}");
    // Worst first: the three critical findings lead.
    let firsts: Vec<(String, String)> = app.audit_findings()[..4]
        .iter()
        .map(|f| (f.severity.to_string(), f.rule.to_string()))
        .collect();
    assert_eq!(
        firsts.iter().filter(|(s, _)| s == "critical").count(),
        3,
        "{firsts:?}"
    );
    assert_eq!(firsts[3].0, "warning");
    // The value of a secret-looking variable was never read: only its name.
    assert!(screen.contains("DB_PASSWORD"), "{screen}");
    // A finding with a remedy turns into a plan on `f`.
    let with_fix = app
        .audit_findings()
        .iter()
        .position(|f| f.remedy.is_some())
        .expect("a finding agile-deck can fix");
    for _ in 0..with_fix {
        key(&mut app, crossterm::event::KeyCode::Down);
    }
    key(&mut app, crossterm::event::KeyCode::Char('f'));
    assert!(app.ops.pending.is_some(), "f made no plan: {:?}", app.flash);
}
