//! The tables: layers / teams / services rows and replica rows. Columns
//! have a priority; on a narrow terminal the least important ones drop.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row as TableRow, Table, TableState};

use super::{health_style, metric_style, text};
use crate::app::{App, Level};
use crate::filter::SortBy;
use crate::fleet::{Figures, HealthCounts, Row};
use crate::format;
use crate::metrics::{CellKey, Reading, Scope};
use crate::model::{Health, Replica, State};
use strum::IntoEnumIterator;

/// A column: header, width (0 = takes the rest, at least `min`), priority
/// (0 is kept first), alignment, and what it shows.
struct Col<C> {
    title: String,
    width: u16,
    prio: u8,
    right: bool,
    shows: Shows<C>,
}

/// A built-in column of the table (`GroupCol`, `ReplicaCol`) or a topology
/// metric (by index).
#[derive(Clone, Copy)]
enum Shows<C> {
    Builtin(C),
    Metric(usize),
    /// The scaling policy's advice (team and service rows).
    Advice,
}

impl<C> Col<C> {
    /// A built-in column from its (header, width, priority, right-aligned).
    fn builtin(c: C, (title, width, prio, right): (&str, u16, u8, bool)) -> Col<C> {
        Col {
            title: title.to_string(),
            width,
            prio,
            right,
            shows: Shows::Builtin(c),
        }
    }
}

/// The built-in columns of the layer, team and service tables, in display
/// order: one per order the rows sort by (its sort key), then the CPU
/// history, which takes the width left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupCol {
    /// SVC on layers and teams (KIND on services) under `By(SortBy::Services)`.
    By(SortBy),
    History,
}

impl GroupCol {
    fn all() -> impl Iterator<Item = GroupCol> {
        SortBy::ALL
            .into_iter()
            .map(GroupCol::By)
            .chain([GroupCol::History])
    }

    /// Its header, width, priority and alignment on the services level or
    /// not, the name column being `name` wide under `first`.
    fn col(self, services_level: bool, first: &str, name: u16) -> Col<GroupCol> {
        let spec = match self {
            GroupCol::By(SortBy::Name) => (first, name, 0, false),
            GroupCol::By(SortBy::Services) if services_level => ("KIND", 7, 6, true),
            GroupCol::By(SortBy::Services) => ("SVC", 4, 6, false),
            GroupCol::By(SortBy::Running) => ("RUN/WANT", 8, 1, true),
            GroupCol::By(SortBy::Health) => ("HEALTH", 12, 2, false),
            GroupCol::By(SortBy::Cpu) => ("CPU%", 7, 1, true),
            GroupCol::By(SortBy::Memory) => ("MEM use/lim", 13, 3, true),
            GroupCol::By(SortBy::Net) => ("NET rx/tx/s", 13, 5, true),
            GroupCol::By(SortBy::Block) => ("BLK r/w/s", 13, 7, true),
            GroupCol::By(SortBy::Pids) => ("PIDS", 5, 6, true),
            GroupCol::History => ("CPU history", 0, 4, false),
        };
        Col::builtin(self, spec)
    }
}

/// The built-in columns of the replica table, in display order; the last
/// one takes the width left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter)]
enum ReplicaCol {
    Name,
    /// Only with several hosts.
    Host,
    State,
    Health,
    Up,
    Restarts,
    Cpu,
    Memory,
    Limits,
    Net,
    Pids,
    Image,
}

impl ReplicaCol {
    /// `name`, `host` and `state`: the widths that depend on what is shown.
    fn col(self, name: u16, host: u16, state: u16) -> Col<ReplicaCol> {
        let spec = match self {
            ReplicaCol::Name => ("NAME", name, 0, false),
            ReplicaCol::Host => ("HOST", host, 1, false),
            ReplicaCol::State => ("STATE", state, 1, false),
            ReplicaCol::Health => ("HEALTH", 11, 1, false),
            ReplicaCol::Up => ("UP", 7, 3, true),
            ReplicaCol::Restarts => ("RST", 4, 4, true),
            ReplicaCol::Cpu => ("CPU%", 6, 1, true),
            ReplicaCol::Memory => ("MEM", 13, 2, true),
            ReplicaCol::Limits => ("LIMITS", 11, 5, true),
            ReplicaCol::Net => ("NET rx/tx/s", 13, 6, true),
            ReplicaCol::Pids => ("PIDS", 5, 6, true),
            ReplicaCol::Image => ("IMAGE", 0, 7, false),
        };
        Col::builtin(self, spec)
    }
}

