//! The logs pane: merged lines, each after its replica's short name in
//! the replica's own colour; stderr marked; search matches highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::app::App;
use crate::logs::{LogLine, Logs};

/// Longest text shown of one line (the whole line is kept for saving).
const SHOWN: usize = 2000;

fn palette(app: &App) -> [Style; 6] {
    let t = &app.theme;
    [t.sparkline, t.healthy, t.key, t.title, t.tab_active, t.text]
}

fn line_of<'a>(app: &App, l: &Logs, line: &'a LogLine, found: bool, name_w: usize) -> Line<'a> {
    let t = &app.theme;
    let mut spans = Vec::new();
    if l.timestamps {
        spans.push(Span::styled(
            line.at
                .with_timezone(&app.local_offset)
                .format("%H:%M:%S%.3f ")
                .to_string(),
            t.muted,
        ));
    }
    let name = l
        .sources
        .get(line.source)
        .map(|s| s.short.as_str())
        .unwrap_or("?");
    let colors = palette(app);
    spans.push(Span::styled(
        crate::text::pad(name, name_w, false),
        colors[line.source % colors.len()],
    ));
    spans.push(Span::styled(
        if line.stderr { " ! " } else { " │ " },
        if line.stderr { t.critical } else { t.muted },
    ));
    let text: &str = if line.text.len() > SHOWN {
        let mut end = SHOWN;
        while !line.text.is_char_boundary(end) {
            end -= 1;
        }
        &line.text[..end]
    } else {
        &line.text
    };
    let base = if line.marker {
        t.muted
    } else if line.stderr {
        t.warning
    } else {
        t.text
    };
    let base = if found {
        base.add_modifier(Modifier::REVERSED)
    } else {
        base
    };
    // Search matches stand out.
    match &l.search {
        Some(re) if !line.marker => {
            let mut last = 0;
            for m in re.find_iter(text) {
                spans.push(Span::styled(text[last..m.start()].to_string(), base));
                spans.push(Span::styled(m.as_str().to_string(), t.selection));
                last = m.end();
            }
            spans.push(Span::styled(text[last..].to_string(), base));
        }
        _ => spans.push(Span::styled(text.to_string(), base)),
    }
    Line::from(spans)
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let block = |title: String| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(title, t.title))
    };
    let Some((_, l)) = &app.logs else {
        f.render_widget(
            Paragraph::new("No logs followed. Select a replica, service, team or layer and press l, or type :logs TARGET.")
                .style(t.muted)
                .block(block(" logs ".into())),
            area,
        );
        return;
    };
    let shown = l.shown();
    let open = l.sources.iter().filter(|s| s.open).count();
    let mut flags = Vec::new();
    if l.paused {
        flags.push("PAUSED (p resumes, G follows)".to_string());
    }
    if let Some(re) = &l.filter {
        flags.push(format!("filter /{}/", re.as_str()));
    }
    if let Some(re) = &l.search {
        flags.push(format!("search /{}/ n N", re.as_str()));
    }
    let title = format!(
        " logs: {} · {open} of {} replicas streaming · {} lines{}{} · t time w wrap p pause f filter / search s save Esc close ",
        l.title,
        l.sources.len(),
        shown.len(),
        if l.dropped > 0 {
            format!(" ({} older dropped)", l.dropped)
        } else {
            String::new()
        },
        if flags.is_empty() {
            String::new()
        } else {
            format!(" · {}", flags.join(" · "))
        },
    );
    let inner_h = area.height.saturating_sub(2) as usize;
    // The view ends `scroll` lines above the newest shown line.
    let end = shown
        .len()
        .saturating_sub(l.scroll.min(shown.len().saturating_sub(1)));
    let start = end.saturating_sub(inner_h);
    let name_w = l
        .sources
        .iter()
        .map(|s| crate::text::width(&s.short))
        .max()
        .unwrap_or(4);
    let lines: Vec<Line> = shown[start..end]
        .iter()
        .map(|i| line_of(app, l, &l.lines[*i], l.found == Some(*i), name_w))
        .collect();
    let inner_w = area.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|x| x.width().div_ceil(inner_w).max(1))
        .sum();
    let mut p = Paragraph::new(lines).block(block(title));
    if l.wrap {
        // Wrapped lines take more rows: keep the newest in view.
        let over = rows.saturating_sub(inner_h) as u16;
        p = p.wrap(Wrap { trim: false }).scroll((over, 0));
    }
    f.render_widget(p, area);
}
