//! The detail box under the table (figures and CPU chart of the selected
//! row) and the full page of one replica.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::tables::{state_style, uptime};
use super::{health_style, metric_style, truncate};
use crate::app::{App, Level};
use crate::fleet::Fleet;
use crate::format;
use crate::metrics::{CHART_STEP, CellKey, Reading, Scope};
use crate::model::Replica;

pub fn draw_detail(f: &mut Frame, app: &App, rows: &[crate::fleet::Row], area: Rect) {
    let t = &app.theme;
    let (title, summary, members, ids): (String, String, Vec<Span>, Vec<String>) =
        match &app.frame().level {
            Level::Groups | Level::Services { .. } => {
                let Some(r) = rows.get(app.frame().selected) else {
                    return draw_empty(f, app, area);
                };
                let fig = &r.figures;
                let summary = if fig.sampled == 0 {
                    format!("{} running of {} wanted", r.running, r.wanted)
                } else {
                    format!(
                        "cpu {}%  mem {}{}  net ↓{}/s ↑{}/s  blk r {}/s w {}/s  pids {}{}",
                        format::percent(fig.cpu_pct),
                        format::bytes(fig.mem_used as f64),
                        if fig.mem_limit > 0 {
                            format!(" of {}", format::bytes(fig.mem_limit as f64))
                        } else {
                            String::new()
                        },
                        format::rate(fig.net_rx_rate),
                        format::rate(fig.net_tx_rate),
                        format::rate(fig.blk_read_rate),
                        format::rate(fig.blk_write_rate),
                        fig.pids,
                        if fig.sampled < r.running {
                            format!("  (figures from {} of {} replicas)", fig.sampled, r.running)
                        } else {
                            String::new()
                        }
                    )
                };
                // Members: services of a group, replicas of a service.
                let mut spans = Vec::new();
                match &app.frame().level {
                    Level::Groups => {
                        let by = app.pane.group_by();
                        for s in app.shown_fleet().service_rows(by, &r.name) {
                            let worst = s.health.worst().unwrap_or(crate::model::Health::NoCheck);
                            spans.push(Span::styled(worst.symbol(), health_style(app, worst)));
                            spans.push(Span::styled(
                                format!("{} {}/{}  ", s.name, s.running, s.wanted),
                                t.text,
                            ));
                        }
                    }
                    // A Swarm service: its tasks cluster-wide, by slot and
                    // node. The past keeps none (but a waiting one's
                    // reason): there, the replicas that ran.
                    _ if swarm_service(app, r).is_some_and(|s| !s.tasks.is_empty()) => {
                        let s = swarm_service(app, r).expect("just found");
                        spans.extend(task_spans(app, &s.tasks));
                    }
                    _ => {
                        for id in &r.replicas {
                            if let Some(rep) = app.shown_fleet().replicas.get(id) {
                                spans.push(Span::styled(
                                    rep.health.symbol(),
                                    health_style(app, rep.health),
                                ));
                                spans.push(Span::styled(format!("{}  ", rep.name), t.text));
                            }
                        }
                    }
                }
                (
                    format!(" detail: {} ", r.name),
                    summary,
                    spans,
                    r.replicas.clone(),
                )
            }
            Level::Replicas { .. } => {
                let Some(r) = app.selected_replica() else {
                    return draw_empty(f, app, area);
                };
                let nets: Vec<String> = r
                    .networks
                    .iter()
                    .map(|n| {
                        if n.ip.is_empty() {
                            n.network.clone()
                        } else {
                            format!("{} {}", n.network, n.ip)
                        }
                    })
                    .collect();
                let ports: Vec<String> = r.ports.iter().map(|p| p.to_string()).collect();
                // Where it runs, when there is more than one place.
                let host = if app.hosts.several() {
                    format!("host {}  ", app.hosts.name(r.host))
                } else {
                    String::new()
                };
                let summary = format!(
                    "{host}image {}  up {}  restarts {}  limits cpu {} mem {}",
                    r.image,
                    uptime(app, r),
                    r.restart_count,
                    format::cores(r.cpu_limit),
                    r.mem_limit
                        .map(|m| format::bytes(m as f64))
                        .unwrap_or_else(|| "-".into()),
                );
                let spans = vec![Span::styled(
                    format!(
                        "networks {}  ports {}",
                        if nets.is_empty() {
                            "-".into()
                        } else {
                            nets.join(", ")
                        },
                        if ports.is_empty() {
                            "-".into()
                        } else {
                            ports.join(", ")
                        }
                    ),
                    t.text,
                )];
                (
                    format!(" detail: {} ", r.name),
                    summary,
                    spans,
                    vec![r.id.clone()],
                )
            }
            Level::Replica { .. } => return,
        };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(title, t.title));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    // The selected row's Prometheus charts, under its figures.
    let row = match &app.frame().level {
        Level::Replicas { .. } => app.selected_replica().map(|r| r.name.clone()),
        _ => rows.get(app.frame().selected).map(|r| r.name.clone()),
    };
    let metric_lines = row
        .map(|row| metric_lines(app, app.prom_scope(), &row, width.saturating_sub(40)))
        .unwrap_or_default();
    // The scaling advice of the selected row, and why.
    let advice = match &app.frame().level {
        Level::Groups | Level::Services { .. } => rows
            .get(app.frame().selected)
            .and_then(|r| app.advice(r))
            .map(|(_, a)| {
                Line::from(vec![
                    Span::styled("advice ", t.table_header),
                    Span::styled(
                        truncate(&a.why, width.saturating_sub(7)),
                        if a.to.is_some() { t.warning } else { t.muted },
                    ),
                ])
            }),
        _ => None,
    };
    // A Swarm service whose tasks do not all run: Swarm's reason.
    let pending = match &app.frame().level {
        Level::Services { .. } => rows
            .get(app.frame().selected)
            .and_then(|r| swarm_service(app, r))
            .and_then(|s| s.pending.as_ref())
            .map(|why| {
                Line::from(vec![
                    Span::styled("pending ", t.table_header),
                    Span::styled(truncate(why, width.saturating_sub(8)), t.warning),
                ])
            }),
        _ => None,
    };
    let [text_area, metrics_area, chart_area] = Layout::vertical([
        Constraint::Length(2 + u16::from(advice.is_some()) + u16::from(pending.is_some())),
        Constraint::Length(metric_lines.len() as u16),
        Constraint::Min(0),
    ])
    .areas(inner);
    let mut text = vec![
        Line::from(Span::styled(truncate(&summary, width), t.text)),
        Line::from(members),
    ];
    text.extend(pending);
    text.extend(advice);
    f.render_widget(Paragraph::new(text), text_area);
    f.render_widget(Paragraph::new(metric_lines), metrics_area);
    if chart_area.height > 0 {
        draw_cpu_chart(f, app.shown_fleet(), &ids, app, chart_area);
    }
}