/// Insert the metric columns of `scope` before the last built-in column
/// (the flexible history or image column).
fn with_metrics<C>(app: &App, mut cols: Vec<Col<C>>, scope: Scope) -> Vec<Col<C>> {
    if app.prom.is_none() {
        return cols;
    }
    let last = cols.pop();
    for (i, m) in app.shown_fleet().topology.metrics.iter().enumerate() {
        if m.scope == scope {
            cols.push(Col {
                title: m.name.clone(),
                width: (text::width(&m.name) as u16).max(7),
                prio: 3,
                right: true,
                shows: Shows::Metric(i),
            });
        }
    }
    cols.extend(last);
    cols
}

/// A metric cell: its value in the metric's unit and threshold style, or
/// why there is none.
fn metric_cell(app: &App, scope: Scope, row: &str, metric: usize, w: u16) -> Cell<'static> {
    let t = &app.theme;
    let Some(prom) = &app.prom else {
        return cell(String::new(), true, w, t.muted);
    };
    let m = &app.shown_fleet().topology.metrics[metric];
    let ungrouped = matches!(scope, Scope::Layer | Scope::Team) && row == crate::fleet::UNGROUPED;
    if !m.applies_to(scope, row) || ungrouped {
        return cell(String::new(), true, w, t.muted);
    }
    if let Some(past) = &app.past {
        return match past.metrics.get(&(row.to_string(), m.name.clone())) {
            Some(v) => cell(m.format(*v), true, w, metric_style(app, m.level(*v))),
            None => cell("-".into(), true, w, t.muted),
        };
    }
    let key = CellKey {
        scope,
        row: row.to_string(),
        metric,
    };
    let (text, style) = match prom.store.cells.get(&key) {
        None => ("…".to_string(), t.muted),
        Some(Ok(Reading::Value { value, .. })) => {
            (m.format(*value), metric_style(app, m.level(*value)))
        }
        Some(Ok(Reading::NoData)) => ("-".to_string(), t.muted),
        Some(Ok(Reading::Many(n))) => (format!("{n} series"), t.warning),
        Some(Ok(Reading::NotANumber(_))) => ("?".to_string(), t.warning),
        Some(Err(e)) => (e.short(), t.critical),
    };
    cell(text, true, w, style)
}

/// Width of a name column: the longest name, within [min, 40].
fn name_width<'a>(names: impl Iterator<Item = &'a str>, title: &str, min: u16) -> u16 {
    let longest = names.map(text::width).max().unwrap_or(0).max(title.len());
    (longest as u16).clamp(min, 40)
}

/// Minimum width of the flexible column.
const FLEX_MIN: u16 = 10;

fn cell(s: String, right: bool, width: u16, style: Style) -> Cell<'static> {
    let s = text::truncate(&s, width as usize);
    let s = if right {
        text::pad(&s, width as usize, true)
    } else {
        s
    };
    Cell::from(Span::styled(s, style))
}

fn health_cell(app: &App, h: &HealthCounts) -> Cell<'static> {
    let mut spans = Vec::new();
    for (n, state) in [
        (h.healthy, Health::Healthy),
        (h.starting, Health::Starting),
        (h.unhealthy, Health::Unhealthy),
        (h.no_check, Health::NoCheck),
    ] {
        if n > 0 {
            if !spans.is_empty() {
                spans.push(Span::raw(" "));
            }
            spans.push(Span::styled(
                format!("{}{n}", state.symbol()),
                health_style(app, state),
            ));
        }
    }
    if spans.is_empty() {
        spans.push(Span::styled("-", app.theme.muted));
    }
    Cell::from(Line::from(spans))
}

/// CPU text, with `~` when only part of the running replicas have figures.
fn cpu_text(f: &Figures, running: usize) -> String {
    if f.sampled == 0 {
        return if running == 0 {
            "-".into()
        } else {
            "…".into()
        };
    }
    let partial = if f.sampled < running { "~" } else { "" };
    format!("{}{partial}", format::percent(f.cpu_pct))
}

