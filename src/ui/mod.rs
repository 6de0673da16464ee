//! Drawing: a pure function of `App`. Nothing here changes state.

mod audit;
mod columns;
mod detail;
mod help;
mod incident;
mod logs;
mod nodes;
mod ops;
mod promql;
mod rollouts;
mod tables;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::layout::Screen;
use crate::app::{App, Level, Link, Pane};
use crate::keymap::{Action, Context};

pub use crate::text::{self, truncate};
pub use detail::replica_lines;

/// Below this the layout cannot hold a table: say so instead.
pub use crate::app::layout::{MIN_HEIGHT, MIN_WIDTH};

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    let fleet_view = app.views.view == crate::app::views::View::Fleet;
    let rows = if fleet_view { app.rows() } else { Vec::new() };
    let Some(screen) = app.layout_for(area, &rows) else {
        let msg = format!(
            "terminal too small ({}×{}); agile-deck needs {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        f.render_widget(
            Paragraph::new(msg)
                .wrap(Wrap { trim: true })
                .style(app.theme.warning),
            area,
        );
        return;
    };
    let alerts = screen.alerts;
    let Screen {
        header,
        tabs,
        main,
        detail: detail_area,
        log: log_area,
        journal: journal_area,
        engine: engine_area,
        progress: progress_area,
        footer,
        ..
    } = screen;
    draw_header(f, app, header, alerts);
    draw_tabs(f, app, tabs, &screen.tab_titles);
    draw_main(f, app, &rows, main);
    if detail_area.height > 0 {
        detail::draw_detail(f, app, &rows, detail_area);
    }
    if log_area.height > 0 {
        draw_log(f, app, log_area);
    }
    if journal_area.height > 0 {
        ops::draw_journal(f, app, journal_area);
    }
    if engine_area.height > 0 {
        draw_engine(f, app, engine_area);
    }
    if progress_area.height > 0 {
        ops::draw_progress(f, app, progress_area);
    }
    draw_footer(f, app, footer);
    if let Some(adhoc) = &app.adhoc {
        promql::draw(f, app, adhoc, area);
    }
    if let Some(pending) = &app.ops.pending {
        ops::draw_dialog(f, app, pending, area);
    }
    if app.help.shown() {
        help::draw(f, app, area);
    }
}