/// One line per metric of a row: name, the last 15 minutes as a
/// sparkline of `chart_width` cells, the value now and the peak, or why
/// there is nothing to show.
fn metric_lines(app: &App, scope: Scope, row: &str, chart_width: usize) -> Vec<Line<'static>> {
    let Some(prom) = &app.prom else {
        return Vec::new();
    };
    let t = &app.theme;
    let mut out = Vec::new();
    for (i, m) in app.shown_fleet().topology.metrics.iter().enumerate() {
        if !m.applies_to(scope, row) {
            continue;
        }
        let key = CellKey {
            scope,
            row: row.to_string(),
            metric: i,
        };
        let mut spans = vec![Span::styled(format!("{:<7} ", m.name), t.table_header)];
        if let Some(past) = &app.past {
            spans.push(match past.metrics.get(&(row.to_string(), m.name.clone())) {
                Some(v) => Span::styled(format!("{} (recorded)", m.format(*v)), t.text),
                None => Span::styled("not recorded then", t.muted),
            });
            out.push(Line::from(spans));
            continue;
        }
        match prom.store.charts.get(&key) {
            None => spans.push(Span::styled("…", t.muted)),
            Some(Err(e)) => spans.push(Span::styled(format!("✖ {e}"), t.critical)),
            Some(Ok(Err(why))) => spans.push(Span::styled(format!("! {why}"), t.warning)),
            Some(Ok(Ok(points))) if points.is_empty() => {
                spans.push(Span::styled("no data in the last 15 minutes", t.muted))
            }
            Some(Ok(Ok(points))) => {
                let shown = &points[points.len().saturating_sub(chart_width.max(1))..];
                let values: Vec<f64> = shown
                    .iter()
                    .map(|(_, v)| if v.is_finite() { *v } else { 0.0 })
                    .collect();
                let peak = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let span = shown.len().saturating_sub(1) as u64 * CHART_STEP.as_secs();
                let minutes = ((span + 30) / 60).max(1);
                // The sparkline's scale floors at 1: hand it fractions of
                // the peak, so ratios and seconds draw as well as rates.
                let scaled: Vec<f64> = values
                    .iter()
                    .map(|v| if peak > 0.0 { v / peak } else { 0.0 })
                    .collect();
                spans.push(Span::styled(
                    format::sparkline(&scaled, Some(1.0)),
                    t.sparkline,
                ));
                spans.push(Span::styled(
                    format!("  {minutes}m  peak {}", m.format(peak)),
                    t.muted,
                ));
            }
        }
        let now = match prom.store.cells.get(&key) {
            Some(Ok(Reading::Value { value, .. })) => Some((m.format(*value), m.level(*value))),
            _ => None,
        };
        if let Some((text, level)) = now {
            spans.push(Span::styled("  now ", t.muted));
            spans.push(Span::styled(text, metric_style(app, level)));
        }
        out.push(Line::from(spans));
    }
    out
}

