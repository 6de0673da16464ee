//! The Events timeline and the Networks pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::truncate;
use crate::app::App;
use crate::events::Severity;
use crate::text;

fn severity_style(app: &App, s: Severity) -> Style {
    let t = &app.theme;
    match s {
        Severity::Info => t.text,
        Severity::Ok => t.healthy,
        Severity::Warning => t.warning,
        Severity::Critical => t.critical,
    }
}

fn block<'a>(app: &App, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border)
        .title(Span::styled(title, app.theme.title))
}

fn header(app: &App, cols: &[&str]) -> Row<'static> {
    Row::new(
        cols.iter()
            .map(|c| Cell::from(Span::styled(c.to_string(), app.theme.table_header)))
            .collect::<Vec<_>>(),
    )
}

/// What a line is about when it names no container: its service, team
/// or layer.
fn subject(l: &crate::events::Line) -> String {
    [&l.service, &l.team, &l.layer]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default()
}

pub fn draw_events(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let lines = app.event_lines();
    let filter = &app.views.events_filter;
    let title = format!(
        " events{}: {} of {}{} (newest first · Enter: the replica · / filter · A ack) ",
        if filter.is_empty() {
            String::new()
        } else {
            format!(" [{filter}]")
        },
        lines.len(),
        app.shown_timeline().lines.len(),
        match app.shown_timeline().from_recording() {
            0 => String::new(),
            n => format!(", {n} recorded before this session"),
        }
    );
    let wide = area.width >= 110;
    // Columns as wide as what they hold (within bounds), so DETAIL gets
    // the rest; a name cut in the middle keeps what tells replicas apart.
    let group_of = |l: &crate::events::Line| {
        if l.team.is_empty() {
            l.layer.clone()
        } else {
            format!("{}/{}", l.layer, l.team)
        }
    };
    let widest = |cell: &dyn Fn(&crate::events::Line) -> usize, head: &str, most: usize| {
        lines
            .iter()
            .map(|l| cell(l))
            .chain([text::width(head)])
            .max()
            .unwrap_or(0)
            .min(most)
    };
    let container_w = widest(
        &|l| text::width(&l.container),
        "CONTAINER",
        if wide { 36 } else { 24 },
    );
    let host_w = widest(&|l| text::width(&l.host), "HOST", 16);
    // As group_of writes it, without making the string for every line.
    let group_w = widest(
        &|l| match l.team.is_empty() {
            true => text::width(&l.layer),
            false => text::width(&l.layer) + 1 + text::width(&l.team),
        },
        "LAYER/TEAM",
        24,
    );
    let service_w = widest(&|l| text::width(&l.service), "SERVICE", 24);
    let rows: Vec<Row> = lines
        .iter()
        .map(|l| {
            let style = severity_style(app, l.severity);
            let time = l
                .time
                .with_timezone(&app.local_offset)
                .format("%H:%M:%S")
                .to_string();
            let mut cells = vec![
                Cell::from(Span::styled(time, t.muted)),
                Cell::from(Span::styled(
                    format!("{} {}", l.severity.symbol(), l.event),
                    style,
                )),
                // Narrow, without the SERVICE column, a line about no
                // replica (an alert, a Swarm service) says what it is
                // about there instead.
                match (wide, l.container.is_empty()) {
                    (false, true) => Cell::from(Span::styled(
                        text::truncate_middle(&subject(l), container_w),
                        t.muted,
                    )),
                    _ => Cell::from(Span::styled(
                        text::truncate_name(&l.container, container_w),
                        t.title,
                    )),
                },
            ];
            if wide {
                let cut = |s: &str, w| Span::styled(text::truncate(s, w), t.text);
                cells.push(Cell::from(Span::styled(
                    text::truncate(&l.host, host_w),
                    t.muted,
                )));
                cells.push(Cell::from(cut(&group_of(l), group_w)));
                cells.push(Cell::from(cut(&l.service, service_w)));
            }
            cells.push(Cell::from(Span::styled(l.detail.clone(), style)));
            Row::new(cells)
        })
        .collect();
    let len = |w: usize| Constraint::Length(w as u16);
    let (widths, cols): (Vec<Constraint>, Vec<&str>) = if wide {
        (
            vec![
                Constraint::Length(8),
                Constraint::Length(14),
                len(container_w),
                len(host_w),
                len(group_w),
                len(service_w),
                Constraint::Min(10),
            ],
            vec![
                "TIME",
                "EVENT",
                "CONTAINER",
                "HOST",
                "LAYER/TEAM",
                "SERVICE",
                "DETAIL",
            ],
        )
    } else {
        (
            vec![
                Constraint::Length(8),
                Constraint::Length(14),
                len(container_w),
                Constraint::Min(10),
            ],
            vec!["TIME", "EVENT", "CONTAINER", "DETAIL"],
        )
    };
    if rows.is_empty() {
        let msg = if app.shown_timeline().lines.is_empty() {
            "No events yet: starts, deaths, health changes, OOM kills and Swarm updates appear here as they happen."
        } else {
            "No event matches the filter (Esc clears it)."
        };
        f.render_widget(
            Paragraph::new(msg).style(t.muted).block(block(app, title)),
            area,
        );
        return;
    }
    let table = Table::new(rows, widths)
        .header(header(app, &cols))
        .block(block(app, title))
        .column_spacing(1)
        .row_highlight_style(t.selection);
    let selected = app.views.events_selected.min(lines.len().saturating_sub(1));
    f.render_stateful_widget(
        table,
        area,
        &mut TableState::default().with_selected(Some(selected)),
    );
}

