//! The Rollouts view: blue-green pairs (which colour is live, each side's
//! health and images), then every rollout of this session, newest first;
//! below, the selected one replica by replica.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::{text, truncate};
use crate::app::App;
use crate::app::rollouts::Row as RolloutRow;
use crate::keymap::Action;
use crate::model::Health;
use crate::ops::pair::{Colour, Pair};
use crate::recovery::Interrupted;
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

/// "blue 2/2 ● agile-sim:0.1.0" for one colour (without the images when
/// space is short).
fn side(app: &App, p: &Pair, c: Colour, with_images: bool) -> String {
    let replicas: Vec<_> = p
        .side(c)
        .iter()
        .filter_map(|id| app.shown_fleet().replicas.get(id))
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
    let mut text = format!("{} {ok}/{} {mark}", c.word(), replicas.len());
    if with_images {
        text = format!("{text} {}", images.join(","));
    }
    text
}

/// The table's columns, in display order.
const ID: usize = 0;
const SERVICE: usize = 1;
const IMAGES: usize = 2;
const PROGRESS: usize = 3;
const FAILED: usize = 4;
const TIME: usize = 5;
const STATE: usize = 6;

/// One row's cells as text and style, by column.
type Cells = [(String, Style); 7];

/// "from → to" in `width`: each side cut to its half when both do not fit,
/// so the target never disappears behind a long source. An image keeps
/// its end (name and tag), not its registry.
fn arrow(from: &str, to: &str, width: u16) -> String {
    let full = format!("{from} → {to}");
    if text::width(&full) <= width as usize {
        return full;
    }
    let half = (width as usize).saturating_sub(3) / 2;
    let (from, to) = (text::keep_end(from, half), text::keep_end(to, half));
    truncate(&format!("{from} → {to}"), width as usize)
}

fn rollout_cells(app: &App, r: &View, images_width: u16) -> Cells {
    let t = &app.theme;
    let replaced = r
        .slots
        .iter()
        .filter(|s| s.state == SlotState::Replaced)
        .count();
    let end = r.finished.unwrap_or(app.now);
    let secs = (end - r.started).num_seconds().max(0);
    let kind = match r.what {
        crate::rollout::Kind::RollingUpdate => "update",
        other => other.word(),
    };
    let progress = match r.stage {
        Some((k, n)) => format!("{kind} stage {k}/{n} · {replaced}/{} new", r.slots.len()),
        None => format!("{kind} · {replaced}/{} new", r.slots.len()),
    };
    let failed = if r.failures > 0 {
        (format!("{} failed", r.failures), t.critical)
    } else {
        (String::new(), t.muted)
    };
    [
        (format!("#{}", r.id), t.muted),
        (r.service.name.clone(), t.title),
        (arrow(&r.from, &r.to, images_width), t.text),
        (progress, t.text),
        failed,
        (format!("{:>2}:{:02}", secs / 60, secs % 60), t.muted),
        (r.phase.short().to_string(), phase_style(app, &r.phase)),
    ]
}

/// A row for what an earlier agile-deck left unfinished.
fn interrupted_cells(app: &App, it: &Interrupted, images_width: u16) -> Cells {
    let t = &app.theme;
    let images = if it.from().is_empty() {
        it.operation.clone()
    } else {
        arrow(it.from(), it.to(), images_width)
    };
    [
        (format!("#{}", it.op), t.muted),
        (it.service().to_string(), t.title),
        (images, t.text),
        (
            format!("{} · {} steps", it.operation, it.steps.len()),
            t.text,
        ),
        (String::new(), t.muted),
        (String::new(), t.muted),
        ("interrupted".into(), t.critical),
    ]
}

/// What was done, what each replica is now, and the keys.
fn draw_interrupted(f: &mut Frame, app: &App, it: &Interrupted, area: Rect) {
    let t = &app.theme;
    let km = &app.keymap;
    let title = format!(
        " interrupted {} of {} · {} ",
        it.operation,
        it.service(),
        it.summary()
    );
    let mut lines = vec![Line::from(Span::styled(
        match it.resumable() {
            Ok(()) => format!(
                "agile-deck stopped before this {} ended (run {}, by {}). {} resume · {} roll back · {} dismiss",
                it.operation,
                it.run,
                it.user,
                km.hint(Action::RolloutResume),
                km.hint(Action::RolloutBack),
                km.hint(Action::RolloutAbort)
            ),
            Err(why) => format!(
                "not taken over: {why} · {} dismiss",
                km.hint(Action::RolloutAbort)
            ),
        },
        t.warning,
    ))];
    for n in it.replicas() {
        let (now, on_target) = app.replica_now(&n, it.to());
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<34}", n), t.text),
            Span::styled(now, if on_target { t.healthy } else { t.muted }),
        ]));
    }
    lines.push(Line::from(Span::styled("journalled steps:", t.muted)));
    for (n, what, outcome) in &it.steps {
        lines.push(Line::from(Span::styled(
            format!(" {n:>3}. {what} — {outcome}"),
            if *outcome == crate::journal::Outcome::Failed {
                t.critical
            } else {
                t.muted
            },
        )));
    }
    boxed(f, app, title, lines, area);
}

