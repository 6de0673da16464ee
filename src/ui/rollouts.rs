//! The Rollouts view: blue-green pairs (which colour is live, each side's
//! health and images), then every rollout of this session, newest first;
//! below, the selected one replica by replica.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::truncate;
use crate::app::App;
use crate::keymap::Action;
use crate::model::Health;
use crate::rollout::desk::Row as RolloutRow;
use crate::rollout::pair::{Colour, Pair};
use crate::rollout::{Phase, SlotState, View};

fn phase_style(app: &App, p: &Phase) -> Style {
    let t = &app.theme;
    match p {
        Phase::Done => t.healthy,
        Phase::Rolling | Phase::RollingBack | Phase::Paused(_) => t.warning,
        Phase::Failed(_) => t.critical,
        Phase::RolledBack | Phase::Aborted => t.muted,
    }
}

fn slot_style(app: &App, s: &SlotState) -> Style {
    let t = &app.theme;
    match s {
        SlotState::Replaced => t.healthy,
        SlotState::Replacing | SlotState::Restoring => t.warning,
        SlotState::Failed => t.critical,
        SlotState::Waiting | SlotState::Restored => t.muted,
    }
}

/// "2/2 ● agile-sim:0.1.0" for one colour.
fn side(app: &App, p: &Pair, c: Colour) -> String {
    let replicas: Vec<_> = p
        .side(c)
        .iter()
        .filter_map(|id| app.fleet.replicas.get(id))
        .collect();
    let ok = replicas
        .iter()
        .filter(|r| r.is_running() && matches!(r.health, Health::Healthy | Health::NoCheck))
        .count();
    let mut images: Vec<&str> = replicas.iter().map(|r| r.image.as_str()).collect();
    images.sort();
    images.dedup();
    let mark = if ok == replicas.len() && ok > 0 {
        "●"
    } else {
        "✖"
    };
    format!(
        "{} {ok}/{} {mark} {}",
        c.word(),
        replicas.len(),
        images.join(",")
    )
}

fn rollout_row<'a>(app: &App, r: &View) -> Row<'a> {
    let t = &app.theme;
    let replaced = r
        .slots
        .iter()
        .filter(|s| s.state == SlotState::Replaced)
        .count();
    let end = r.finished.unwrap_or(app.now);
    let secs = (end - r.started).num_seconds().max(0);
    let kind = match r.what.as_str() {
        "rolling update" => "update",
        other => other,
    };
    let progress = match r.stage {
        Some((k, n)) => format!("{kind} stage {k}/{n} · {replaced}/{} new", r.slots.len()),
        None => format!("{kind} · {replaced}/{} new", r.slots.len()),
    };
    let failures = if r.failures > 0 {
        format!(" · {} failed", r.failures)
    } else {
        String::new()
    };
    Row::new(vec![
        Cell::from(Span::styled(format!("#{}", r.id), t.muted)),
        Cell::from(Span::styled(r.service.name.clone(), t.title)),
        Cell::from(Span::styled(format!("{} → {}", r.from, r.to), t.text)),
        Cell::from(Span::styled(format!("{}{failures}", progress), t.text)),
        Cell::from(Span::styled(
            format!("{:>2}:{:02}", secs / 60, secs % 60),
            t.muted,
        )),
        Cell::from(Span::styled(r.phase.short(), phase_style(app, &r.phase))),
    ])
}