fn draw_empty(f: &mut Frame, app: &App, area: Rect) {
    f.render_widget(
        Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.border),
        area,
    );
}

/// A row's recorded hour of CPU in `width` buckets ending now (a bucket's
/// average), when the store reaches further back than the live history.
fn recorded_hour(app: &App, width: usize) -> Option<Vec<f64>> {
    let r = &app.recorded;
    let points = &r.points;
    let first = points.first()?.0;
    let live_span = chrono::Duration::seconds(
        (width.min(crate::stats::HISTORY_SLOTS) as i64) * crate::stats::SLOT_SECS,
    );
    if app.past.is_some()
        || width == 0
        || r.key.is_none()
        || r.key != app.recorded_key()
        || app.now - first <= live_span
    {
        return None;
    }
    let start = app.now - chrono::Duration::hours(1);
    let bucket = 3600.0 / width as f64;
    let mut sums = vec![(0.0, 0u32); width];
    for (t, v) in points {
        let i = ((*t - start).num_milliseconds() as f64 / 1000.0 / bucket).floor();
        if (0.0..width as f64).contains(&i) {
            let s = &mut sums[i as usize];
            s.0 += v;
            s.1 += 1;
        }
    }
    Some(
        sums.into_iter()
            .map(|(s, n)| if n == 0 { 0.0 } else { s / f64::from(n) })
            .collect(),
    )
}

/// A CPU chart of the last minutes (of the last hour, from the history
/// store, when it holds more), labelled with its peak.
fn draw_cpu_chart(f: &mut Frame, fleet: &Fleet, ids: &[String], app: &App, area: Rect) {
    let label_w = 14u16.min(area.width / 3);
    let [label, chart] =
        Layout::horizontal([Constraint::Length(label_w), Constraint::Min(1)]).areas(area);
    let recorded = recorded_hour(app, chart.width as usize);
    let hist = recorded
        .clone()
        .unwrap_or_else(|| fleet.cpu_history(ids, chart.width as usize, app.shown_now()));
    let peak = hist.iter().copied().fold(0.0, f64::max);
    // A wide chart shows no more than the history holds.
    let slots = (chart.width as usize).min(crate::stats::HISTORY_SLOTS) as i64;
    let minutes = if recorded.is_some() {
        60
    } else {
        slots * crate::stats::SLOT_SECS / 60
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(format!("cpu {minutes}m"), app.theme.muted)),
            Line::from(Span::styled(
                format!("peak {}%", format::percent(peak)),
                app.theme.muted,
            )),
        ]),
        label,
    );
    // Sparkline wants integers: tenths of a percent keep small loads visible.
    let data: Vec<u64> = hist.iter().map(|v| (v * 10.0).round() as u64).collect();
    f.render_widget(
        Sparkline::default().data(&data).style(app.theme.sparkline),
        chart,
    );
}