/// A pair's sides share the images column: with their images where
/// they fit, else their counts alone (the box below lists every replica).
fn pair_cells(app: &App, p: &Pair, images_width: u16) -> Cells {
    let t = &app.theme;
    let full = format!(
        "{} · {}",
        side(app, p, Colour::Blue, true),
        side(app, p, Colour::Green, true)
    );
    let sides = if text::width(&full) <= images_width as usize {
        full
    } else {
        format!(
            "{} · {}",
            side(app, p, Colour::Blue, false),
            side(app, p, Colour::Green, false)
        )
    };
    let live = (
        format!("live: {}", p.live_word()),
        if p.live.len() == 1 {
            t.healthy
        } else {
            t.warning
        },
    );
    [
        ("pair".into(), t.muted),
        (p.name.clone(), t.title),
        (sides, t.text),
        (String::new(), t.muted),
        (String::new(), t.muted),
        (String::new(), t.muted),
        live,
    ]
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
    // Columns drop by priority: the state and the failures always show,
    // then the images, the progress and the time.
    let longest = |col: usize, cells: &[Cells]| {
        cells
            .iter()
            .map(|c| text::width(&c[col].0) as u16)
            .max()
            .unwrap_or(0)
    };
    let rollouts: Vec<Cells> = rows
        .iter()
        .filter_map(|r| match r {
            RolloutRow::Rollout(i) => Some(rollout_cells(app, &app.ops.rollouts[*i], u16::MAX)),
            RolloutRow::Interrupted(i) => {
                Some(interrupted_cells(app, &app.ops.interrupted[*i], u16::MAX))
            }
            RolloutRow::Pair(_) => None,
        })
        .collect();
    let names = rows.iter().map(|r| match r {
        RolloutRow::Pair(p) => text::width(&p.name) as u16,
        RolloutRow::Rollout(i) => text::width(&app.ops.rollouts[*i].service.name) as u16,
        RolloutRow::Interrupted(i) => text::width(app.ops.interrupted[*i].service()) as u16,
    });
    // (width, priority); 0 wide = the flexible column.
    let mut specs = [(0u16, 0u8); 7];
    specs[ID] = (4, 0);
    specs[SERVICE] = (names.max().unwrap_or(0).clamp(7, 24), 0);
    specs[IMAGES] = (0, 1);
    specs[PROGRESS] = (longest(PROGRESS, &rollouts), 2);
    specs[FAILED] = (longest(FAILED, &rollouts), 0);
    specs[TIME] = (5, 3);
    specs[STATE] = (12, 0);
    // The selection marker takes no column: the highlight is the row's style.
    let fitted = super::columns::fit(&specs, area.width.saturating_sub(2), 24);
    let images_width = fitted.width_of(IMAGES).unwrap_or(0);
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let cells = match r {
                RolloutRow::Pair(p) => pair_cells(app, p, images_width),
                RolloutRow::Rollout(i) => rollout_cells(app, &app.ops.rollouts[*i], images_width),
                RolloutRow::Interrupted(i) => {
                    interrupted_cells(app, &app.ops.interrupted[*i], images_width)
                }
            };
            Row::new(fitted.kept.iter().zip(&fitted.widths).map(|(&c, &w)| {
                let (text, style) = &cells[c];
                Cell::from(Span::styled(truncate(text, w as usize), *style))
            }))
        })
        .collect();
    let widths: Vec<Constraint> = fitted
        .widths
        .iter()
        .map(|w| Constraint::Length(*w))
        .collect();
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
            Some(RolloutRow::Interrupted(i)) => {
                draw_interrupted(f, app, &app.ops.interrupted[*i], bottom)
            }
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
        for r in p
            .side(c)
            .iter()
            .filter_map(|id| app.shown_fleet().replicas.get(id))
        {
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
