//! The help overlay, generated from the active keymap (every context's
//! keys) and the command table, marking what changes the deployment.

use super::*;

pub(super) fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let help = app.keymap.help_actions();
    let tabs: Vec<&str> = crate::app::views::TABS.iter().map(|(_, _, t)| *t).collect();
    // As wide as the longest keys (or command names), so the descriptions
    // keep their room at 80 columns.
    let keys_w = help
        .iter()
        .map(|(_, k, _)| text::width(k))
        .chain(crate::commands::COMMANDS.iter().map(|c| c.name.len() + 1))
        .max()
        .unwrap_or(0)
        .clamp(8, 18)
        + 1;
    let mut lines: Vec<Line> = Vec::new();
    for ctx in Context::ALL {
        if !help.iter().any(|(c, _, _)| *c == ctx) {
            continue;
        }
        lines.push(Line::from(Span::styled(
            match ctx {
                Context::Global => "everywhere",
                Context::Table => "in tables",
                Context::Events => "in Events",
                Context::Networks => "in Networks",
                Context::Rollouts => "in the Rollouts tab",
                Context::Audit => "in the Audit tab",
                Context::Logs => "in the logs pane",
                Context::Dialog => "under a plan",
            },
            t.title,
        )));
        for (_, keys, action) in help.iter().filter(|(c, _, _)| *c == ctx) {
            // What changes the deployment is marked, not only said.
            let what = action.describe().to_string();
            let mark = if action.changes() {
                Span::styled("⚠ ", t.warning)
            } else {
                Span::raw("  ")
            };
            // The tabs as they are drawn, not as a sentence remembers them;
            // short enough for 80 columns.
            let what = match action {
                Action::NextPane => format!("next: {}", tabs.join(" ")),
                _ => what,
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<keys_w$}"), t.key),
                mark,
                Span::styled(what, t.dialog),
            ]));
        }
    }
    lines.push(Line::from(Span::styled(
        format!(
            "commands ({} opens the line, Tab completes)",
            app.keymap.hint(Action::Command)
        ),
        t.title,
    )));
    for c in crate::commands::COMMANDS {
        let mut name = format!(":{}", c.name);
        for a in c.aliases.iter().filter(|a| !a.ends_with('!')) {
            name += &format!(" :{a}");
        }
        let what = if c.args.is_empty() {
            c.what.to_string()
        } else {
            format!("{} — {}", c.args, c.what)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {name:<keys_w$}"), t.key),
            if c.changes {
                Span::styled("⚠ ", t.warning)
            } else {
                Span::raw("  ")
            },
            Span::styled(what, t.dialog),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("⚠ ", t.warning),
        Span::styled("changes the deployment (after a plan you confirm)", t.muted),
    ]));
    lines.push(Line::from(Span::styled(
        format!("keymap: {}", app.keymap.origin),
        t.muted,
    )));
    // On a small terminal the help takes everything between the header
    // and the footer: a popup with a sliver of the panes beside it reads
    // as a broken screen.
    let popup = if area.width < 110 || area.height < 30 {
        Rect {
            x: area.x,
            y: area.y + 1,
            width: area.width,
            height: area.height.saturating_sub(2),
        }
    } else {
        let w = 100.min(area.width.saturating_sub(2));
        let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
        Rect {
            x: area.x + (area.width.saturating_sub(w)) / 2,
            y: area.y + (area.height.saturating_sub(h)) / 2,
            width: w,
            height: h,
        }
    };
    let (w, h) = (popup.width, popup.height);
    let inner_h = h.saturating_sub(2) as usize;
    let scroll = app.help.scroll().min(lines.len().saturating_sub(inner_h));
    f.render_widget(Clear, popup);
    let close = app.keymap.hint(Action::Back);
    let more = if lines.len() > inner_h {
        " · ↑↓ scroll"
    } else {
        ""
    };
    let width = w.saturating_sub(2) as usize;
    let lines: Vec<Line> = lines.into_iter().map(|l| truncate_line(l, width)).collect();
    f.render_widget(
        Paragraph::new(lines)
            .style(t.dialog)
            .scroll((scroll as u16, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.dialog)
                    .title(Span::styled(
                        format!(" keys ({close} closes{more}) "),
                        t.dialog,
                    )),
            ),
        popup,
    );
}