/// Every line of a replica's page; also sizes its scrolling.
pub fn replica_lines(r: &Replica, app: &App) -> Vec<Line<'static>> {
    let (fleet, theme, now) = (&app.shown_fleet(), &app.theme, app.now);
    let key = |k: &str| Span::styled(format!("{k:<12}"), theme.table_header);
    let text = |s: String| Span::styled(s, theme.text);
    let mut lines = Vec::new();
    let live = fleet
        .live
        .get(&r.id)
        .filter(|l| r.is_running() && l.sample.counters.at.is_some());
    let state = if r.is_running() {
        r.state.to_string()
    } else {
        format!(
            "{} (exit {}{})",
            r.state,
            r.exit_code,
            if r.oom_killed { ", OOM killed" } else { "" }
        )
    };
    let state_style = state_style(app, r);
    lines.push(Line::from(vec![key("name"), text(r.name.clone())]));
    lines.push(Line::from(vec![
        key("id"),
        text(r.id.chars().take(12).collect()),
    ]));
    lines.push(Line::from(vec![key("image"), text(r.image.clone())]));
    lines.push(Line::from(vec![
        key("state"),
        Span::styled(state, state_style),
    ]));
    let hstyle = health_style(app, r.health);
    lines.push(Line::from(vec![
        key("health"),
        Span::styled(format!("{} {}", r.health.symbol(), r.health.word()), hstyle),
    ]));
    // What is wrong, in one line, after the reference's troubleshooting table.
    if let Some(d) = crate::events::diagnose(r, now) {
        lines.push(Line::from(vec![
            key("diagnosis"),
            Span::styled(d, theme.critical),
        ]));
    }
    for (i, p) in r.health_log.iter().rev().enumerate() {
        let when = p
            .start
            .map(|s| format!("{} ago", format::age((now - s).num_seconds())))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            key(if i == 0 { "probes" } else { "" }),
            Span::styled(
                format!("exit {} ", p.exit_code),
                if p.exit_code == 0 {
                    theme.healthy
                } else {
                    theme.critical
                },
            ),
            Span::styled(format!("{when:>8}  "), theme.muted),
            text(p.output.trim().replace('\n', " ⏎ ")),
        ]));
    }
    let started = r
        .started_at
        .map(|s| {
            format!(
                "{} ({} ago)",
                s.with_timezone(&app.local_offset)
                    .format("%Y-%m-%d %H:%M:%S"),
                format::age((now - s).num_seconds())
            )
        })
        .unwrap_or_else(|| "-".into());
    lines.push(Line::from(vec![key("started"), text(started)]));
    lines.push(Line::from(vec![
        key("restarts"),
        text(r.restart_count.to_string()),
    ]));
    lines.push(Line::from(vec![
        key("limits"),
        text(format!(
            "cpus {}  memory {}",
            format::cores(r.cpu_limit),
            r.mem_limit
                .map(|m| format::bytes(m as f64))
                .unwrap_or_else(|| "unlimited".into())
        )),
    ]));
    let usage = match live {
        Some(l) => format!(
            "cpu {}%  mem {} / {}  net ↓{}/s ↑{}/s  blk r {}/s w {}/s  pids {}",
            format::percent(l.sample.cpu_pct),
            format::bytes(l.sample.mem_used as f64),
            format::bytes(l.sample.mem_limit as f64),
            format::rate(l.sample.net_rx_rate),
            format::rate(l.sample.net_tx_rate),
            format::rate(l.sample.blk_read_rate),
            format::rate(l.sample.blk_write_rate),
            l.sample.pids
        ),
        None => "-".into(),
    };
    lines.push(Line::from(vec![key("usage"), text(usage)]));
    for (i, line) in metric_lines(app, Scope::Replica, &r.name, 40)
        .into_iter()
        .enumerate()
    {
        let mut spans = vec![key(if i == 0 { "prometheus" } else { "" })];
        spans.extend(line.spans);
        lines.push(Line::from(spans));
    }
    let p = &r.placement;
    lines.push(Line::from(vec![
        key("placement"),
        text(format!(
            "layer {}  team {}  service {} ({})",
            p.layer.as_deref().unwrap_or("-"),
            p.team.as_deref().unwrap_or("-"),
            p.service.name,
            p.service.kind_word()
        )),
    ]));
    if r.networks.is_empty() {
        lines.push(Line::from(vec![key("networks"), text("-".into())]));
    }
    for (i, n) in r.networks.iter().enumerate() {
        let aliases = if n.aliases.is_empty() {
            String::new()
        } else {
            format!("  aliases {}", n.aliases.join(", "))
        };
        // The network's zone (its `zone` label) and whether it is internal.
        let about = fleet
            .networks
            .iter()
            .find(|net| net.name == n.network)
            .map(|net| {
                let mut parts = Vec::new();
                if let Some(zone) = net.labels.get("zone") {
                    parts.push(format!("zone {zone}"));
                }
                if net.internal {
                    parts.push("internal".to_string());
                }
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", parts.join(", "))
                }
            })
            .unwrap_or_default();
        lines.push(Line::from(vec![
            key(if i == 0 { "networks" } else { "" }),
            text(format!(
                "{} {}{about}{aliases}",
                n.network,
                if n.ip.is_empty() { "-" } else { &n.ip }
            )),
        ]));
    }
    let ports: Vec<String> = r.ports.iter().map(|p| p.to_string()).collect();
    lines.push(Line::from(vec![
        key("ports"),
        text(if ports.is_empty() {
            "-".into()
        } else {
            ports.join(", ")
        }),
    ]));
    for (i, (k, v)) in r.labels.iter().enumerate() {
        lines.push(Line::from(vec![
            key(if i == 0 { "labels" } else { "" }),
            Span::styled(format!("{k}="), theme.muted),
            text(v.clone()),
        ]));
    }
    lines
}

