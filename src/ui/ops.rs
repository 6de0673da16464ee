//! Operations on screen: the plan dialog, the progress panel (visible from
//! any pane), and the journal pane.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::truncate;
use crate::app::App;
use crate::app::ops::{OpView, Pending};
use crate::ops::{Status, StepState};

/// Most step lines the progress panel shows.
use crate::app::layout::STEP_LINES;

fn rollout_line(app: &App, r: &crate::rollout::View) -> Line<'static> {
    let t = &app.theme;
    let new = r
        .slots
        .iter()
        .filter(|s| s.state == crate::rollout::SlotState::Replaced)
        .count();
    let style = match r.phase {
        crate::rollout::Phase::Paused(_) => t.critical,
        _ => t.warning,
    };
    let failed = if r.failures > 0 {
        format!(" · {} failed", r.failures)
    } else {
        String::new()
    };
    Line::from(vec![
        Span::styled(
            format!(" #{} ⟳ {} {} ", r.id, r.what, r.service.name),
            style,
        ),
        Span::styled(
            format!(
                "{} → {} · {new}/{} new{failed} · {} (Rollouts tab)",
                r.from,
                r.to,
                r.slots.len(),
                r.phase.word()
            ),
            t.muted,
        ),
    ])
}

fn step_style(app: &App, s: &StepState) -> ratatui::style::Style {
    let t = &app.theme;
    match s {
        StepState::Done(_) => t.healthy,
        StepState::Skipped(_) | StepState::Running => t.warning,
        StepState::Failed(_) => t.critical,
        StepState::Pending | StepState::NotRun => t.muted,
    }
}

fn step_line(app: &App, o: &OpView, i: usize) -> Line<'static> {
    let t = &app.theme;
    let s = &o.steps[i];
    let detail = match s {
        StepState::Done(d) | StepState::Skipped(d) => format!(" — {d}"),
        StepState::Failed(e) => format!(" — {e}"),
        StepState::NotRun => " — not run".into(),
        _ => String::new(),
    };
    Line::from(vec![
        Span::styled(format!("  {} ", s.symbol()), step_style(app, s)),
        Span::styled(o.plan.steps[i].what.clone(), t.text),
        Span::styled(detail, t.muted),
    ])
}

pub fn draw_progress(f: &mut Frame, app: &App, area: Rect) {
    let rollouts: Vec<Line> = app
        .rollouts_under_way()
        .into_iter()
        .map(|r| rollout_line(app, r))
        .collect();
    let Some(o) = app.ops.current() else {
        f.render_widget(Paragraph::new(rollouts), area);
        return;
    };
    let t = &app.theme;
    let km = &app.keymap;
    let head = match &o.status {
        Status::Running => {
            let done = o
                .steps
                .iter()
                .filter(|s| !matches!(s, StepState::Pending | StepState::Running))
                .count();
            Line::from(vec![
                Span::styled(format!(" #{} ▶ {} ", o.id, o.plan.title), t.warning),
                Span::styled(
                    format!(
                        "{done}/{} steps · {} cancel",
                        o.steps.len(),
                        km.hint(crate::keymap::Action::CancelOp)
                    ),
                    t.muted,
                ),
            ])
        }
        Status::Done => Line::from(vec![
            Span::styled(format!(" #{} ✔ {} ", o.id, o.plan.title), t.healthy),
            Span::styled(o.summary.clone(), t.muted),
        ]),
        Status::Cancelled => Line::from(vec![
            Span::styled(
                format!(" #{} ■ cancelled: {} ", o.id, o.plan.title),
                t.warning,
            ),
            Span::styled(o.summary.clone(), t.muted),
        ]),
        Status::Failed(why) => Line::from(vec![
            Span::styled(
                format!(" #{} ✖ {} failed: {why} ", o.id, o.plan.title),
                t.critical,
            ),
            Span::styled(o.summary.clone(), t.muted),
        ]),
    };
    let mut lines = vec![head];
    if !o.status.finished() {
        // Keep the running step in view.
        let running = o
            .steps
            .iter()
            .position(|s| *s == StepState::Running)
            .unwrap_or(0);
        let start = running
            .saturating_sub(STEP_LINES - 1)
            .min(o.steps.len().saturating_sub(STEP_LINES));
        lines.extend(
            (start..o.steps.len())
                .take(STEP_LINES)
                .map(|i| step_line(app, o, i)),
        );
    }
    lines.extend(rollouts);
    f.render_widget(Paragraph::new(lines), area);
}