fn draw_header(f: &mut Frame, app: &App, area: Rect, alerts: u32) {
    let t = &app.theme;
    let d = app.daemon();
    let width = area.width as usize;
    let clock = format!(
        " {} ",
        app.now.with_timezone(&app.local_offset).format("%H:%M")
    );
    let (status, status_style) = link_status(app);
    // After the daemon's state: alerts until acknowledged, Prometheus
    // trouble, read-only; each one that applies.
    let mut extra = Vec::new();
    if alerts > 0 {
        extra.push(format!(
            "⚠ {alerts} alert{} ({} ack)",
            if alerts == 1 { "" } else { "s" },
            app.keymap.hint(Action::AckAlerts)
        ));
    }
    if !app.ops.interrupted.is_empty() {
        extra.push(format!(
            "⚠ {} interrupted (Rollouts tab)",
            app.ops.interrupted.len()
        ));
    }
    if let Some(e) = app.prom.as_ref().and_then(|p| p.store.trouble.as_ref()) {
        extra.push(format!("✖ prometheus: {e}"));
    }
    // The audit's count, among the details (the status stays for the
    // link, alerts and read-only; it drops before them on a narrow screen).
    let critical = app.audit.count(crate::audit::Severity::Critical);
    let warnings = app.audit.count(crate::audit::Severity::Warning);
    let audit = match (critical, warnings) {
        (0, 0) => None,
        (0, w) => Some(format!("audit: {w} warning")),
        (c, _) => Some(format!("audit: {c} critical")),
    };
    let (status, status_style) = if let Some(label) = app.past_label() {
        (format!("{label} · :at now "), t.warning)
    } else if !status.is_empty() {
        (status, status_style)
    } else if !extra.is_empty() {
        (format!("{} ", extra.join("  ")), t.critical)
    } else if app.ops.read_only {
        ("read-only ".to_string(), t.warning)
    } else {
        (status, status_style)
    };
    // Parts in order of importance; the less important drop on narrow screens.
    let (host_long, host_short) = hosts_parts(app);
    // With several hosts, the Swarm is the one its manager among them
    // lists (the first host may be outside it).
    let manager = app.hosts.several().then(|| app.hosts.manager()).flatten();
    let swarm = match (manager, &d.swarm) {
        (Some(m), _) => format!("swarm: manager {}", app.hosts.name(m)),
        (None, crate::model::SwarmRole::Unknown) => "swarm: ?".to_string(),
        (None, role) => format!("swarm: {role}"),
    };
    let stats = format!("stats: {}", app.engine.path);
    let (running, wanted) = app.shown_fleet().totals();
    let running = format!("{running}/{wanted} running");
    let prom = app.prom.as_ref().map(|p| {
        format!(
            "prometheus {}",
            p.url
                .trim_start_matches("http://")
                .trim_start_matches("https://")
        )
    });
    let version = (!d.server_version.is_empty()).then(|| format!("docker {}", d.server_version));
    // Each candidate: the parts that apply, in order.
    fn parts<'a>(ps: &[Option<&'a str>]) -> Vec<&'a str> {
        ps.iter().flatten().copied().collect()
    }
    let (host_long, host_short, swarm, running) = (
        Some(host_long.as_str()),
        Some(host_short.as_str()),
        Some(swarm.as_str()),
        Some(running.as_str()),
    );
    let stats = (!app.engine.path.is_empty()).then_some(stats.as_str());
    let audit = audit.as_deref();
    let candidates: Vec<Vec<&str>> = vec![
        parts(&[
            host_long,
            version.as_deref(),
            swarm,
            stats,
            prom.as_deref(),
            running,
            audit,
        ]),
        parts(&[host_long, swarm, running, audit]),
        parts(&[host_short, swarm, running, audit]),
        parts(&[host_short, running, audit]),
        parts(&[host_short, running]),
        parts(&[host_short]),
    ];
    // A broken link matters more than the details on the left (its
    // start, at least, is kept); why an agent cannot be used is kept
    // whole, up to half the line: it says the fix.
    let status_min = if status.is_empty() {
        0
    } else if status.starts_with(AGENT_WORD) || app.past.is_some() {
        text::width(&status).min(width / 2)
    } else {
        text::width("✖ daemon unreachable ")
    };

    let room = width.saturating_sub(text::width(&clock) + 1 + status_min);
    let compose = |parts: &[&str]| format!(" agile-deck ─ {}", parts.join(" ─ "));
    let left = candidates
        .iter()
        .map(|c| compose(c))
        .find(|l| text::width(l) < room)
        .unwrap_or_else(|| " agile-deck".into());
    let status = truncate(
        &status,
        width.saturating_sub(text::width(&left) + text::width(&clock) + 1),
    );
    let pad = width.saturating_sub(text::width(&left) + text::width(&status) + text::width(&clock));
    let line = Line::from(vec![
        Span::styled(left, t.header),
        Span::styled(" ".repeat(pad), t.header),
        Span::styled(status, status_style),
        Span::styled(clock, t.header),
    ]);
    f.render_widget(
        Paragraph::new(truncate_line(line, width)).style(t.header),
        area,
    );
}

/// How the header's status starts when an agent cannot be used.
const AGENT_WORD: &str = "agent: ";

/// What the link to the daemons says at the header's right: nothing when
/// every host answers.
fn link_status(app: &App) -> (String, ratatui::style::Style) {
    let t = &app.theme;
    // Why an agent cannot be used, when nothing is lost.
    let unusable = || {
        app.hosts
            .iter()
            .find_map(|(_, h)| h.agent_unusable())
            .map_or((String::new(), t.header), |why| {
                (format!("{AGENT_WORD}{why} "), t.warning)
            })
    };
    if !app.hosts.several() {
        let h = app.hosts.first();
        return match (&h.link, h.trouble()) {
            (Link::Connecting, _) => ("connecting… ".to_string(), t.header),
            (Link::Down { error, .. }, _) => {
                (format!("✖ daemon unreachable: {error} "), t.critical)
            }
            (Link::Up, Some((error, _))) => (format!("✖ {error} "), t.critical),
            (Link::Up, None) => unusable(),
        };
    }
    // (name, error, since) of each lost host.
    let lost: Vec<(&str, String, chrono::DateTime<chrono::Utc>)> = app
        .hosts
        .iter()
        .filter_map(|(_, h)| h.trouble().map(|(e, since)| (h.name.as_str(), e, since)))
        .collect();
    match &lost[..] {
        [] => unusable(),
        [(name, error, since), rest @ ..] => {
            let more = if rest.is_empty() {
                String::new()
            } else {
                format!(" (+{} more)", rest.len())
            };
            let since = since.with_timezone(&app.local_offset).format("%H:%M:%S");
            (
                format!("✖ {name} lost since {since}{more}: {error} "),
                t.critical,
            )
        }
    }
}

