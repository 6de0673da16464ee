//! The Nodes view: the Swarm's nodes as its manager lists them, with what
//! their tasks reserve and, for this daemon's own node, its live load.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::columns;
use crate::app::App;
use crate::format;
use crate::model::{SwarmNode, SwarmRole};
use crate::text;

/// The columns: header, width (0 = the rest), priority (0 kept first).
const COLS: [columns::Col; 10] = [
    ("NODE", 18, 0),
    ("ROLE", 8, 1),
    ("STATE", 7, 0),
    ("AVAIL", 7, 1),
    ("CPU res/cap", 11, 2),
    ("MEM res/cap", 13, 2),
    ("TASKS", 7, 1),
    ("LOAD cpu/mem", 14, 3),
    ("ENGINE", 14, 4),
    ("LABELS / WHY", 0, 5),
];

/// Below this the flexible column is left out rather than squeezed.
const FLEX_MIN: u16 = 12;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let nodes = &app.fleet.nodes;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(" nodes: {} ", summary(nodes)),
            t.title,
        ));
    if nodes.is_empty() {
        let role = app
            .hosts
            .iter()
            .map(|(_, h)| &h.daemon.swarm)
            .max_by_key(|r| **r == SwarmRole::Manager)
            .unwrap_or(&SwarmRole::Unknown);
        let why = match role {
            SwarmRole::Manager => "The Swarm lists no node yet.".to_string(),
            SwarmRole::Worker => {
                "This daemon is a Swarm worker: only a manager lists the nodes (connect to one with --host)."
                    .to_string()
            }
            role => format!(
                "This daemon is not in a Swarm (swarm: {role}): there are no nodes to list. `docker swarm init` makes it one."
            ),
        };
        f.render_widget(
            Paragraph::new(why)
                .style(t.muted)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let (fitted, header) = columns::fit_named(
        &COLS,
        area.width.saturating_sub(2),
        FLEX_MIN,
        t.table_header,
    );
    let body: Vec<Row> = nodes
        .iter()
        .map(|n| {
            Row::new(
                fitted
                    .kept
                    .iter()
                    .zip(&fitted.widths)
                    .map(|(i, w)| cell(app, n, *i, *w))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let table = Table::new(body, fitted.constraints())
        .header(header)
        .block(block);
    columns::draw_list(
        f,
        area,
        table,
        t.selection,
        app.views.nodes_selected,
        nodes.len(),
    );
}

/// `3 nodes · 2 ready · 1 drain`.
fn summary(nodes: &[SwarmNode]) -> String {
    let ready = nodes.iter().filter(|n| n.state == "ready").count();
    let mut s = format!("{} · {ready} ready", nodes.len());
    for (word, n) in
        ["pause", "drain"].map(|w| (w, nodes.iter().filter(|n| n.availability == w).count()))
    {
        if n > 0 {
            s += &format!(" · {n} {word}");
        }
    }
    s
}

fn cell(app: &App, n: &SwarmNode, col: usize, w: u16) -> Cell<'static> {
    let t = &app.theme;
    let styled =
        |s: String, style: Style| Cell::from(Span::styled(text::truncate(&s, w as usize), style));
    match col {
        0 => styled(n.hostname.clone(), t.title),
        1 => {
            let role = match (&n.role, n.leader) {
                (SwarmRole::Manager, true) => "leader".to_string(),
                (SwarmRole::Manager, false) if n.reachability != "reachable" => {
                    format!("mgr {}", n.reachability)
                }
                (role, _) => role.to_string(),
            };
            styled(role, t.text)
        }
        2 => styled(
            n.state.clone(),
            if n.state == "ready" {
                t.healthy
            } else {
                t.critical
            },
        ),
        3 => styled(
            n.availability.clone(),
            if n.availability == "active" {
                t.text
            } else {
                t.warning
            },
        ),
        4 => styled(
            format!(
                "{}/{}",
                format::cores(Some(n.reserved_cpus)),
                format::cores(Some(n.cpus))
            ),
            load_style(app, n.reserved_cpus, n.cpus),
        ),
        5 => styled(
            format!(
                "{}/{}",
                format::bytes(n.reserved_memory as f64),
                format::bytes(n.memory as f64)
            ),
            load_style(app, n.reserved_memory as f64, n.memory as f64),
        ),
        6 => styled(
            format!("{}/{}", n.tasks_running, n.tasks_wanted),
            if n.tasks_running < n.tasks_wanted {
                t.warning
            } else {
                t.text
            },
        ),
        7 => {
            // Live figures only where they are read: a node whose daemon
            // is one of the hosts (and answers).
            if let Some(host) = app
                .hosts
                .of_node(&n.id)
                .filter(|h| app.hosts.get(*h).is_up())
            {
                let f = app.fleet.host_figures(host);
                styled(
                    format!(
                        "{}%/{}",
                        format::percent(f.cpu_pct),
                        format::bytes(f.mem_used as f64)
                    ),
                    t.text,
                )
            } else {
                styled("-".into(), t.muted)
            }
        }
        8 => styled(n.engine.clone(), t.muted),
        _ if n.state != "ready" && !n.message.is_empty() => styled(n.message.clone(), t.critical),
        _ => styled(
            n.labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            t.muted,
        ),
    }
}

/// Reservations near capacity warn: nothing more fits there.
fn load_style(app: &App, used: f64, cap: f64) -> Style {
    if cap > 0.0 && used >= cap * 0.9 {
        app.theme.warning
    } else {
        app.theme.text
    }
}