pub fn draw_replica(f: &mut Frame, app: &App, area: Rect, block: Block) {
    let reps = app.replicas();
    let Some(r) = reps.first() else {
        f.render_widget(
            Paragraph::new("This replica is gone (removed from the daemon).")
                .style(app.theme.muted)
                .block(block),
            area,
        );
        return;
    };
    let lines = replica_lines(r, app);
    app.drawn.replica_lines.set(lines.len());
    let inner_h = area.height.saturating_sub(2) as usize;
    let scroll = app
        .frame()
        .selected
        .min(lines.len().saturating_sub(inner_h));
    let title_style = state_style(app, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(block.title_bottom(Span::styled(" ↑↓ scroll ", title_style)))
            .scroll((scroll as u16, 0)),
        area,
    );
}

/// The Swarm service a services-level row stands for, if it is one.
fn swarm_service<'a>(
    app: &'a App,
    r: &crate::fleet::Row,
) -> Option<&'a crate::model::SwarmService> {
    let id = r.service.as_ref()?;
    (id.kind == crate::model::ServiceKind::Swarm)
        .then(|| {
            app.shown_fleet()
                .swarm_services()
                .iter()
                .find(|s| s.name == id.name)
        })
        .flatten()
}

/// `.1 deck-host running  .2 - pending: no suitable node …`: each task's
/// slot, node (its hostname when the manager listed the nodes), state and
/// error.
fn task_spans(app: &App, tasks: &[crate::model::SwarmTask]) -> Vec<Span<'static>> {
    let t = &app.theme;
    let mut spans = vec![Span::styled("tasks ", t.table_header)];
    for task in tasks {
        let node = match app
            .shown_fleet()
            .nodes
            .iter()
            .find(|n| n.id == task.node_id)
        {
            Some(n) => n.hostname.clone(),
            None if task.node_id.is_empty() => "-".into(),
            None => task.node_id.chars().take(10).collect(),
        };
        let style = match task.state.as_str() {
            "running" => t.healthy,
            "failed" | "rejected" | "orphaned" => t.critical,
            _ => t.warning,
        };
        let slot = task.slot.map(|s| format!(".{s} ")).unwrap_or_default();
        spans.push(Span::styled(format!("{slot}{node} "), t.text));
        spans.push(Span::styled(task.state.clone(), style));
        if !task.error.is_empty() {
            spans.push(Span::styled(format!(": {}", task.error), t.critical));
        }
        spans.push(Span::raw("  "));
    }
    spans
}
