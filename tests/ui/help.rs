//! The help overlay and the command line.

use crate::fixture::*;

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
    // Every tab, as the tab bar draws them (Nodes came with the cluster view, Audit with the audit).
    let tabs = agile_deck::app::views::TABS.map(|t| t.2).join(" ");
    assert_eq!(
        tabs,
        "Layers Teams Events Networks Logs Rollouts Nodes Audit"
    );
    assert!(seen.contains(&format!("next: {tabs}")), "{seen}");
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