/// The header's host part, long and short. One host: its label and name.
/// Several: each with its state, or the count up (`hosts 2/3`); a focus
/// (`:host NAME`) says which.
fn hosts_parts(app: &App) -> (String, String) {
    let hosts = &app.hosts;
    if !hosts.several() {
        let h = hosts.first();
        return (h.label(), h.name.clone());
    }
    let count = format!("hosts {}/{}", hosts.up_count(), hosts.len());
    if let Some(f) = app.shown_fleet().focus() {
        let focus = format!("host {} ({count})", hosts.name(f));
        return (focus.clone(), focus);
    }
    let each: Vec<String> = hosts
        .iter()
        .map(|(_, h)| match (&h.link, h.trouble()) {
            (Link::Connecting, _) => format!("{} …", h.name),
            (_, Some((_, since))) => format!(
                "{} ✖ {}",
                h.name,
                since.with_timezone(&app.local_offset).format("%H:%M:%S")
            ),
            (_, None) => format!("{} ●", h.name),
        })
        .collect();
    (format!("{count}: {}", each.join(" ")), count)
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect, titles: &[(String, std::ops::Range<u16>)]) {
    let t = &app.theme;
    let mut spans = vec![Span::raw(" ")];
    let active = app.tab_index();
    for (i, (title, _)) in titles.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", t.muted));
        }
        let style = if i == active { t.tab_active } else { t.tab };
        spans.push(Span::styled(title.clone(), style));
    }
    if app.show_log {
        spans.push(Span::styled(" │ ", t.muted));
        spans.push(Span::styled(" Log ", t.tab_active));
    }
    // Breadcrumb of the drill-down.
    let crumbs: Vec<String> = if app.views.view != crate::app::views::View::Fleet {
        Vec::new()
    } else {
        app.stack()
            .iter()
            .filter_map(|fr| match &fr.level {
                Level::Groups => None,
                Level::Services { group } => Some(group.clone()),
                Level::Replicas { service, .. } => Some(service.name.clone()),
                Level::Replica { id, .. } => {
                    app.shown_fleet().replicas.get(id).map(|r| r.name.clone())
                }
            })
            .collect()
    };
    if !crumbs.is_empty() {
        spans.push(Span::styled(
            format!("   › {}", crumbs.join(" › ")),
            t.title,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_main(f: &mut Frame, app: &App, rows: &[crate::fleet::Row], area: Rect) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(format!(" {} ", main_title(app)), t.title));
    if !app.listed() {
        let msg = match &app.hosts.first().link {
            Link::Down { error, .. } => format!("Cannot list containers: {error}"),
            _ => "Loading the inventory…".to_string(),
        };
        f.render_widget(Paragraph::new(msg).style(t.muted).block(block), area);
        return;
    }
    // Nothing to list at all: say how to get something. Not in the other
    // views, and not on a Swarm manager whose services run elsewhere.
    if app.shown_fleet().replicas.is_empty()
        && app.shown_fleet().swarm_services().is_empty()
        && app.views.view == crate::app::views::View::Fleet
    {
        let msg = vec![
            Line::from("No containers on this daemon."),
            Line::from(""),
            Line::from("Start the demo deployment of the reference architecture with"),
            Line::from(Span::styled("  agile-deck demo up", t.key)),
            Line::from("(or run agile-deck --demo); it appears here as it starts."),
        ];
        f.render_widget(Paragraph::new(msg).style(t.text).block(block), area);
        return;
    }
    match app.views.view {
        crate::app::views::View::Events => return incident::draw_events(f, app, area),
        crate::app::views::View::Networks => return incident::draw_networks(f, app, area),
        crate::app::views::View::Logs => return logs::draw(f, app, area),
        crate::app::views::View::Rollouts => return rollouts::draw(f, app, area),
        crate::app::views::View::Nodes => return nodes::draw(f, app, area),
        crate::app::views::View::Audit => return audit::draw(f, app, area),
        crate::app::views::View::Fleet => {}
    }
    match &app.frame().level {
        Level::Groups | Level::Services { .. } => tables::draw_rows(f, app, rows, area, block),
        Level::Replicas { .. } => tables::draw_replicas(f, app, area, block),
        Level::Replica { .. } => detail::draw_replica(f, app, area, block),
    }
}

fn main_title(app: &App) -> String {
    let mut title = level_title(app);
    if let Some(f) = &app.filter {
        title += &format!(" [filter: {}] (Esc clears)", f.text);
    }
    let (by, desc) = app.sort;
    if by != crate::filter::SortBy::Name || desc {
        title += &format!(" {}{}", if desc { "▼" } else { "▲" }, by.word());
    }
    title
}

fn level_title(app: &App) -> String {
    match &app.frame().level {
        Level::Groups => match app.pane {
            Pane::Layers => "layers".to_string(),
            Pane::Teams => "agent teams".to_string(),
        },
        Level::Services { group } => format!("{group}: services"),
        Level::Replicas { service, .. } => {
            format!("{} ({}): replicas", service.name, service.kind_word())
        }
        Level::Replica { id, .. } => app
            .shown_fleet()
            .replicas
            .get(id)
            .map(|r| format!("replica {}", r.name))
            .unwrap_or_else(|| "replica gone".into()),
    }
}

fn draw_log(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let widget = tui_logger::TuiLoggerWidget::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border)
                .title(Span::styled(" agile-deck log ", t.title)),
        )
        .style_error(t.critical)
        .style_warn(t.warning)
        .style_info(t.text)
        .style_debug(t.muted)
        .style_trace(t.muted)
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".to_string()))
        .output_level(Some(tui_logger::TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false);
    f.render_widget(widget, area);
}