fn mem_text(used: u64, limit: u64) -> String {
    if limit == 0 {
        format::bytes(used as f64)
    } else {
        format!(
            "{}/{}",
            format::bytes(used as f64),
            format::bytes(limit as f64)
        )
    }
}

fn mem_style(app: &App, used: u64, limit: u64) -> Style {
    if limit > 0 && used as f64 >= limit as f64 * 0.9 {
        app.theme.critical
    } else if limit > 0 && used as f64 >= limit as f64 * 0.75 {
        app.theme.warning
    } else {
        app.theme.text
    }
}

fn pair(a: f64, b: f64) -> String {
    format!("{}/{}", format::rate(a), format::rate(b))
}

pub fn draw_rows(f: &mut Frame, app: &App, rows: &[Row], area: Rect, block: Block) {
    let services_level = matches!(app.frame().level, Level::Services { .. });
    let first = match (services_level, app.pane) {
        (true, _) => "SERVICE",
        (false, crate::app::Pane::Layers) => "LAYER",
        (false, crate::app::Pane::Teams) => "TEAM",
    };
    let name_w = name_width(
        rows.iter().map(|r| r.name.as_str()),
        first,
        if services_level { 16 } else { 12 },
    );
    let cols = GroupCol::all()
        .map(|c| c.col(services_level, first, name_w))
        .collect();
    let scope = app.prom_scope();
    let mut cols = with_metrics(app, cols, scope);
    if matches!(scope, Scope::Team | Scope::Service)
        && !app.shown_fleet().topology.policies.is_empty()
    {
        let history = cols.pop();
        cols.push(Col {
            title: "ADVICE".into(),
            width: 8,
            prio: 3,
            right: true,
            shows: Shows::Advice,
        });
        cols.extend(history);
    }
    render_table(
        f,
        app,
        area,
        block,
        &cols,
        rows,
        |r, shows, w, right| match shows {
            Shows::Builtin(c) => row_cell(app, r, c, w, right, services_level),
            Shows::Metric(m) => metric_cell(app, scope, &r.name, m, w),
            Shows::Advice => match app.advice(r) {
                Some((_, a)) => match a.to {
                    Some(to) => cell(format!("{}→{to}", r.running), right, w, app.theme.warning),
                    None => cell("·".into(), right, w, app.theme.muted),
                },
                None => cell(String::new(), right, w, app.theme.muted),
            },
        },
    );
}

fn row_cell(
    app: &App,
    r: &Row,
    col: GroupCol,
    w: u16,
    right: bool,
    services_level: bool,
) -> Cell<'static> {
    let t = &app.theme;
    let fig = &r.figures;
    let empty = r.replicas.is_empty();
    let style = if empty { t.muted } else { t.text };
    match col {
        GroupCol::By(SortBy::Name) => cell(
            r.name.clone(),
            right,
            w,
            if empty { t.muted } else { t.title },
        ),
        GroupCol::By(SortBy::Services) if services_level => cell(
            r.service
                .as_ref()
                .map(|s| s.kind_word())
                .unwrap_or("")
                .to_string(),
            right,
            w,
            t.muted,
        ),
        GroupCol::By(SortBy::Services) => cell(r.services.to_string(), right, w, style),
        GroupCol::By(SortBy::Running) => {
            let s = if r.running < r.wanted {
                t.warning
            } else {
                style
            };
            let text = format!(
                "{}/{}{}",
                r.running,
                r.wanted,
                if r.running < r.wanted { "!" } else { "" }
            );
            cell(text, right, w, s)
        }
        // Tasks Swarm cannot place: say so where health would be, at any width.
        GroupCol::By(SortBy::Health) => match pending_of(app, r) {
            Some(_) if r.running == 0 => cell("✖ pending".into(), right, w, t.warning),
            Some(_) => cell(format!("{} +pending", r.running), right, w, t.warning),
            None => health_cell(app, &r.health),
        },
        GroupCol::By(SortBy::Cpu) => {
            let hot = r
                .cpu_limit
                .is_some_and(|l| fig.sampled > 0 && fig.cpu_pct >= l * 90.0);
            let text = cpu_text(fig, r.running) + if hot { "!" } else { "" };
            cell(text, right, w, if hot { t.critical } else { style })
        }
        GroupCol::By(SortBy::Memory) => cell(
            if fig.sampled == 0 {
                "-".into()
            } else {
                mem_text(fig.mem_used, fig.mem_limit)
            },
            right,
            w,
            mem_style(app, fig.mem_used, fig.mem_limit),
        ),
        GroupCol::By(SortBy::Net) => cell(
            if fig.sampled == 0 {
                "-".into()
            } else {
                pair(fig.net_rx_rate, fig.net_tx_rate)
            },
            right,
            w,
            style,
        ),
        GroupCol::By(SortBy::Block) => cell(
            if fig.sampled == 0 {
                "-".into()
            } else {
                pair(fig.blk_read_rate, fig.blk_write_rate)
            },
            right,
            w,
            style,
        ),
        GroupCol::By(SortBy::Pids) => cell(
            if fig.sampled == 0 {
                "-".into()
            } else {
                fig.pids.to_string()
            },
            right,
            w,
            style,
        ),
        GroupCol::History => match pending_of(app, r) {
            // A Swarm service whose tasks Swarm cannot place: its reason, on
            // the row itself, where the history would be.
            Some(why) => cell(why.to_string(), right, w, t.warning),
            None => {
                let hist = app
                    .shown_fleet()
                    .cpu_history(&r.replicas, w as usize, app.shown_now());
                // Against the CPU limit when every replica has one: a bar shows
                // how close to its ceiling a row runs, not just its own ups and downs.
                let ceiling = r.cpu_limit.filter(|l| *l > 0.0).map(|l| l * 100.0);
                Cell::from(Span::styled(format::sparkline(&hist, ceiling), t.sparkline))
            }
        },
    }
}

