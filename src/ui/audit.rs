//! The Audit view: scores per layer and team (worst corner first), the
//! findings (worst first, ignored ones last and dimmed), and the selected
//! finding's rule, what was seen, and its fix.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::columns;
use crate::app::App;
use crate::audit::{Finding, Severity, report};
use crate::keymap::Action;
use crate::text;

/// Findings columns: header, width (0 = the rest), priority.
/// On a narrow screen the rule goes first: the detail's title names it.
const COLS: [columns::Col; 4] = [
    ("SEV", 4, 0),
    ("RULE", 25, 2),
    ("OBJECT", 32, 0),
    ("SEEN", 0, 1),
];

/// Scores columns.
const SCORE_COLS: [columns::Col; 6] = [
    ("CORNER", 20, 0),
    ("PASS", 9, 0),
    ("SCORE", 6, 0),
    ("CRIT", 5, 1),
    ("WARN", 5, 1),
    ("INFO", 5, 2),
];

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let scores = app.audit_scores();
    let findings = app.audit_findings();
    // Scores take up to a third of the height; the detail 6 lines.
    let score_rows = (scores.len() as u16).min((area.height / 3).saturating_sub(3).max(1));
    let [top, mid, bottom] = Layout::vertical([
        Constraint::Length(score_rows + 3),
        Constraint::Min(3),
        Constraint::Length(6),
    ])
    .areas(area);
    draw_scores(f, app, &scores, top);
    draw_findings(f, app, &findings, mid);
    draw_detail(
        f,
        app,
        findings.get(app.audit_view.selected).copied(),
        bottom,
    );
}

fn severity_style(app: &App, s: Severity) -> Style {
    let t = &app.theme;
    match s {
        Severity::Critical => t.critical,
        Severity::Warning => t.warning,
        Severity::Info => t.muted,
    }
}

fn draw_scores(f: &mut Frame, app: &App, scores: &[crate::audit::Score], area: Rect) {
    let t = &app.theme;
    let order = if app.audit_view.scores_by_name {
        "by name"
    } else {
        "worst first"
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(
                " audit: {} · score per layer and team, {order} ({}) ",
                report::summary(&app.audit),
                app.keymap.hint(Action::SortNext)
            ),
            t.title,
        ));
    let (fitted, header) =
        columns::fit_named(&SCORE_COLS, area.width.saturating_sub(2), 6, t.table_header);
    let rows: Vec<Row> = scores
        .iter()
        .map(|s| {
            let style = if s.critical > 0 {
                t.critical
            } else if s.warning > 0 {
                t.warning
            } else {
                t.healthy
            };
            let cells = fitted.kept.iter().zip(&fitted.widths).map(|(i, w)| {
                let v = match i {
                    0 => format!("{} {}", s.group, s.name),
                    1 => format!("{}/{}", s.passing, s.objects),
                    2 => format!("{:.0}%", s.percent()),
                    3 => s.critical.to_string(),
                    4 => s.warning.to_string(),
                    _ => s.info.to_string(),
                };
                let st = if *i == 0 { t.text } else { style };
                Cell::from(Span::styled(text::truncate(&v, *w as usize), st))
            });
            Row::new(cells.collect::<Vec<_>>())
        })
        .collect();
    let table = Table::new(rows, fitted.constraints())
        .header(header)
        .block(block)
        .column_spacing(1);
    f.render_widget(table, area);
}

fn draw_findings(f: &mut Frame, app: &App, findings: &[&Finding], area: Rect) {
    let t = &app.theme;
    let filter = if app.audit_view.filter.is_empty() {
        String::new()
    } else {
        format!(" · /{}", app.audit_view.filter)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(" findings: {}{filter} ", findings.len()),
            t.title,
        ));
    if findings.is_empty() {
        let msg = if app.audit.objects() == 0 {
            "Nothing judged yet: the audit runs once the containers are listed."
        } else if app.audit_view.filter.is_empty() {
            "No findings: every object passes every rule."
        } else {
            "No finding matches the filter (Esc clears it)."
        };
        f.render_widget(Paragraph::new(msg).style(t.muted).block(block), area);
        return;
    }
    let (fitted, header) =
        columns::fit_named(&COLS, area.width.saturating_sub(2), 24, t.table_header);
    let several = app.hosts.several();
    let rows: Vec<Row> = findings
        .iter()
        .map(|fi| {
            let muted = fi.ignored.is_some();
            let cells = fitted.kept.iter().zip(&fitted.widths).map(|(i, w)| {
                let (v, st) = match i {
                    0 => (
                        match (muted, fi.severity) {
                            (true, _) => "ign".to_string(),
                            (_, Severity::Critical) => "CRIT".into(),
                            (_, Severity::Warning) => "WARN".into(),
                            (_, Severity::Info) => "info".into(),
                        },
                        severity_style(app, fi.severity),
                    ),
                    1 => (fi.rule.to_string(), t.text),
                    2 => (
                        match fi.object.host() {
                            Some(h) if several => format!("{}@{h}", fi.object.name()),
                            _ => fi.object.name().to_string(),
                        },
                        t.title,
                    ),
                    _ => (fi.seen.clone(), t.text),
                };
                let st = if muted { t.muted } else { st };
                Cell::from(Span::styled(text::truncate(&v, *w as usize), st))
            });
            Row::new(cells.collect::<Vec<_>>())
        })
        .collect();
    let table = Table::new(rows, fitted.constraints())
        .header(header)
        .block(block);
    columns::draw_list(
        f,
        area,
        table,
        t.selection,
        app.audit_view.selected,
        findings.len(),
    );
}

fn draw_detail(f: &mut Frame, app: &App, finding: Option<&Finding>, area: Rect) {
    let t = &app.theme;
    let Some(fi) = finding else {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(t.border);
        f.render_widget(block, area);
        return;
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(" {} {} · {} ", fi.severity, fi.rule, fi.object),
            severity_style(app, fi.severity),
        ));
    let label = |s: &'static str| Span::styled(s, t.muted);
    // What was seen and the fix first: on a small screen the rule's
    // sentence is what gets cut.
    let fix = match (&fi.ignored, &fi.remedy) {
        (Some(why), _) => Line::from(vec![
            label("ignored  "),
            Span::styled(why.clone(), t.warning),
        ]),
        (None, Some(r)) if !app.ops.read_only => Line::from(vec![
            label("fix   "),
            Span::styled(format!("{} ", app.keymap.hint(Action::FixFinding)), t.key),
            Span::styled(format!("plans: {r}"), t.text),
        ]),
        _ => Line::from(vec![label("fix   "), Span::styled(fi.fix.clone(), t.text)]),
    };
    let lines = vec![
        Line::from(vec![label("seen  "), Span::styled(fi.seen.clone(), t.text)]),
        fix,
        Line::from(vec![label("rule  "), Span::styled(fi.source, t.text)]),
    ];
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}