/// The stats engine in use and what it costs.
/// The engine line: agile-deck's own cost first (the point of it), then
/// the path and what it reads; on a narrow terminal the words shorten
/// before anything is cut.
fn draw_engine(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let e = &app.engine;
    let width = area.width as usize;
    let cost = if e.rss_bytes == 0 {
        "agile-deck: measuring…".to_string()
    } else {
        format!(
            "agile-deck {:.1}% CPU, {} RSS",
            e.cpu_pct,
            crate::format::bytes(e.rss_bytes as f64)
        )
    };
    let long = format!(
        " · stats engine: {} · {} read from cgroups · {} Docker streams · {:.0} samples/s",
        e.path, e.direct, e.streams, e.samples_per_sec
    );
    let short = format!(
        " · {} · {} cgroup · {} streams · {:.0}/s",
        e.path, e.direct, e.streams, e.samples_per_sec
    );
    // Each host's share, when there are several: path, files read, streams.
    let hosts: String = e
        .hosts
        .iter()
        .map(|(name, path, direct, streams)| format!(" · {name} {path} {direct}+{streams}"))
        .collect();
    // What the agents send, when some host has one.
    let wire = if e.wire_bytes > 0 {
        format!(" · agents {}/s", crate::format::bytes(e.wire_per_sec))
    } else {
        String::new()
    };
    // The recorder's store, when this process records.
    let (history_long, history_short) = match &app.recording {
        Some(r) => {
            let size = crate::format::bytes(r.size as f64);
            let trouble = match (&r.error, r.dropped) {
                (Some(e), _) => format!(" ✖ {e}"),
                (None, 0) => String::new(),
                (None, n) => format!(", {n} dropped"),
            };
            (
                format!(" · history {size}, {} frames{trouble}", r.written.frames),
                format!(" · hist {size}{trouble}"),
            )
        }
        None => (String::new(), String::new()),
    };
    let long = format!("{long}{wire}{hosts}");
    let short = format!("{short}{wire}");
    let fits = |rest: &str| 1 + text::width(&cost) + text::width(rest) <= width;
    let rest = if fits(&long) { long } else { short };
    // The store's part only where it fits: the engine's words come first.
    let rest = [history_long, history_short]
        .into_iter()
        .map(|h| format!("{rest}{h}"))
        .find(|r| fits(r))
        .unwrap_or(rest);
    let line = Line::from(vec![
        Span::raw(" "),
        Span::styled(cost, t.key),
        Span::styled(rest, t.text),
    ]);
    f.render_widget(Paragraph::new(truncate_line(line, width)), area);
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let km = &app.keymap;
    if let Some(typed) = app.prompt.text() {
        // Keep the end of a long line in view: that is where one types.
        let width = area.width as usize;
        let shown = text::tail(typed, width.saturating_sub(3)).to_string();
        let mut spans = vec![
            Span::styled(":", t.key),
            Span::styled(shown, t.text),
            Span::styled("█", t.key),
        ];
        // Completion choices and the like, after the cursor.
        if let Some(msg) = &app.flash {
            spans.push(Span::styled(format!("   {msg}"), t.muted));
        }
        let line = truncate_line(Line::from(spans), width);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(msg) = &app.flash {
        f.render_widget(
            Paragraph::new(Span::styled(
                truncate(&format!(" {msg}"), area.width as usize),
                t.warning,
            )),
            area,
        );
        return;
    }
    let mut hints = vec![];
    if app.views.view == crate::app::views::View::Rollouts {
        if !app.ops.read_only {
            hints.extend([
                (km.hint(Action::RolloutPause), "pause"),
                (km.hint(Action::RolloutResume), "resume"),
                (km.hint(Action::RolloutBack), "roll back"),
                (km.hint(Action::RolloutAbort), "abort"),
                (km.hint(Action::Switch), "switch"),
                (km.hint(Action::Retire), "retire"),
            ]);
        }
    } else if app.views.view == crate::app::views::View::Audit {
        hints.push((km.hint(Action::Enter), "open"));
        if !app.ops.read_only {
            hints.push((km.hint(Action::FixFinding), "fix"));
        }
        hints.push((km.hint(Action::Filter), "filter"));
        hints.push((km.hint(Action::SortNext), "order"));
    } else if app.views.view == crate::app::views::View::Nodes {
        if !app.ops.read_only {
            hints.extend([
                (km.hint(Action::StopOp), "drain"),
                (km.hint(Action::StartOp), "activate"),
                (km.hint(Action::Undo), "undo"),
            ]);
        }
    } else {
        match app.frame().level {
            Level::Replica { .. } => {}
            _ => hints.push((km.hint(Action::Enter), "drill")),
        }
        if app.stack().len() > 1 {
            hints.push((km.hint(Action::Back), "back"));
        }
        if !app.ops.read_only {
            hints.push((km.hint(Action::Scale), "scale"));
            hints.push((km.hint(Action::Resize), "resize"));
            hints.push((km.hint(Action::Rollout), "rollout"));
        }
    }
    if app.prom.is_some() {
        hints.push((km.hint(Action::PromQL), "promql"));
    }
    hints.extend([
        (km.hint(Action::NextPane), "pane"),
        (km.hint(Action::ToggleLog), "log"),
        (km.hint(Action::Help), "help"),
        (km.hint(Action::Quit), "quit"),
    ]);
    // Help and quit always show: the hints before them go first, from the
    // last, until the rest fit.
    let width_of = |h: &[(String, &str)]| -> usize {
        1 + h
            .iter()
            .map(|(k, w)| text::width(k) + text::width(w) + 3)
            .sum::<usize>()
    };
    while hints.len() > 2 && width_of(&hints) > area.width as usize + 2 {
        hints.remove(hints.len() - 3);
    }
    let mut spans = vec![Span::raw(" ")];
    for (k, what) in hints {
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {what}  "), t.muted));
    }
    f.render_widget(
        Paragraph::new(truncate_line(Line::from(spans), area.width as usize)),
        area,
    );
}

/// Cut a styled line to `width` cells.
fn truncate_line(line: Line<'_>, width: usize) -> Line<'_> {
    let mut left = width;
    let mut spans = Vec::new();
    for s in line.spans {
        if left == 0 {
            break;
        }
        let n = text::width(&s.content);
        if n <= left {
            left -= n;
            spans.push(s);
        } else {
            spans.push(Span::styled(truncate(&s.content, left), s.style));
            left = 0;
        }
    }
    Line::from(spans)
}

/// Style of a health state.
/// A Prometheus figure's style by its thresholds.
pub fn metric_style(app: &App, level: crate::metrics::Level) -> Style {
    use crate::metrics::Level;
    match level {
        Level::Normal => app.theme.text,
        Level::Warning => app.theme.warning,
        Level::Critical => app.theme.critical,
    }
}

pub fn health_style(app: &App, h: crate::model::Health) -> Style {
    use crate::model::Health::*;
    match h {
        Healthy => app.theme.healthy,
        Starting => app.theme.warning,
        Unhealthy => app.theme.critical,
        NoCheck => app.theme.muted,
    }
}