/// Swarm's reason a service row's tasks do not run (`no suitable node
/// (…)`), if it gives one.
fn pending_of<'a>(app: &'a App, r: &Row) -> Option<&'a str> {
    let service = r.service.as_ref()?;
    app.shown_fleet()
        .swarm_services()
        .iter()
        .find(|s| s.placement.service == *service)?
        .stuck()
}

pub fn draw_replicas(f: &mut Frame, app: &App, area: Rect, block: Block) {
    let reps = app.replicas();
    let inner = area.width.saturating_sub(2);
    // Long replica names differ at the end: on narrow screens they are cut
    // in the middle (see `cell`), in a narrower column.
    let name_w = name_width(reps.iter().map(|r| r.name.as_str()), "NAME", 16).min(if inner < 100 {
        24
    } else {
        40
    });
    let host_w = name_width(reps.iter().map(|r| app.hosts.name(r.host)), "HOST", 4);
    // "stale 03:12:05" where a replica's host is lost.
    let stale = reps
        .iter()
        .any(|r| app.hosts.get(r.host).stale_since().is_some());
    let state_w = if stale { 14 } else { 10 };
    let cols = ReplicaCol::iter()
        .filter(|c| *c != ReplicaCol::Host || app.hosts.several())
        .map(|c| c.col(name_w, host_w, state_w))
        .collect();
    let cols = with_metrics(app, cols, Scope::Replica);
    render_table(
        f,
        app,
        area,
        block,
        &cols,
        &reps,
        |r, shows, w, right| match shows {
            Shows::Builtin(c) => replica_cell(app, r, c, w, right),
            Shows::Metric(m) => metric_cell(app, Scope::Replica, &r.name, m, w),
            Shows::Advice => cell(String::new(), right, w, app.theme.muted),
        },
    );
}

