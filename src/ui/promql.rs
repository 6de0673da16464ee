//! The ad-hoc PromQL overlay (`:promql EXPR`): a table of series for an
//! instant vector, a chart for a range, a line for a scalar or a string,
//! the error otherwise.

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Clear, Dataset, GraphType, Paragraph, Wrap};

use crate::app::{Adhoc, App};
use crate::metrics::{Unit, format_value};
use crate::prometheus::{Data, Query, RangeSeries};

/// `name{a="b", c="d"}` as Prometheus writes a series.
pub fn series_name(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    if rest.is_empty() && !name.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", rest.join(", "))
    }
}

/// A value in full, as Prometheus's own UI shows it: an operator asking
/// ad hoc wants the number, not a cell-sized rounding.
fn value(v: f64) -> String {
    if !v.is_finite() {
        format_value(v, Unit::Plain)
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

pub fn draw(f: &mut Frame, app: &App, adhoc: &Adhoc, area: Rect) {
    let t = &app.theme;
    let w = area.width.saturating_sub(4).max(20);
    let h = area.height.saturating_sub(4).max(5);
    let r = Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    };
    let when = match adhoc.query {
        Query::Instant { .. } => "now".to_string(),
        Query::Range { span, .. } => format!("last {} min", span.as_secs() / 60),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(Span::styled(
            format!(" promql ({when}): {} ", adhoc.query.expr()),
            t.title,
        ))
        .title_bottom(Span::styled(
            " r now ↔ 15 min · ↑↓ scroll · Enter again · P edit · Esc close ",
            t.muted,
        ));
    f.render_widget(Clear, r);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let message =
        |text: String, style: Style| Paragraph::new(text).style(style).wrap(Wrap { trim: false });
    match &adhoc.result {
        None => f.render_widget(message("querying…".into(), t.muted), inner),
        Some(Err(e)) => f.render_widget(message(format!("✖ {e}"), t.critical), inner),
        Some(Ok(Data::Scalar { value: v, .. })) => {
            f.render_widget(message(format!("scalar: {}", value(*v)), t.text), inner)
        }
        Some(Ok(Data::Text { value: v, .. })) => {
            f.render_widget(message(format!("string: {v:?}"), t.text), inner)
        }
        Some(Ok(Data::Vector(series))) if series.is_empty() => f.render_widget(
            message("empty vector: no series matches".into(), t.muted),
            inner,
        ),
        Some(Ok(Data::Vector(series))) => {
            let mut rows: Vec<(String, f64)> = series
                .iter()
                .map(|s| (series_name(&s.labels), s.value))
                .collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let mut lines = vec![Line::from(Span::styled(
                format!("{:>12}  SERIES ({})", "VALUE", rows.len()),
                t.table_header,
            ))];
            lines.extend(rows.into_iter().skip(adhoc.scroll).map(|(name, v)| {
                Line::from(vec![
                    Span::styled(format!("{:>12}  ", value(v)), t.text),
                    Span::styled(name, t.muted),
                ])
            }));
            f.render_widget(Paragraph::new(lines), inner);
        }
        Some(Ok(Data::Matrix(series))) if series.iter().all(|s| s.points.is_empty()) => {
            f.render_widget(message("no data in that range".into(), t.muted), inner)
        }
        Some(Ok(Data::Matrix(series))) => draw_chart(f, app, series, adhoc.scroll, inner),
    }
}

/// A line chart of up to 8 series (the scroll picks which), with a legend.
fn draw_chart(f: &mut Frame, app: &App, series: &[RangeSeries], skip: usize, area: Rect) {
    let t = &app.theme;
    let palette = [
        t.sparkline,
        t.healthy,
        t.warning,
        t.title,
        t.key,
        t.critical,
        t.text,
        t.tab_active,
    ];
    let shown: Vec<&RangeSeries> = series.iter().skip(skip).take(palette.len()).collect();
    let finite = |p: &&(f64, f64)| p.1.is_finite();
    let (mut t0, mut t1, mut lo, mut hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (ts, v) in shown.iter().flat_map(|s| s.points.iter()).filter(finite) {
        t0 = t0.min(*ts);
        t1 = t1.max(*ts);
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if t0 > t1 {
        f.render_widget(
            Paragraph::new("only NaN or infinite values").style(t.muted),
            area,
        );
        return;
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let points: Vec<Vec<(f64, f64)>> = shown
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(finite)
                .map(|(ts, v)| (ts - t1, *v))
                .collect()
        })
        .collect();
    let datasets: Vec<Dataset> = points
        .iter()
        .zip(palette)
        .map(|(p, style)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(style)
                .data(p)
        })
        .collect();
    let legend_h = (shown.len() as u16).min(area.height / 3);
    let [chart_area, legend_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(legend_h)]).areas(area);
    let span = t1 - t0;
    let since = if span < 120.0 {
        format!("-{span:.0}s")
    } else {
        format!("-{:.0}m", span / 60.0)
    };
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .style(t.muted)
                .bounds([t0 - t1, 0.0])
                .labels([since, "now".to_string()]),
        )
        .y_axis(
            Axis::default()
                .style(t.muted)
                .bounds([lo, hi])
                .labels([format_value(lo, Unit::Plain), format_value(hi, Unit::Plain)]),
        );
    f.render_widget(chart, chart_area);
    let legend: Vec<Line> = shown
        .iter()
        .zip(palette)
        .enumerate()
        .map(|(i, (s, style))| {
            Line::from(vec![
                Span::styled(format!("{} ━ ", i + 1 + skip), style),
                Span::styled(series_name(&s.labels), t.muted),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(legend), legend_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_like_prometheus_does() {
        let labels: BTreeMap<String, String> = [("__name__", "up"), ("job", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(series_name(&labels), "up{job=\"a\"}");
        assert_eq!(series_name(&BTreeMap::new()), "{}");
    }
}