pub fn draw_networks(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if let Some(net) = &app.views.network_open {
        let reps = app.attached(net);
        let rows: Vec<Row> = reps
            .iter()
            .map(|r| {
                let a = r.networks.iter().find(|a| &a.network == net);
                Row::new(vec![
                    Cell::from(Span::styled(text::truncate_name(&r.name, 34), t.title)),
                    Cell::from(Span::styled(r.state.to_string(), t.text)),
                    Cell::from(Span::styled(
                        a.map(|a| a.ip.clone()).unwrap_or_default(),
                        t.text,
                    )),
                    Cell::from(Span::styled(
                        a.map(|a| a.aliases.join(", ")).unwrap_or_default(),
                        t.muted,
                    )),
                ])
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(34),
                Constraint::Length(10),
                Constraint::Length(16),
                Constraint::Min(10),
            ],
        )
        .header(header(app, &["CONTAINER", "STATE", "IP", "ALIASES"]))
        .block(block(
            app,
            format!(" {net}: {} containers (Esc back) ", reps.len()),
        ))
        .column_spacing(1)
        .row_highlight_style(t.selection);
        let sel = app
            .views
            .networks_selected
            .min(reps.len().saturating_sub(1));
        f.render_stateful_widget(
            table,
            area,
            &mut TableState::default().with_selected(Some(sel)),
        );
        return;
    }
    let rows = app.network_rows();
    let breaches = app.breaches();
    let matrix = app.zone_matrix();
    let matrix_h = (matrix.len() as u16 + breaches.len() as u16 + 3).min(area.height / 2);
    let [table_area, matrix_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(matrix_h)]).areas(area);
    // Columns drop by priority on a narrow terminal: the name, its zone and
    // whether it is internal stay.
    const COLS: [(&str, u16, u8); 7] = [
        ("NETWORK", 22, 0),
        ("DRIVER", 8, 4),
        ("SCOPE", 6, 5),
        ("SUBNET GATEWAY", 30, 3),
        ("INTERNAL", 9, 1),
        ("CTRS", 5, 2),
        ("ZONE", 0, 0),
    ];
    let specs: Vec<(u16, u8)> = COLS.iter().map(|(_, w, p)| (*w, *p)).collect();
    let fitted = super::columns::fit(&specs, table_area.width.saturating_sub(2), 12);
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            let n = &r.network;
            let cells = [
                Cell::from(Span::styled(n.name.clone(), t.title)),
                Cell::from(Span::styled(n.driver.clone(), t.text)),
                Cell::from(Span::styled(n.scope.clone(), t.muted)),
                Cell::from(Span::styled(
                    format!("{} {}", n.subnets.join(","), n.gateways.join(",")),
                    t.text,
                )),
                Cell::from(Span::styled(
                    if n.internal { "internal" } else { "-" },
                    if n.internal { t.healthy } else { t.muted },
                )),
                Cell::from(Span::styled(format!("{:>4}", r.containers), t.text)),
                Cell::from(Span::styled(
                    r.zone.clone().unwrap_or_else(|| "-".into()),
                    t.text,
                )),
            ];
            Row::new(
                cells
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| fitted.kept.contains(i))
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let titles: Vec<&str> = fitted.kept.iter().map(|i| COLS[*i].0).collect();
    let table = Table::new(body, fitted.constraints())
        .header(header(app, &titles))
        .block(block(
            app,
            format!(
                " networks{}: {} (Enter: attached containers · / filter) ",
                if app.views.networks_filter.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", app.views.networks_filter)
                },
                rows.len()
            ),
        ))
        .column_spacing(1)
        .row_highlight_style(t.selection);
    let sel = app
        .views
        .networks_selected
        .min(rows.len().saturating_sub(1));
    f.render_stateful_widget(
        table,
        table_area,
        &mut TableState::default().with_selected(Some(sel)),
    );
    // The zone matrix: pairs joined by a container, allowed or not.
    let width = matrix_area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    for ((a, b), names) in &matrix {
        let bad = breaches.iter().any(|x| x.zones == (a.clone(), b.clone()));
        let (mark, style) = if bad {
            ("✖ not allowed", t.critical)
        } else {
            ("● allowed", t.healthy)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{a:>12} ↔ {b:<12} "), t.text),
            Span::styled(format!("{mark:<14} "), style),
            Span::styled(
                truncate(&names.join(", "), width.saturating_sub(43)),
                t.muted,
            ),
        ]));
    }
    if matrix.is_empty() {
        lines.push(Line::from(Span::styled(
            "no container joins two zones",
            t.muted,
        )));
    }
    for b in &breaches {
        lines.push(Line::from(Span::styled(
            format!(
                "! {} ({}) joins {} and {}: no flow between them in the topology's rules",
                b.container, b.service, b.zones.0, b.zones.1
            ),
            t.critical,
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(
            app,
            " zones joined by containers (the topology's [[flow]] rules) ".into(),
        )),
        matrix_area,
    );
}