/// Fit the columns into the area (dropping the least important) and render
/// one row per item; `cell_of(item, what the column shows, width, right-aligned)`.
fn render_table<T, C: Copy>(
    f: &mut Frame,
    app: &App,
    area: Rect,
    block: Block,
    cols: &[Col<C>],
    items: &[T],
    cell_of: impl Fn(&T, Shows<C>, u16, bool) -> Cell<'static>,
) {
    let t = &app.theme;
    let inner = area.width.saturating_sub(2);
    let specs: Vec<(u16, u8)> = cols.iter().map(|c| (c.width, c.prio)).collect();
    let fitted = super::columns::fit(&specs, inner, FLEX_MIN);
    let kept = &fitted.kept;
    let width_of = |i: usize| fitted.width_of(i).unwrap_or(0);
    let body: Vec<TableRow> = items
        .iter()
        .map(|item| {
            TableRow::new(
                kept.iter()
                    .map(|i| cell_of(item, cols[*i].shows, width_of(*i), cols[*i].right))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let header = TableRow::new(
        kept.iter()
            .map(|i| {
                cell(
                    cols[*i].title.clone(),
                    cols[*i].right,
                    width_of(*i),
                    t.table_header,
                )
            })
            .collect::<Vec<_>>(),
    );
    let table = Table::new(body, fitted.constraints())
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selection);
    let selected = (!items.is_empty()).then_some(app.frame().selected);
    f.render_stateful_widget(
        table,
        area,
        &mut TableState::default().with_selected(selected),
    );
}

pub fn state_style(app: &App, r: &Replica) -> Style {
    match r.state {
        State::Running => app.theme.healthy,
        State::Restarting | State::Paused | State::Created => app.theme.warning,
        _ => app.theme.critical,
    }
}

/// Uptime of a running replica, or how long ago it stopped.
pub fn uptime(app: &App, r: &Replica) -> String {
    if r.is_running() {
        r.started_at
            .map(|s| format::age((app.now - s).num_seconds()))
            .unwrap_or_else(|| "-".into())
    } else {
        "-".into()
    }
}

fn replica_cell(app: &App, r: &Replica, col: ReplicaCol, w: u16, right: bool) -> Cell<'static> {
    let t = &app.theme;
    let live = app
        .shown_fleet()
        .live
        .get(&r.id)
        .filter(|l| r.is_running() && l.sample.counters.at.is_some());
    let dash = || "-".to_string();
    match col {
        ReplicaCol::Name => Cell::from(Span::styled(
            text::truncate_name(&r.name, w as usize),
            t.title,
        )),
        ReplicaCol::Host => cell(app.hosts.name(r.host).to_string(), right, w, t.text),
        ReplicaCol::State => match app.hosts.get(r.host).stale_since() {
            // Its host is lost: what it was is all that is known, since then.
            Some(since) => cell(
                format!(
                    "stale {}",
                    since.with_timezone(&app.local_offset).format("%H:%M:%S")
                ),
                right,
                w,
                t.warning,
            ),
            None => {
                let text = if r.is_running() || r.state == State::Created {
                    r.state.to_string()
                } else {
                    format!("{} {}", r.state, r.exit_code)
                };
                cell(text, right, w, state_style(app, r))
            }
        },
        // A stopped container's last health is stale: do not show it.
        ReplicaCol::Health if !r.is_running() => cell("-".into(), right, w, t.muted),
        ReplicaCol::Health => cell(
            format!("{} {}", r.health.symbol(), r.health.word()),
            right,
            w,
            health_style(app, r.health),
        ),
        ReplicaCol::Up => cell(uptime(app, r), right, w, t.text),
        ReplicaCol::Restarts => cell(
            r.restart_count.to_string(),
            right,
            w,
            if r.restart_count > 0 {
                t.warning
            } else {
                t.text
            },
        ),
        ReplicaCol::Cpu => {
            let hot =
                live.is_some_and(|l| r.cpu_limit.is_some_and(|c| l.sample.cpu_pct >= c * 90.0));
            let text = live
                .map(|l| format::percent(l.sample.cpu_pct) + if hot { "!" } else { "" })
                .unwrap_or_else(dash);
            cell(text, right, w, if hot { t.critical } else { t.text })
        }
        ReplicaCol::Memory => match live {
            Some(l) => cell(
                mem_text(l.sample.mem_used, l.sample.mem_limit),
                right,
                w,
                mem_style(app, l.sample.mem_used, l.sample.mem_limit),
            ),
            None => cell(dash(), right, w, t.muted),
        },
        ReplicaCol::Limits => cell(
            format!(
                "{}/{}",
                format::cores(r.cpu_limit),
                r.mem_limit
                    .map(|m| format::bytes(m as f64))
                    .unwrap_or_else(dash)
            ),
            right,
            w,
            t.text,
        ),
        ReplicaCol::Net => cell(
            live.map(|l| pair(l.sample.net_rx_rate, l.sample.net_tx_rate))
                .unwrap_or_else(dash),
            right,
            w,
            t.text,
        ),
        ReplicaCol::Pids => cell(
            live.map(|l| l.sample.pids.to_string()).unwrap_or_else(dash),
            right,
            w,
            t.text,
        ),
        ReplicaCol::Image => cell(r.image.clone(), right, w, t.muted),
    }
}