fn pair_row<'a>(app: &App, p: &Pair) -> Row<'a> {
    let t = &app.theme;
    let live = p.live_word();
    Row::new(vec![
        Cell::from(Span::styled("pair", t.muted)),
        Cell::from(Span::styled(p.name.clone(), t.title)),
        Cell::from(Span::styled(side(app, p, Colour::Blue), t.text)),
        Cell::from(Span::styled(side(app, p, Colour::Green), t.text)),
        Cell::from(""),
        Cell::from(Span::styled(
            format!("live: {live}"),
            if p.live.len() == 1 {
                t.healthy
            } else {
                t.warning
            },
        )),
    ])
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let km = &app.keymap;
    let rows = app.rollout_rows();
    let title = format!(
        " rollouts & blue-green pairs · {} pause · {} resume · {} roll back · {} abort · {} switch · {} retire · :rollout SERVICE image=REF ",
        km.hint(Action::RolloutPause),
        km.hint(Action::RolloutResume),
        km.hint(Action::RolloutBack),
        km.hint(Action::RolloutAbort),
        km.hint(Action::Switch),
        km.hint(Action::Retire),
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            truncate(&title, area.width.saturating_sub(2) as usize),
            t.title,
        ));
    if rows.is_empty() {
        let msg = vec![
            Line::from("No rollout yet, and no blue-green pair."),
            Line::from(""),
            Line::from(Span::styled(
                "  :rollout SERVICE image=REF [parallelism=N] [order=start-first] …",
                t.key,
            )),
            Line::from(Span::styled("  :canary SERVICE image=REF", t.key)),
            Line::from(
                "or D on a service. Pairs: replicas labelled environment=blue|green, or [[pair]] in the topology.",
            ),
        ];
        f.render_widget(Paragraph::new(msg).style(t.text).block(block), area);
        return;
    }
    let selected = app.ops.rollouts_selected.min(rows.len() - 1);
    let table_h = (rows.len() as u16 + 3).min(area.height / 2).max(4);
    let [top, bottom] = if area.height > 10 {
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(3)]).areas(area)
    } else {
        [area, Rect::default()]
    };
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|r| match r {
            RolloutRow::Pair(p) => pair_row(app, p),
            RolloutRow::Rollout(i) => rollout_row(app, &app.ops.rollouts[*i]),
        })
        .collect();
    // Narrow terminals drop the progress and time columns first.
    let wide = area.width >= 110;
    let widths = [
        Constraint::Length(4),
        Constraint::Length(20),
        Constraint::Min(20),
        Constraint::Length(if wide { 28 } else { 0 }),
        Constraint::Length(if wide { 5 } else { 0 }),
        Constraint::Length(12),
    ];
    let table = Table::new(table_rows, widths)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selection);
    f.render_stateful_widget(
        table,
        top,
        &mut TableState::default().with_selected(Some(selected)),
    );
    if bottom.height > 0 {
        match rows.get(selected) {
            Some(RolloutRow::Rollout(i)) => draw_detail(f, app, &app.ops.rollouts[*i], bottom),
            Some(RolloutRow::Pair(p)) => draw_pair(f, app, p, bottom),
            None => {}
        }
    }
}

/// Each replica of a pair: colour, state, health, image, and whether it
/// holds the alias.
fn draw_pair(f: &mut Frame, app: &App, p: &Pair, area: Rect) {
    let t = &app.theme;
    let title = format!(
        " pair {} · alias {} on {} · live: {} ",
        p.name,
        p.alias,
        p.network.as_deref().unwrap_or("no network"),
        p.live_word()
    );
    let mut lines = Vec::new();
    for c in [Colour::Blue, Colour::Green] {
        for r in p.side(c).iter().filter_map(|id| app.fleet.replicas.get(id)) {
            let holds = p.network.as_deref().is_some_and(|net| {
                r.networks
                    .iter()
                    .any(|n| n.network == net && n.aliases.contains(&p.alias))
            });
            let style = match r.health {
                Health::Unhealthy => t.critical,
                Health::Starting => t.warning,
                _ if !r.is_running() => t.critical,
                _ => t.healthy,
            };
            lines.push(Line::from(vec![
                Span::styled(format!(" {:<6}", c.word()), t.text),
                Span::styled(format!("{} ", r.health.symbol()), style),
                Span::styled(format!("{:<28}", r.name), t.text),
                Span::styled(format!("{:<9}", r.state), style),
                Span::styled(format!("{:<24}", r.image), t.muted),
                Span::styled(
                    if holds {
                        format!("◀ {}", p.alias)
                    } else {
                        String::new()
                    },
                    t.healthy,
                ),
            ]));
        }
    }
    boxed(f, app, title, lines, area);
}

/// Lines in a bordered box, each cut to its width.
fn boxed(f: &mut Frame, app: &App, title: String, lines: Vec<Line>, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border)
        .title(Span::styled(title, app.theme.title));
    let width = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| super::truncate_line(l, width))
        .collect();
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_detail(f: &mut Frame, app: &App, r: &View, area: Rect) {
    let t = &app.theme;
    let title = format!(
        " #{} {} of {} · {} ",
        r.id,
        r.what,
        r.service.name,
        r.spec.summary()
    );
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} · ", r.phase.word()), phase_style(app, &r.phase)),
        Span::styled(r.message.clone(), t.text),
    ])];
    for s in &r.slots {
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", s.state.symbol()), slot_style(app, &s.state)),
            Span::styled(format!("{:<34}", s.name), t.text),
            Span::styled(format!("{} → {}  ", s.from, s.to), t.muted),
            Span::styled(format!("{:<10}", s.health), slot_style(app, &s.state)),
            Span::styled(
                s.took.map(|x| format!("{x:>5.1}s  ")).unwrap_or_default(),
                t.muted,
            ),
            Span::styled(s.note.clone(), t.muted),
        ]));
    }
    boxed(f, app, title, lines, area);
}