pub fn draw_dialog(f: &mut Frame, app: &App, pending: &Pending, area: Rect) {
    let t = &app.theme;
    let p = &pending.plan;
    let mut lines = vec![
        Line::from(vec![
            Span::styled("target  ", t.table_header),
            Span::styled(p.target.clone(), t.text),
        ]),
        Line::from(""),
    ];
    for (i, s) in p.steps.iter().enumerate() {
        lines.push(Line::from(vec![
            Span::styled(format!("{:>3}. ", i + 1), t.table_header),
            Span::styled(s.what.clone(), t.text),
        ]));
        lines.push(Line::from(Span::styled(
            format!("     $ {}", s.cli),
            t.muted,
        )));
    }
    if !p.notes.is_empty() {
        lines.push(Line::from(""));
    }
    for n in &p.notes {
        lines.push(Line::from(Span::styled(format!("ℹ {n}"), t.text)));
    }
    for w in &p.warnings {
        lines.push(Line::from(Span::styled(format!("⚠ {w}"), t.warning)));
    }
    let keys = if p.warnings.is_empty() {
        "y or Enter: run it · n or Esc: cancel"
    } else {
        "Y: run it anyway · n or Esc: cancel"
    };
    let w = area.width.saturating_sub(4).min(110);
    // Long command lines wrap: count the rows they take; the keys line
    // stays at the bottom and the rest scrolls.
    let inner = w.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let h = (rows as u16 + 4).min(area.height.saturating_sub(2));
    let body_rows = h.saturating_sub(4) as usize;
    let scroll = pending.scroll.min(rows.saturating_sub(body_rows));
    let more = if rows > body_rows {
        "  ↑↓ scroll"
    } else {
        ""
    };
    let r = Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.warning)
        .title(Span::styled(format!(" confirm: {} ", p.title), t.title));
    let inner_area = block.inner(r);
    f.render_widget(block, r);
    let [body, _, keys_area] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(inner_area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        body,
    );
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(keys, t.key),
            Span::styled(more, t.muted),
        ])),
        keys_area,
    );
}

pub fn draw_journal(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let inner_h = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let entries: Vec<_> = app.ops.journal.iter().rev().take(inner_h).collect();
    let lines: Vec<Line> = if entries.is_empty() {
        vec![Line::from(Span::styled(
            "no operation recorded yet",
            t.muted,
        ))]
    } else {
        entries
            .into_iter()
            .rev()
            .map(|e| {
                let time = e.time.get(11..19).unwrap_or(&e.time).to_string();
                use crate::journal::Outcome;
                let style = match e.outcome {
                    Outcome::Done => t.healthy,
                    Outcome::Skipped | Outcome::Cancelled => t.warning,
                    _ => t.critical,
                };
                let what = match e.step {
                    Some(n) => format!("step {n} {}", e.what),
                    None => format!("result: {}", e.detail),
                };
                let text = format!(
                    "{time} {} #{} {} {} · {what}{}",
                    e.user,
                    e.op,
                    e.operation,
                    e.target,
                    if e.error.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", e.error)
                    }
                );
                Line::from(vec![
                    Span::styled(format!("{:<8} ", e.outcome), style),
                    Span::styled(truncate(&text, width.saturating_sub(9)), t.text),
                ])
            })
            .collect()
    };
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border)
                .title(Span::styled(" audit journal ", t.title)),
        ),
        area,
    );
}
